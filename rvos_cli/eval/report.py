"""Evaluation results as rows: a rich table for the terminal and a CSV file for scripts.

VOS rows: the global scores, then each video (its objects averaged), then each object.
Referring rows: J, F and J&F over all queries, then per query.
"""

from __future__ import annotations

import csv
from pathlib import Path

from rich import box
from rich.table import Table

from rvos_cli.atomic import atomic_file
from rvos_cli.eval.davis import GLOBAL_KEYS, DavisResult, average
from rvos_cli.eval.referring import ReferringResult

DAVIS_HEADER = ("video", "object") + GLOBAL_KEYS
REFERRING_HEADER = ("video", "query", "J", "F", "J&F")
TEXT_COLUMNS = ("video", "object", "query", "metric")


def davis_rows(result: DavisResult) -> list[list]:
    """[video, object, J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay] rows."""

    def row(video: str, obj: str, scores: dict[str, float]) -> list:
        return [video, obj] + [scores[key] for key in GLOBAL_KEYS]

    rows = [row("global", "", result.overall())]
    rows += [row(video, "", result.per_video(video)) for video in result.videos]
    rows += [
        row(video, str(obj), average([scores]))
        for video, objects in result.videos.items()
        for obj, scores in objects.items()
    ]
    return rows


def referring_rows(result: ReferringResult) -> list[list]:
    """[video, query, J, F, J&F]: first all queries averaged, then each query."""
    mean_j = sum(q.j for q in result.queries) / len(result.queries)
    mean_f = sum(q.f for q in result.queries) / len(result.queries)
    rows = [["all", "", mean_j, mean_f, (mean_j + mean_f) / 2]]
    return rows + [[q.video, q.query, q.j, q.f, q.jf] for q in result.queries]


def write_csv(path: Path, header: tuple[str, ...], rows: list[list]) -> None:
    """Write the rows atomically, floats with 6 decimals (`path` checked by check_output beforehand)."""
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([f"{v:.6f}" if isinstance(v, float) else v for v in row] for row in rows)


def _table(header: tuple[str, ...], rows: list[list], title: str) -> Table:
    # "J-Recall" as "J" over "Recall" and no vertical rules: the VOS table fits 80 columns
    table = Table(title=title, box=box.SIMPLE_HEAD, header_style="bold", collapse_padding=True, pad_edge=False)
    for name in header:
        if name in TEXT_COLUMNS:
            table.add_column(name, no_wrap=True)
        else:
            table.add_column(name.replace("-", "\n", 1), justify="right")
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    return table


def davis_table(result: DavisResult) -> Table:
    """Global, per-video and per-object rows (objects only when a video has several)."""
    rows = davis_rows(result)
    shown = rows[: 1 + len(result.videos)]
    shown += [r for r in rows[1 + len(result.videos) :] if len(result.videos[r[0]]) > 1]
    return _table(DAVIS_HEADER, shown, "DAVIS 2017 semi-supervised")


def referring_table(result: ReferringResult) -> Table:
    """mIoU, oIoU, J&F and precision@K, one per row."""
    summary = result.to_json()
    metrics = [["mIoU", summary["mIoU"]], ["oIoU", summary["oIoU"]], ["J&F", summary["J&F"]]]
    metrics += [[f"P@{k}", v] for k, v in summary["precision"].items()]
    return _table(("metric", "value"), metrics, "Referring")


def mask_ap_table(metrics: dict[str, float]) -> Table:
    """MTTR's A2D-Sentences / JHMDB-Sentences metrics, one per row."""
    return _table(("metric", "value"), [[k, v] for k, v in metrics.items()], "Referring mask AP (COCO)")


def referring_query_table(result: ReferringResult) -> Table:
    """J, F and J&F of all queries, then of each query."""
    return _table(REFERRING_HEADER, referring_rows(result), "Per query")
