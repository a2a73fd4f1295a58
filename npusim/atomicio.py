"""Files written whole or not at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable


def write_whole(path: Path, write: Callable[[Path], None]) -> None:
    """`write` fills a temporary file beside `path`, which then replaces it: a failure
    (a full disk, an interruption) leaves no half file and an existing one as it was.
    A symbolic link is written through (its target is replaced, not the link), and an
    existing file keeps its permissions."""
    path = Path(os.path.realpath(path)) if os.path.islink(path) else path
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
