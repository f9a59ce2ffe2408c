"""What `rvos download` and `rvos models` draw: a byte progress bar (stderr, terminals only) and the models table."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from rvos_cli.ui import stderr

# update(completed_bytes, total_bytes_or_None)
Update = Callable[[int, "int | None"], None]


@contextlib.contextmanager
def byte_progress(description: str, enabled: bool) -> Iterator[Update]:
    """Yield `update(completed, total)`; a no-op unless `enabled` (interactive terminal)."""
    if not enabled:
        yield lambda completed, total: None
        return
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda completed, total: bar.update(task, completed=completed, total=total)


def models_table(rows: list[dict[str, Any]]) -> Table:
    """The `rvos models` table: name, task, size, installed or not, path."""
    table = Table(show_edge=False, header_style="bold")
    for column in ("name", "task", "size", "installed", "path"):
        table.add_column(column)
    for row in rows:
        size = row["installed_size"] if row["installed"] else row["size"]
        table.add_row(
            row["name"],
            row["task"] or "-",
            _human_bytes(size) if size is not None else "?",
            "yes" if row["installed"] else "no",
            row["path"] or "-",
        )
    return table


def _human_bytes(size: float) -> str:
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"
