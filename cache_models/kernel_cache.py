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
    """Where numba caches the kernels of `source_file`, asked of numba itself with a probe
    function of that file, so that ``NUMBA_CACHE_DIR``, ``NUMBA_CACHE_LOCATOR_CLASSES`` and a
    tree numba cannot write to (its user-wide cache) are found as numba finds them."""
    from numba.core import caching

    def probe() -> None:  # a locator reads only the function's file and first line
        pass

    probe.__code__ = probe.__code__.replace(co_filename=str(source_file))
    impl = getattr(caching, "CompileResultCacheImpl", None)  # what numba's cache=True kernels use
    if impl is None:
        return Path(source_file).parent / "__pycache__"
    try:
        return Path(impl(probe).locator.get_cache_path())
    except RuntimeError:  # no locator applies: numba does not cache this file's kernels either
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
