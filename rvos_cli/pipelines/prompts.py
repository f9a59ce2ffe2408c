"""Objects given from the shell by a box or points (`--box`, `--point`), for models that take them.

    --box [ID:]X0,Y0,X1,Y1[@FRAME]             one object: a box in frame pixels (frame 0 unless @FRAME)
    --point [ID:]X,Y[,L][;X,Y[,L]...][@FRAME]  one object: points, L 1 on it (the default) or 0 off it

Objects without an ID take the ids after the highest one the masks use, in the order given (boxes,
then point groups). An ID given twice, or also painted in a mask, is refused: each object is given once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rvos_cli.errors import InputError
from rvos_cli.models.prompts import ObjectPrompt

NUMBER = r"\d+(?:\.\d+)?"
ID = r"(?:(\d+):)?"
FRAME = r"(?:@(\d+))?"
BOX = re.compile(rf"^{ID}({NUMBER}),({NUMBER}),({NUMBER}),({NUMBER}){FRAME}$")
POINTS = re.compile(rf"^{ID}((?:{NUMBER},{NUMBER}(?:,[01])?;)*{NUMBER},{NUMBER}(?:,[01])?){FRAME}$")
FORMS = {
    "--box": "[ID:]X0,Y0,X1,Y1[@FRAME] (pixels, e.g. --box 10,20,110,220@0)",
    "--point": "[ID:]X,Y[,L][;X,Y[,L]...][@FRAME] (pixels; L 1 on the object, 0 off it; e.g. --point 120,80;40,60,0@5)",
}


@dataclass(frozen=True)
class ShellPrompt:
    """One `--box` or `--point` as given: its id (None: the next free one), its frame, and the prompt
    (`ObjectPrompt` with a placeholder id, checked for form)."""

    flag: str
    text: str
    object_id: int | None
    frame: int
    prompt: ObjectPrompt


def parse_prompts(boxes: list[str] | None, points: list[str] | None) -> tuple[ShellPrompt, ...]:
    """The `--box` and `--point` values, checked for form (exit 2 before any work)."""
    return tuple(_parse("--box", text) for text in boxes or ()) + tuple(
        _parse("--point", text) for text in points or ()
    )


def _parse(flag: str, text: str) -> ShellPrompt:
    match = (BOX if flag == "--box" else POINTS).match(text.replace(" ", ""))
    if match is None:
        raise InputError(f"{flag} {text!r} is not {FORMS[flag]}")
    groups = match.groups()
    object_id, frame = groups[0], groups[-1]
    if object_id is not None and not 1 <= int(object_id) <= 255:
        raise InputError(f"{flag} {text!r}: object ids are 1-255")
    try:
        if flag == "--box":
            prompt = ObjectPrompt(1, box=tuple(float(v) for v in groups[1:5]))
        else:
            points = [tuple(part.split(",")) for part in groups[1].split(";")]
            prompt = ObjectPrompt(
                1, points=tuple((float(p[0]), float(p[1]), int(p[2]) if len(p) > 2 else 1) for p in points)
            )
    except InputError as error:
        raise InputError(f"{flag} {text!r}: {error}") from None
    return ShellPrompt(flag, text, None if object_id is None else int(object_id), int(frame or 0), prompt)


def frame_prompts(
    prompts: list[ShellPrompt], width: int, height: int, frames: int, painted: dict[int, int]
) -> dict[int, tuple[ObjectPrompt, ...]]:
    """{frame index: the objects given there}, checked against the clip: boxes and points inside the
    frame, frames within the clip, each id once (`painted`: id -> the frame whose mask paints it)."""
    taken, next_id = set(painted), max(painted, default=0) + 1
    by_frame: dict[int, tuple[ObjectPrompt, ...]] = {}
    given: dict[int, str] = {}
    for shell in prompts:
        where = f"{shell.flag} {shell.text!r}"
        if shell.frame >= frames:
            raise InputError(f"{where}: frame {shell.frame} is past the clip's last kept frame ({frames - 1})")
        object_id = shell.object_id
        if object_id is None:
            while next_id in taken:
                next_id += 1
            if next_id > 255:
                raise InputError(f"{where}: no object id is left (at most 255 objects)")
            object_id = next_id
        if object_id in painted:
            raise InputError(
                f"{where}: object {object_id} is also painted in the mask of frame {painted[object_id]}; "
                "give each object once"
            )
        if object_id in given:
            raise InputError(f"{where}: object {object_id} is already given by {given[object_id]}; give it once")
        prompt = ObjectPrompt(object_id, shell.prompt.box, shell.prompt.points)
        try:
            prompt.check_inside(height, width)
        except InputError as error:
            raise InputError(f"{where}: {error}") from None
        by_frame[shell.frame] = (*by_frame.get(shell.frame, ()), prompt)
        given[object_id], taken = where, taken | {object_id}
    return by_frame


def check_prompts(spec, prompts: tuple[ShellPrompt, ...]) -> None:
    """InputError unless model `spec` takes the kinds of prompts given."""
    for shell in prompts:
        kind = shell.flag.removeprefix("--")
        if kind not in spec.prompts:
            from rvos_cli.models.registry import models

            takers = [s.name for s in models(spec.task) if kind in s.prompts]
            instead = f", or use --model {' / '.join(takers)}" if takers else ""
            raise InputError(
                f"{shell.flag} needs a model that takes {kind} prompts, but --model {spec.name} takes masks "
                f"only: draw the object in --mask{instead}"
            )
