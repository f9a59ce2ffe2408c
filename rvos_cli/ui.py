"""Terminal output shared by the commands: errors, warnings, progress bars and `--json`.

Progress bars and notes go to stderr, and only when stderr is a terminal; with `--json`
the single JSON summary is the only thing written to stdout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import sys
import threading
from typing import Any, Callable, Iterator, Protocol

import typer

try:  # typer >= 0.2x runs on its own copy of click: its exception classes are the ones raised
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rvos_cli.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, Interrupted, RvosError

stderr = Console(stderr=True, highlight=False)


class Summary(Protocol):
    """What a command returns: `to_json()` for --json, `human()` (a line or a rich renderable) otherwise."""

    def to_json(self) -> dict[str, Any]: ...

    def human(self) -> Any: ...


def printable(text: str) -> str:
    """`text` with the undecodable bytes of file names (surrogate escapes) shown as U+FFFD, so it can be printed."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {printable(message)}", err=True)
    return typer.Exit(code)


# Signals that end a command as Ctrl-C does (SIGINT raises KeyboardInterrupt already).
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise `Interrupted` (a KeyboardInterrupt) in the main thread.

    The first signal starts the unwinding (atomic outputs removed, ffmpeg stopped, threads joined);
    a repeated signal does not cut that cleanup short. Signals the caller ignores (`nohup`) stay ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum, frame):
        if not received:
            received.append(signum)
            raise Interrupted(signum)

    previous = {}
    for number in TERMINATING_SIGNALS:
        if signal.getsignal(number) is not signal.SIG_IGN:
            previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _debug() -> bool:
    from rvos_cli import settings

    try:
        return settings.current().debug
    except RvosError:
        return False


def handle_errors(command: Callable) -> Callable:
    """Turn errors and signals into one line on stderr and the documented exit code (rvos_cli.errors).

    RvosError: its message and code. Ctrl-C, SIGTERM, SIGHUP: 130, 143, 129, after the outputs
    are cleaned up. Anything else is a bug: one line and exit 1, the traceback with RVOS_DEBUG=1.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from rvos_cli.atomic import JOURNAL

        mark = JOURNAL.mark()
        try:
            with signals_as_interrupts():
                return command(*args, **kwargs)
        except RvosError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except Interrupted as exc:
            raise fail(f"terminated by {exc.args[0]}; {JOURNAL.describe(mark)}", exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except (click.exceptions.ClickException, typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if _debug():
                raise
            lines = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
            raise fail(
                f"internal error ({detail}); this is a bug: run again with RVOS_DEBUG=1 to see the traceback "
                "and report it",
                EXIT_INTERNAL,
            ) from None

    return wrapper


class Reporter:
    """What a command tells the user: warnings, progress, and the final summary."""

    def __init__(self, json_mode: bool = False, quiet: bool = False):
        self.json_mode = json_mode
        self.quiet = quiet
        self.interactive = sys.stderr.isatty() and not json_mode and not quiet
        self._display: Reporter = self  # whose progress display the bars join
        self._bar: Progress | None = None

    def nested(self) -> Reporter:
        """A reporter for one video of a batch: its bar joins this one's display, its notes and
        JSON stay quiet (the batch reports each video as it finishes), its warnings are shown."""
        child = Reporter(json_mode=True, quiet=True)
        child.interactive, child._display = self.interactive, self
        return child

    def item(self, record: dict[str, Any]) -> None:
        """One finished video of a batch: a JSON line with --json (nothing otherwise)."""
        if self.json_mode:
            sys.stdout.write(json.dumps(record, default=str) + "\n")
            sys.stdout.flush()

    def warn(self, message: str) -> None:
        typer.echo(f"warning: {printable(message)}", err=True)

    def note(self, message: str) -> None:
        if not self.json_mode and not self.quiet:
            typer.echo(printable(message), err=True)

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """Yield `advance(n)`; draws a rich bar on a terminal, does nothing otherwise."""
        if not self.interactive:
            yield lambda n=1: None
            return
        display = self._display
        if display._bar is not None:  # inside a batch: one more line in the same display
            task = display._bar.add_task(description, total=total)
            try:
                yield lambda n=1: display._bar.advance(task, n)
            finally:
                display._bar.remove_task(task)
            return
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=stderr, transient=True) as bar:
            display._bar = bar
            try:
                task = bar.add_task(description, total=total)
                yield lambda n=1: bar.advance(task, n)
            finally:
                display._bar = None

    def result(self, summary: Summary) -> None:
        """Print the JSON summary (json mode) or its human form: a line, or a rich table."""
        if self.json_mode:
            sys.stdout.write(json.dumps(summary.to_json(), default=str) + "\n")
            sys.stdout.flush()
        elif not self.quiet:
            human = summary.human()
            if isinstance(human, str):
                typer.echo(printable(human))
            elif human is not None:
                Console().print(human)
