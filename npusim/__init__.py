"""npusim: cycle-approximate simulator of multi-tenant NPU SoCs."""

__version__ = "0.1.0"


def simulate(*args, **kwargs):
    """Run a scenario; see `npusim.api.simulate`."""
    from .api import simulate as _simulate

    return _simulate(*args, **kwargs)
