"""Terminal output shared by the commands: errors, warnings, progress bars and `--json`.

Progress bars and notes go to stderr, and only when stderr is a terminal; with `--json`
the single JSON summary is the only thing written to stdout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from typing import Any, Callable, Iterator, Protocol

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rvos_cli.errors import EXIT_INTERRUPTED, RvosError

stderr = Console(stderr=True, highlight=False)


class Summary(Protocol):
    """What a command returns: `to_json()` for --json, `human()` (a line or a rich renderable) otherwise."""

    def to_json(self) -> dict[str, Any]: ...

    def human(self) -> Any: ...


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(command: Callable) -> Callable:
    """Turn RvosError and Ctrl-C into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RvosError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None

    return wrapper


class Reporter:
    """What a command tells the user: warnings, progress, and the final summary."""

    def __init__(self, json_mode: bool = False, quiet: bool = False):
        self.json_mode = json_mode
        self.quiet = quiet
        self.interactive = sys.stderr.isatty() and not json_mode and not quiet

    def warn(self, message: str) -> None:
        typer.echo(f"warning: {message}", err=True)

    def note(self, message: str) -> None:
        if not self.json_mode and not self.quiet:
            typer.echo(message, err=True)

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """Yield `advance(n)`; draws a rich bar on a terminal, does nothing otherwise."""
        if not self.interactive:
            yield lambda n=1: None
            return
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=stderr, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)

    def result(self, summary: Summary) -> None:
        """Print the JSON summary (json mode) or its human form: a line, or a rich table."""
        if self.json_mode:
            sys.stdout.write(json.dumps(summary.to_json(), default=str) + "\n")
            sys.stdout.flush()
        elif not self.quiet:
            human = summary.human()
            if isinstance(human, str):
                typer.echo(human)
            elif human is not None:
                Console().print(human)
