"""Files written whole or not at all."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Callable


def destination(path: Path) -> Path:
    """The file a write to `path` replaces: a symbolic link is written through to its target."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def is_stream(path: Path) -> bool:
    """An existing device or pipe (/dev/null, /dev/stdout): written to, never replaced."""
    return path.exists() and not path.is_file() and not path.is_dir()


def write_whole(path: Path, write: Callable[[Path], None]) -> None:
    """`write` fills a temporary file beside `path`, which then replaces it: a failure
    (a full disk, an interruption) leaves no half file and an existing one as it was.
    A symbolic link is written through (its target is replaced, not the link), an
    existing file keeps its permissions, and a device or pipe is written to directly."""
    path = destination(path)
    if is_stream(path):
        write(path)
        return
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_frame_whole(path: Path, df, parquet: bool = False) -> None:
    """A DataFrame as CSV (or Parquet), whole or not at all (`write_whole`)."""
    write_whole(path, lambda tmp: df.to_parquet(tmp, index=False) if parquet else df.to_csv(tmp, index=False))
