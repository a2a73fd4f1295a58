"""The ``npusim`` command: one module per verb, each with ``add_parser`` and ``run``.

Bad input anywhere becomes one line ``error: <file>[:<line>]: <field>: <what>``
and exit status 2; ``--debug`` prints the traceback before it.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from typing import Sequence

from ..errors import COMMAND_LINE, InputError, file_error

VERBS = ("run", "sweep", "report", "map", "trace", "regress", "soc")

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


class UsageError(Exception):
    """An argparse usage problem, reported on one line."""


class _StoreOnce(argparse._StoreAction):
    """A value flag given twice is an error: argparse would silently keep the last."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = namespace.__dict__.setdefault("_flags_given", set())
        if self.dest in seen:
            raise argparse.ArgumentError(self, "given twice (give several values in one, e.g. a,b)")
        seen.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(message)


def common_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the traceback before a one-line error")
    return parent


def build_parser() -> Parser:
    parser = Parser(
        prog="npusim",
        description="Cycle-approximate simulator of multi-tenant NPU SoCs with a shared "
                    "last-level cache and DRAM.",
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback before a one-line error")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"npusim {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    parent = common_parent()
    for verb in VERBS:
        module = importlib.import_module(f".cmd_{verb}", __name__)
        module.add_parser(sub, parent)
    return parser


def _negative_values_attached(argv: list[str], value_flags: set[str]) -> list[str]:
    """`--llc-size -1KiB` as `--llc-size=-1KiB`: argparse would take the value for an
    option and report a missing argument instead of what is wrong with the value.
    Only flags that take a value, and nothing after `--`."""
    out: list[str] = []
    for i, tok in enumerate(argv):
        if tok == "--":
            return out + argv[i:]
        if out and out[-1] in value_flags and re.match(r"-[0-9.]", tok):
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def _value_flags(parser: argparse.ArgumentParser) -> set[str]:
    """The long options of the parser and its sub-commands that take a value."""
    flags: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _value_flags(sub)
        elif action.nargs != 0:
            flags.update(o for o in action.option_strings if o.startswith("--"))
    return flags


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=file or sys.stderr)


PATH_FLAGS = ("out", "layout", "scenario", "reference", "topology", "config")  # all options, none positional


def _refuse_empty_paths(args: argparse.Namespace) -> None:
    """An empty file flag (--out '') is a mistake, not the current folder."""
    for name in PATH_FLAGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and not value.strip():
            raise InputError(COMMAND_LINE, f"--{name}", "empty")


OUTPUT_FLAGS = ("out", "layout")


def _refuse_unusable_outputs(args: argparse.Namespace) -> None:
    """An output path the file system will not even look up (a name too long, a loop of
    links) is the flag's error: the first probe of it would otherwise report it as a file."""
    for name in OUTPUT_FLAGS:
        value = getattr(args, name, None)
        if not isinstance(value, str):
            continue
        try:
            os.stat(value)
        except (FileNotFoundError, NotADirectoryError):
            # not there yet: fine, unless a file sits where a folder of its path must be (else the
            # command would find out only when it writes, after all its work)
            # (by text, but `..` kept: after a link it is the link target's parent)
            folder = os.path.dirname(value.rstrip(os.sep) or value)
            while folder and not os.path.lexists(folder):
                folder = os.path.dirname(folder)
            if folder and not os.path.isdir(folder):
                raise InputError(COMMAND_LINE, f"--{name}", f"cannot write {value!r}: {folder!r} is a file, "
                                                            "not a folder") from None
        except OSError as exc:
            raise InputError(COMMAND_LINE, f"--{name}", f"cannot write {value!r}: {exc.strerror or exc}") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is so that it stops as on Ctrl-C (a sweep stops its workers)."""


def _terminate(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM, while this one is handled, ends it at once
    raise Terminated


def interrupted_status(exc: KeyboardInterrupt) -> int:
    """The shell's status for a command stopped by a signal: 128 + its number."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def _exit_at_once(status: int):
    """A signal handler for a process whose verb has finished: its output is complete, so Ctrl-C
    or SIGTERM while the interpreter shuts down ends it with the verb's own status (not a
    traceback, nor 143 with no message)."""
    def handler(signum, frame) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    whole_process = argv is None  # the console script, not a caller in the same process
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    for stream in (sys.stdout, sys.stderr):  # a name the terminal's encoding lacks is escaped, not a crash
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    if not debug:  # one line a warning, as the errors are (no source line of ours)
        warnings.showwarning = _one_line_warning
    if threading.current_thread() is not threading.main_thread():
        return _main(argv, debug)  # only the main thread may set a handler (and gets the signal)
    previous = signal.signal(signal.SIGTERM, _terminate)
    status = None
    try:
        status = _main(argv, debug)
        return status
    finally:
        if whole_process and status is not None:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, _exit_at_once(status))
        elif previous is not None:  # (None: a handler set outside Python, which cannot be put back)
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str], debug: bool) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(_negative_values_attached(argv, _value_flags(parser)))
        if not getattr(args, "verb", None):
            parser.print_help()
            print(f"error: {COMMAND_LINE}: VERB: missing (choose from {', '.join(VERBS)})", file=sys.stderr)
            return EXIT_INPUT
        _refuse_empty_paths(args)
        _refuse_unusable_outputs(args)
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"error: {COMMAND_LINE}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except InputError as exc:
        if debug:  # the traceback as well, and still the exit status of bad input
            traceback.print_exc()
        print(f"error: {exc.format()}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt as exc:
        print("error: interrupted", file=sys.stderr)
        return interrupted_status(exc)
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        # a path the file system refuses that no loader caught by name: still the user's input, still one line
        err = file_error(exc)
        if err is None:
            raise
        if debug:
            traceback.print_exc()
        print(f"error: {err.format()}", file=sys.stderr)
        return EXIT_INPUT


def run_main() -> None:  # console-script entry point
    sys.exit(main())
