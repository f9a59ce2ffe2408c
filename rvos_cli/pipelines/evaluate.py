"""`rvos eval`: score a folder of predicted masks against ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group

from rvos_cli.eval import davis_tracks, evaluate_davis, evaluate_referring, referring_tracks, report, scored_frames
from rvos_cli.video.outputs import check_output


@dataclass
class EvalSummary:
    """The scores (`result.to_json()`) and their tables."""

    result: Any
    tables: list

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json()

    def human(self):
        return Group(*self.tables)


@dataclass
class MaskApSummary:
    """A2D-Sentences-style metrics of a COCO results file."""

    metrics: dict

    def to_json(self) -> dict[str, Any]:
        return self.metrics

    def human(self):
        return report.mask_ap_table(self.metrics)


def is_coco_pair(pred: Path, gt: Path) -> bool:
    return pred.suffix.lower() == ".json" and gt.suffix.lower() == ".json" and pred.is_file() and gt.is_file()


def run_eval(pred: Path, gt: Path, referring: bool, csv_path: Path | None, reporter) -> EvalSummary | MaskApSummary:
    """DAVIS 2017 J&F (or, `referring`, mIoU / oIoU / P@K / J&F per query); optionally the table as CSV.
    Two JSON files (COCO results and COCO ground truth): MTTR's A2D-Sentences / JHMDB-Sentences metrics."""
    if csv_path:
        csv_path = check_output(csv_path, [pred, gt], "--csv")  # before the work, and never over a mask
    if is_coco_pair(pred, gt):
        from rvos_cli.eval.coco import evaluate_coco_files

        metrics = evaluate_coco_files(pred, gt)
        if csv_path:
            report.write_csv(csv_path, ("metric", "value"), [[k, v] for k, v in metrics.items()])
        return MaskApSummary(metrics)
    if referring:
        tracks = referring_tracks(pred, gt, reporter.warn)
        with reporter.progress("evaluating", sum(len(t.gt_frames) for t in tracks)) as advance:
            result = evaluate_referring(tracks, advance)
        header, rows = report.REFERRING_HEADER, report.referring_rows(result)
        tables = [report.referring_table(result), report.referring_query_table(result)]
    else:
        tracks = davis_tracks(pred, gt, reporter.warn)
        with reporter.progress("evaluating", sum(len(scored_frames(t)) for t in tracks)) as advance:
            result = evaluate_davis(tracks, advance)
        for warning in result.warnings:
            reporter.warn(warning)
        header, rows, tables = report.DAVIS_HEADER, report.davis_rows(result), [report.davis_table(result)]
    if csv_path:
        report.write_csv(csv_path, header, rows)
    return EvalSummary(result, tables)
