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
from pathlib import Path


def forget_if_callees_changed(caller_file: str, *callee_files: str) -> bool:
    """Delete `caller_file`'s cached kernels if `callee_files` changed since the last call.

    Returns whether anything was deleted. A read-only tree (numba then caches
    elsewhere, in files a reinstall replaces) is left alone."""
    caller = Path(caller_file)
    cache_dir = caller.parent / "__pycache__"
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
        cache_dir.mkdir(exist_ok=True)
        seen.write_text(digest.hexdigest(), encoding="ascii")
    except OSError:
        return False
    return bool(stale)
