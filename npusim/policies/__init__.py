"""Cache and memory policies, one class each, registered by name (docs/POLICIES.md)."""

from __future__ import annotations

from typing import Any

from ..specio import Section
from . import basic, camdn, moca  # noqa: F401  (each module registers its policies)
from .base import Option, Policy, get_policy, policy_names, register


def validate_options(name: str, options: dict[str, Any], sec: Section) -> None:
    """Reject unknown options and bad values of a policy's options."""
    cls = get_policy(name)
    for key, value in options.items():
        if key not in cls.options:
            known = ", ".join(cls.options) or "none"
            raise sec.error(key, f"unknown option of policy {name} (options: {known})")
        problem = cls.options[key].check(value)
        if problem:
            raise sec.error(key, problem)


__all__ = ["Option", "Policy", "get_policy", "policy_names", "register", "validate_options"]
