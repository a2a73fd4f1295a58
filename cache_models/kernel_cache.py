"""Keep numba's on-disk kernel cache honest across files.

Numba caches a compiled kernel beside its source (``__pycache__/*.nbi``,
``*.nbc``) and checks only the timestamp of the kernel's own file. A kernel
that calls a kernel of another file has the callee's machine code inside it,
so after the callee's file changes (a ``git pull`` into an editable install)
the caller would keep running the old callee. `forget_if_callees_changed`,
called by such a file before its kernels first run, deletes the file's
cached kernels when the callees' sources differ from those it last saw.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def numba_cache_dir(source_file: str) -> Path | None:
    """Where numba caches the kernels of `source_file`: asked of numba's own locators, so that
    ``NUMBA_CACHE_DIR`` and a tree numba cannot write to (its user-wide cache) are found too."""
    from numba.core import caching

    def probe() -> None:  # a locator reads only the function's first line number
        pass

    # newer numba names it CacheImpl, older releases _CacheImpl; without either, numba's default place
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if impl is None:
        return Path(source_file).parent / "__pycache__"
    for cls in impl._locator_classes:
        try:
            locator = cls.from_function(probe, source_file)
        except Exception:  # a locator that does not apply to this file
            locator = None
        if locator is not None:
            return Path(locator.get_cache_path())
    return None


def forget_if_callees_changed(caller_file: str, *callee_files: str) -> bool:
    """Delete `caller_file`'s cached kernels if `callee_files` changed since the last call.

    Returns whether anything was deleted. The mark of the callees last seen is
    kept in the same cache directory as the kernels, so that each cache
    (``__pycache__``, a ``NUMBA_CACHE_DIR``) is checked on its own."""
    caller = Path(caller_file)
    cache_dir = numba_cache_dir(caller_file)
    if cache_dir is None:
        return False
    digest = hashlib.sha256()
    for callee in callee_files:
        digest.update(Path(callee).read_bytes())
    seen = cache_dir / f"{caller.stem}.callees"
    try:
        if seen.read_text(encoding="ascii") == digest.hexdigest():
            return False
    except (OSError, UnicodeDecodeError):
        pass  # first run, or a damaged mark: start afresh
    try:
        stale = list(cache_dir.glob(f"{caller.stem}.*.nb[ic]"))
        for path in stale:
            path.unlink(missing_ok=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        # written whole, then renamed: a process starting meanwhile never reads half a mark
        tmp = cache_dir / f"{caller.stem}.callees.{os.getpid()}.tmp"
        tmp.write_text(digest.hexdigest(), encoding="ascii")
        os.replace(tmp, seen)
    except OSError:
        return False
    return bool(stale)
