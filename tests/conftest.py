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
