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
        if row["installed"]:
            size = _human_bytes(row["installed_size"])
        elif row["size"] is not None:
            size = _human_bytes(row["size"]) if row["size_exact"] else "~" + _human_bytes(row["size"], digits=0)
        else:
            size = "?"
        table.add_row(
            row["name"],
            row["task"] or "-",
            size,
            "yes" if row["installed"] else "no",
            row["path"] or "-",
        )
    return table


def _human_bytes(size: float, digits: int = 1) -> str:
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.{digits}f} {unit}"
    return f"{size / 1000:.{max(digits, 1)}f} GB"
