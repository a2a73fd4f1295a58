"""The discrete-event SoC engine (SimPy): tenants, tasks, tile steps, shared memory."""

from .sim import LayerRecord, Simulation, TaskRecord, TenantRuntime

__all__ = ["LayerRecord", "Simulation", "TaskRecord", "TenantRuntime"]
