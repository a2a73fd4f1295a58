"""Writing tables where the user asked, with one-line errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..atomicio import write_whole
from ..errors import COMMAND_LINE, InputError


def table_format(path: str | Path, flag: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ""):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise InputError(COMMAND_LINE, flag, f"cannot tell the format of {str(path)!r}: use .csv or .parquet")


def write_table(df, path: str | Path, flag: str) -> Path:
    """Write `df` as CSV or Parquet (by extension); unwritable paths are input errors."""
    path = Path(path)
    fmt = table_format(path, flag)
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file() and not path.is_dir():  # a device or pipe: written to
            _write(df, path, fmt)
            return path
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        write_whole(path, lambda tmp: _write(df, tmp, fmt))
    except OSError as exc:
        raise InputError(COMMAND_LINE, flag, f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def _write(df, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
