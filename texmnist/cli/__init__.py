"""`texmnist` command line: thin parsing around the library, one module per stage.

`build` (build, preview), `publish` (verify, push) and `evaluate` each add their
subcommands; this module parses, runs one, and turns errors into one line.

Errors the user can fix print as one line, `texmnist: error: ...`, exit with
status 2, and show a traceback only with `--debug`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from .. import __version__
from ..errors import TexmnistError
from . import build, evaluate, publish

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


COMMANDS = [
    build.add_build,
    build.add_preview,
    publish.add_verify,
    publish.add_push,
    evaluate.add_evaluate,
    evaluate.add_score,
]


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="texmnist", description="Generate, publish and evaluate Textured MNIST.")
    p.add_argument("--version", action="version", version=f"texmnist {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return p


EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a killed process


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` (staging cleanup) runs."""


def _texmnist_error(error: BaseException) -> BaseException | None:
    """The TexmnistError or KeyboardInterrupt behind `error`, whichever is outermost.

    datasets wraps failures of generation (DatasetGenerationError), and its worker
    pool replaces a Ctrl-C by a TimeoutError raised while cleaning up.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (TexmnistError, KeyboardInterrupt)):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _on_sigterm(signum, frame) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM kills outright
    raise Terminated


def _default_sigterm_in_child() -> None:
    # A forked worker (datasets' or our pools) must not inherit `_on_sigterm`: Pool.terminate()
    # stops workers with SIGTERM, and a Python-level handler can lose that signal to a worker
    # blocked in a lock (the signal lands before the wait starts), hanging the build.
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_sigterm_in_child)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into `Terminated` (a KeyboardInterrupt) while the command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (e.g. main() called from a worker)
        return
    # None: a handler installed from C; SIG_DFL is the closest we can restore.
    previous = signal.signal(signal.SIGTERM, _on_sigterm) or signal.SIG_DFL
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.argv = argv
    try:
        with _sigterm_as_interrupt():
            return args.func(args)
    except (KeyboardInterrupt, Exception) as e:
        error = _texmnist_error(e)
        if isinstance(error, KeyboardInterrupt):
            what = "terminated" if isinstance(error, Terminated) else "interrupted"
            print(f"texmnist: {what}; nothing was written", file=sys.stderr)
            return EXIT_TERMINATED if isinstance(error, Terminated) else EXIT_INTERRUPTED
        if error is None or args.debug:
            raise
        print(f"texmnist: error: {error}", file=sys.stderr)
        return EXIT_ERROR
