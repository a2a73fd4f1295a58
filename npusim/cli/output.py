"""Writing tables where the user asked, with one-line errors."""

from __future__ import annotations

from pathlib import Path

from ..atomicio import write_frame_whole
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
        write_frame_whole(path, df, parquet=fmt == "parquet")
    except OSError as exc:
        raise InputError(COMMAND_LINE, flag, f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path
