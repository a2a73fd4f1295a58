"""YAML loading with line numbers, and a small typed reader for spec sections.

All four specification loaders (SoC, scenario, experiment, mapping options)
read YAML through `load_yaml` and validate through `Section`, so every error
names its file, line and dotted field the same way.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from .errors import COMMAND_LINE, InputError, decode_error_line, first_line, has_control_character
from .units import UnitError, count_text, is_finite_number, parse_frequency, parse_size


class LineDict(dict):
    """A dict that remembers the 1-based line of itself and of each key."""

    line: int | None = None
    key_lines: dict
    key_sources: dict | None = None  # key -> file it came from, when not the document's own (a `base:` file)
    item_lines: dict | None = None  # key -> the line of each entry of its list value
    key_texts: dict | None = None  # key -> its integer value as written (0x32 is read as 50)


class _LineLoader(yaml.SafeLoader):
    pass


# numbers as YAML 1.2 reads them. Integers: decimal (010 is ten), 0o octal, 0x hex.
# Floats: 5e-2 and 1.0e9 too (YAML 1.1 wants a dot and an exponent sign). YAML 1.1's
# sexagesimal (1:6 would be 66), 0b and underscores (1_000) stay text, so they are reported
# YAML 1.2 has no timestamps either: 2024-01-01 is text, not a Python date
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in _LineLoader.yaml_implicit_resolvers.items()}
_LineLoader.add_implicit_resolver(
    _FLOAT, re.compile(r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))
_LineLoader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                                  list("-+0123456789"))


def _construct_int(loader: _LineLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    try:
        if text.startswith(("0x", "0o")):
            return int(text[2:], 16 if text[1] == "x" else 8)
        return int(text, 10)
    except ValueError:  # beyond Python's digit limit for int(str)
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {len(text)} digits is too large", node.start_mark) from None


_LineLoader.add_constructor(_INT, _construct_int)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    out.item_lines = {}
    out.key_texts = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a plain value, got {type(key).__name__} {key!r}", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.SequenceNode):  # an entry that is no mapping has no line of its own
            out.item_lines[key] = [item.start_mark.line + 1 for item in value_node.value]
        elif isinstance(value_node, yaml.ScalarNode) and value_node.tag == _INT:
            out.key_texts[key] = value_node.value
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def csv_lines(text: str) -> list[str]:
    """The lines of CSV text as a CSV file has them: split at \\r\\n, \\r or \\n only
    (str.splitlines also splits at form feeds, U+0085, U+2028 ..., which would
    move every line number after them and cut a cell holding one in two)."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":  # the line end of the last line, not a line
        lines.pop()
    return lines


def comma_names(text: str) -> list[str]:
    """The names of a comma list such as a mix; an empty one (`a,,b`, a trailing comma) is a
    ValueError: a dropped workload would change the point without a word."""
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise ValueError(f"empty workload name in {text!r}")
    return names


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text; syntax errors become `InputError` with the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise InputError(source, "yaml", f"malformed YAML: {problem}", line) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, BEL ...)
        line = text.count("\n", 0, exc.position) + 1 if isinstance(text, str) else None
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise InputError(source, "yaml", f"malformed YAML: character #x{code:04x} is not allowed", line) from None
    except yaml.YAMLError as exc:
        raise InputError(source, "yaml", f"malformed YAML: {first_line(exc)}") from None
    except RecursionError:
        raise InputError(source, "yaml", "malformed YAML: nested too deeply") from None


def is_file_source(source: str) -> bool:
    """Whether an input came from a file (not the command line, the API, ...: `<...>`)."""
    return bool(source) and not (source.startswith("<") and source.endswith(">"))


def _beside_where(ref: str, source: str, kind: str) -> Path | None:
    """`ref` beside the spec file `source` if it is relative and names a `kind` ("file"
    or "dir") there."""
    if not ref or Path(ref).is_absolute() or not is_file_source(source) or "\0" in ref:
        return None
    candidate = Path(source).parent / ref
    try:
        return candidate if (candidate.is_file() if kind == "file" else candidate.is_dir()) else None
    except OSError:  # a name the file system refuses (too long, ...): the reader says so
        return None


def beside(ref: str, source: str) -> str:
    """The path of a file that the spec file `source` names: a relative path is
    looked up beside that file first, then as given (the current folder)."""
    found = _beside_where(ref, source, "file")
    return ref if found is None else str(found)


def folder_beside(ref: str, source: str) -> Path | None:
    """The folder a relative `ref` names beside the spec file `source`, if it names one:
    where a file was expected, the error says it is a directory."""
    return _beside_where(ref, source, "dir")


def load_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file; unreadable files are `InputError`."""
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO or device would block or never end
        raise InputError(str(path), "file", "not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), "file", "no such file") from None
    except IsADirectoryError:
        raise InputError(str(path), "file", "is a directory, expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "file", f"not UTF-8 text: {exc}", decode_error_line(exc)) from None
    except OSError as exc:  # a loop of links, permissions: the system's words, not Python's '[Errno 40] ...'
        raise InputError(str(path), "file", f"cannot read: {exc.strerror or exc}") from None
    except ValueError:  # the one ValueError a path raises
        raise InputError(str(path), "file", "a file name cannot hold a NUL character") from None
    return load_yaml_text(text, str(path))


_NUMBER_NA_TOKENS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]  # pandas' defaults


def read_csv_with_text(source: Path | io.StringIO, text_columns: tuple[str, ...], **kwargs: Any):
    """pandas.read_csv, with the named columns read as the text they are (no number made of '007' or
    '1e5', no missing value made of 'NA'); the other columns as pandas reads them."""
    import pandas as pd

    header = list(pd.read_csv(source, nrows=0).columns)  # the header line pandas takes (blank lines skipped)
    if isinstance(source, io.StringIO):
        source.seek(0)
    text = [c for c in text_columns if c in header]
    return pd.read_csv(source, keep_default_na=False, dtype={c: str for c in text},
                       na_values={c: _NUMBER_NA_TOKENS for c in header if c not in text}, **kwargs)


def entry_there(path: str | Path) -> bool:
    """Whether the file system has an entry at `path`, even one that is no readable file (a FIFO, a
    loop of links): that is a file to complain about, not a missing one. A name the file system
    refuses (too long) raises its OSError."""
    import os

    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def refuse_repeated_csv_columns(path: Path) -> None:
    """A CSV header naming a column twice is an error (pandas would rename the second `x.1`)."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(str(path), name, "column given twice in the header", 1)
        seen.add(name)


def load_json_text(text: str, source: str, field: str) -> Any:
    """Parse JSON as npusim writes it: a key twice or NaN/Infinity is an error (Python's reader takes them)."""
    import json

    def pairs(items: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in items:
            if key in out:
                raise InputError(source, key or "''", "key given twice")
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise InputError(source, field, f"{name} is not a number JSON allows")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(source, field, f"cannot read: {exc}") from None


_MISSING = object()

# the largest integer any field may hold: exact in a float, and far from
# overflowing the engine's 64-bit cycle and byte counters
MAX_INT = 2**53


def _closest(key: str, candidates: Iterable[Any]) -> Any:
    """The candidate closest in spelling to `key` (which may be its misspelling), or None."""
    by_text = {str(c): c for c in candidates}
    near = difflib.get_close_matches(key, list(by_text), n=1, cutoff=0.75)
    return by_text[near[0]] if near else None


class Section:
    """Typed, located access to one YAML mapping.

    Each getter removes the key from the set of unread keys; `finish()`
    rejects whatever is left, so unknown keys are always an error.
    """

    def __init__(self, data: Any, source: str, prefix: str = "", line: int | None = None,
                 origins: dict[str, str] | None = None):
        self.source = source
        self.prefix = prefix
        # dotted field -> command-line flag that set it, so errors point at the flag
        self.origins = origins or {}
        if data is None:
            data = LineDict()
        if not isinstance(data, dict):
            raise InputError(source, prefix or "document", "expected a mapping of keys to values", line)
        self.data = data
        self.line = getattr(data, "line", None) or line
        self.header_line = line or self.line  # the `key:` line that opens this section, where a missing key is blamed
        self._unread = list(data.keys())

    # -- location helpers -------------------------------------------------
    def field(self, key: str) -> str:
        # a blank or null key is shown quoted: an error line must name a field (`llc.''`, not `llc.`)
        name = key if isinstance(key, str) and key.strip() else "null" if key is None else repr(key)
        return f"{self.prefix}.{name}" if self.prefix else str(name)

    def source_of(self, key: str) -> str:
        sources = getattr(self.data, "key_sources", None)
        return (sources or {}).get(key) or self.source  # None: a preset's, reported where it is overridden

    def line_of(self, key: str) -> int | None:
        lines = getattr(self.data, "key_lines", None)
        if lines and key in lines:
            return lines[key]
        return self.line

    def item_line(self, key: str, index: int) -> int | None:
        """The line of entry `index` of the list at `key` (else the key's line)."""
        lines = (getattr(self.data, "item_lines", None) or {}).get(key)
        return lines[index] if lines and index < len(lines) else self.line_of(key)

    def error(self, key: str, message: str) -> InputError:
        field = self.field(key)
        if field in self.origins:
            return InputError(COMMAND_LINE, self.origins[field], message)
        return InputError(self.source_of(key), field, message, self.line_of(key))

    def error_any(self, keys: Iterable[str], message: str) -> InputError:
        """An error about a relation between fields: blame the first one set on
        the command line, else in this document, else in a `base:` file, else
        (all from a preset or defaults) the first."""
        keys = list(keys)
        sources = getattr(self.data, "key_sources", None) or {}
        for key in keys:
            if self.field(key) in self.origins:
                return self.error(key, message)
        for from_base in (False, True):
            for key in keys:
                # key_sources: absent = this document's own, a file = a base file's, None = a preset's
                if key in self.data and (key in sources) == from_base and sources.get(key, "") is not None:
                    return self.error(key, message)
        return self.error(keys[0], message)

    def has(self, key: str) -> bool:
        return key in self.data

    def written(self, key: str) -> str | None:
        """An integer's text as the file has it (0x32, which YAML reads as 50), else None."""
        return (getattr(self.data, "key_texts", None) or {}).get(key)

    # -- raw access --------------------------------------------------------
    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key in self._unread:
            self._unread.remove(key)
        if key not in self.data:
            if default is _MISSING:
                # a misspelt required key: blame the misspelling, on its own line
                typo = _closest(str(key), self._unread)
                if typo is not None:
                    raise self.error(typo, f"unknown key (did you mean {key}?)")
                raise InputError(self.source, self.field(key), "required field is missing", self.header_line)
            return default
        return self.data[key]

    def section(self, key: str, required: bool = True) -> "Section":
        if not required and key not in self.data:
            self.raw(key, None)
            return Section(LineDict(), self.source, self.field(key), self.line, self.origins)
        value = self.raw(key)
        if not isinstance(value, dict):
            raise self.error(key, "expected a mapping of keys to values")
        return Section(value, self.source_of(key), self.field(key), self.line_of(key), self.origins)

    def _left_out(self, key: str, default: Any) -> bool:
        """Whether `key` is absent and has a default to take (marked read). An explicit null is a
        value, and is checked as one."""
        if default is _MISSING or key in self.data:
            return False
        self.raw(key, default)
        return True

    def _convert(self, key: str, convert: Callable[[Any], Any]) -> Any:
        value = self.raw(key)
        try:
            return convert(value)
        except UnitError as exc:
            raise self.error(key, str(exc)) from None

    # -- typed getters -----------------------------------------------------
    def integer(self, key: str, default: Any = _MISSING, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        if self._left_out(key, default):
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        self._check_range(key, value, minimum, MAX_INT if maximum is None else maximum)
        return value

    def number(self, key: str, default: Any = _MISSING, *, minimum: float | None = None,
               maximum: float | None = None) -> float:
        if self._left_out(key, default):
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"expected a number, got {value!r}")
        if not is_finite_number(value):
            raise self.error(key, f"expected a finite number, got {value!r}")
        self._check_range(key, value, minimum, maximum)
        return float(value)

    def size(self, key: str, default: Any = _MISSING, *, minimum: int | None = 1,
             maximum: int | None = None) -> int:
        if self._left_out(key, default):
            return default
        value = self._convert(key, parse_size)
        maximum = MAX_INT if maximum is None else maximum
        self._check_range(key, value, minimum, maximum, unit=("byte", "bytes"))
        return value

    def frequency(self, key: str, default: Any = _MISSING) -> int:
        if self._left_out(key, default):
            return default
        value = self._convert(key, parse_frequency)
        self._check_range(key, value, 1, None, unit=("Hz", "Hz"))
        return value

    def string(self, key: str, default: Any = _MISSING) -> str:
        if self._left_out(key, default):
            return default
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        return value

    def name(self, key: str, default: Any = _MISSING) -> str:
        """A name shown in tables and file rows: not blank, on one line, printable."""
        if self._left_out(key, default):
            return default
        value = self.string(key)
        if not value.strip():
            raise self.error(key, "empty")
        if has_control_character(value):
            raise self.error(key, f"holds a control character or line break: {value!r}")
        return value

    def choice(self, key: str, choices: Iterable[str], default: Any = _MISSING) -> str:
        choices = list(choices)
        if self._left_out(key, default):
            return default
        value = self.raw(key)
        if value not in choices:
            raise self.error(key, f"unknown value {value!r} (choose from {', '.join(map(str, choices))})")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def _check_range(self, key, value, minimum, maximum, unit: tuple[str, str] | None = None) -> None:
        def amount(n) -> str:  # with the unit, singular for one (1 byte, 0 bytes)
            return f"{n}" if unit is None else count_text(n, *unit)

        if minimum is not None and value < minimum:
            if value < 0:
                raise self.error(key, f"must not be negative, got {amount(value)}")
            raise self.error(key, f"must be at least {amount(minimum)}, got {amount(value)}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {amount(maximum)}, got {amount(value)}")

    def allow(self, *keys: str) -> "Section":
        """Reject unknown keys up front (before a missing required one is reported)."""
        for key in self.data:
            if key not in keys:
                near = _closest(str(key), keys)
                raise self.error(key, f"unknown key (did you mean {near}?)" if near is not None else "unknown key")
        return self

    def finish(self) -> None:
        """Reject keys nobody read (unknown keys)."""
        for key in self._unread:
            raise self.error(key, "unknown key")
