"""Which simulator produced a result: a digest of its own files, so caches and resumed sweeps never
mix results of two versions of the code (a hand-bumped version number misses the change nobody
thought would matter)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

# the files that make a result: code, presets and built-in traces (not caches or compiled bytecode)
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".csv", ".json")


def digest_of_trees(roots: tuple[Path, ...]) -> str:
    """A hash of every source file under `roots`: its path below its root's parent, and its bytes."""
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
                h.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


@functools.cache
def code_digest() -> str:
    """The digest of this installation of npusim and the packages it simulates with (read once per process)."""
    import cache_models
    import workloads

    import npusim

    return digest_of_trees(tuple(Path(m.__file__).parent for m in (npusim, workloads, cache_models)))
