"""npusim: cycle-approximate simulator of multi-tenant NPU SoCs."""

__version__ = "0.1.0"
