"""The `rvos` command line: Typer commands only; the work happens in rvos_cli.pipelines."""

from __future__ import annotations

import typer

from rvos_cli.errors import EXIT_BAD_INPUT
from rvos_cli.ui import fail, handle_errors

EPILOG = (
    "Exit codes: 0 success, 2 bad arguments or input, 3 missing weights "
    "(run the `rvos download` command printed), 4 download or verification failure, 130 interrupted."
)

app = typer.Typer(
    name="rvos",
    help="Video object segmentation from the command line: referring (text) and first-frame-mask propagation.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _not_yet(command: str) -> typer.Exit:
    return fail(f"`rvos {command}` is not available yet in this version", EXIT_BAD_INPUT)


@app.command(epilog=EPILOG)
@handle_errors
def refer() -> None:
    """Segment the objects that text queries describe (MTTR)."""
    raise _not_yet("refer")


@app.command(epilog=EPILOG)
@handle_errors
def propagate() -> None:
    """Propagate a first-frame label mask through a video."""
    raise _not_yet("propagate")


@app.command(epilog=EPILOG)
@handle_errors
def download() -> None:
    """Download official pretrained weights named in weights.yaml."""
    raise _not_yet("download")


@app.command(epilog=EPILOG)
@handle_errors
def bench() -> None:
    """Measure speed and memory."""
    raise _not_yet("bench")


def main() -> None:
    app(prog_name="rvos")


if __name__ == "__main__":
    main()
