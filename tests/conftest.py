import os
import subprocess
import sys

import pytest


def run_cli(*args: str, cwd=None, env=None, timeout=600):
    """Run the installed CLI in a subprocess, as a user would."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "npusim", *args],
        capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def routed_log(monkeypatch):
    """Every tenant's routed streams as the engine ran them: {(tenant, task, layer index,
    plan): streams} (the last of each key), how many the store gave back (`log["reused"]`)
    and how many of those a tenant took shifted from another tenant's (`log["shifted"]`)."""
    from npusim.engine import routes, sim

    log = {"reused": 0, "shifted": 0}
    routed, get = sim.TenantRuntime.routed, routes.StreamStore.get

    def recording_routed(self, layer_index, plan):
        rs = routed(self, layer_index, plan)
        log[(self.index, self.current_task, layer_index, plan)] = rs
        return rs

    def counting_get(self, key, base_bytes):
        hit = self._routed.get(key)
        log["reused"] += hit is not None
        log["shifted"] += hit is not None and hit[0] != base_bytes
        return get(self, key, base_bytes)

    monkeypatch.setattr(sim.TenantRuntime, "routed", recording_routed)
    monkeypatch.setattr(routes.StreamStore, "get", counting_get)
    return log
