"""Input errors: one exception type that carries where the bad input is.

Every loader (SoC spec, trace, scenario, experiment, CLI flags) raises
`InputError`; the CLI turns it into one line
``error: <file>[:<line>]: <field>: <what is wrong>`` and exit status 2.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path


class InputError(ValueError):
    """Bad user input, located by source (file name or ``<command line>``),
    optional 1-based line, and field (a dotted key or a column name)."""

    def __init__(self, source: str, field: str, message: str, line: int | None = None):
        self.source = str(source)
        self.field = str(field)
        self.message = str(message)
        self.line = line
        # all four in args: SimPy and pickle (sweep workers) rebuild exceptions as type(e)(*e.args)
        super().__init__(self.source, self.field, self.message, line)

    def format(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        # one line whatever the input held (a name with a newline, a control character),
        # of a readable length whatever value it echoes
        return _one_line(f"{where}: {_shortened(self.field)}: {_shortened(self.message)}")

    def __str__(self) -> str:
        return self.format()


COMMAND_LINE = "<command line>"


MAX_ECHO_CHARS = 400


def _shortened(text: str) -> str:
    """Text over MAX_ECHO_CHARS as its two ends and how much was left out between them."""
    if len(text) <= MAX_ECHO_CHARS:
        return text
    half = MAX_ECHO_CHARS // 2
    return f"{text[:half]}...({len(text) - 2 * half} characters left out)...{text[-half:]}"


# control characters (NUL, tab, newline, ...) and the Unicode line and paragraph separators
CONTROL_CATEGORIES = ("Cc", "Zl", "Zp")


def has_control_character(text: str) -> bool:
    """Whether `text` holds a character that breaks a line or a table cell (names must not)."""
    return not text.isprintable() and any(unicodedata.category(c) in CONTROL_CATEGORIES for c in text)


def _one_line(text: str) -> str:
    """Control characters (newlines included) shown escaped, as repr() would."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def file_error(exc: OSError) -> InputError | None:
    """A path the file system refuses (name too long, permissions, ...) as the
    user's input error on that file; None when the error names no file."""
    if exc.filename is None:
        return None
    return InputError(str(exc.filename), "file", exc.strerror or str(exc))


def decode_error_line(exc: BaseException) -> int | None:
    """The 1-based line of the byte a UTF-8 decoder refused (None for other errors),
    when the decoder was given the whole file. Lines end at \r\n, \r or \n, as
    `npusim.specio.csv_lines` (and YAML) split them."""
    if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, (bytes, bytearray)):
        head = exc.object[:exc.start]
        return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1
    return None


def first_line(exc: BaseException) -> str:
    """An exception's message as one line (its first), or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def refuse_input_as_output(flag: str, out: str | Path, inputs: Iterable[str | None]) -> None:
    """An output flag must not name one of the command's input files (it would replace it)."""
    target = Path(out).resolve()
    for name in inputs:
        if name and name != COMMAND_LINE and Path(name).is_file() and Path(name).resolve() == target:
            raise InputError(COMMAND_LINE, flag, f"{name} is an input of this command; write the output elsewhere")
