"""`soloreel capture`: act a line yourself — your face drives the character, your voice becomes
theirs.

`soloreel capture TAKE.mp4 --character jane` meshes every frame of a take (a phone or webcam
video with sound; `render_engine.capture`), stores the performance in the production keyed by
the take's bytes, and reports the frames with no face. With `--line SHOT:N --edit E.otio` the
take also becomes dialog line N (from 1) of shot SHOT in that edit: it is copied into the
production's `takes/` folder, named as the line's `recording`, converted to the character's
voice and aligned to the line's text (`audio.dialog`), and the proxy and the final's control
video then play the captured jaw, lips, blinks and brows while that line is spoken.
`soloreel capture --camera 0 --preview` is a live rehearsal mirror.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
from rich.console import Console

from render_engine.bible import Production
from render_engine.capture.track import EXPRESSIONS, POSE, Performance
from render_engine.errors import SoloreelError

TAKES_FOLDER = "takes"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `capture` sub-command."""
    parser = sub.add_parser(
        "capture", help="read your face in a take: it drives the character's face",
        description="Mesh every frame of a take (video with sound), store the expression "
        "track with the production, and optionally make the take a dialog line of the edit.")
    parser.add_argument("take", nargs="?", type=Path, help="the take (MP4, MOV, MKV, WebM)")
    parser.add_argument("--character", help="who you are playing (a cast member)")
    parser.add_argument("--line", metavar="SHOT:N",
                        help="make the take line N (from 1) of shot SHOT's dialog (needs --edit)")
    parser.add_argument("--edit", type=Path, help="the .otio edit holding SHOT (with --line)")
    parser.add_argument("-p", "--production", help="production folder (default: the one here)")
    parser.add_argument("--camera", type=int, metavar="INDEX",
                        help="capture live from this camera (with --preview)")
    parser.add_argument("--preview", action="store_true",
                        help="show a live window of the face following yours")
    parser.set_defaults(run=run)


def _ranges(frames: list[int]) -> str:
    """`3-7, 12` for frames [3, 4, 5, 6, 7, 12]."""
    parts: list[str] = []
    for index in frames:
        if parts and int(parts[-1].split("-")[-1]) == index - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{index}"
        else:
            parts.append(str(index))
    return ", ".join(parts)


def summary(performance: Performance) -> list[str]:
    """Lines describing a capture: frames, faces missing, and each channel's range."""
    lines = [f"{performance.frames} frames at {performance.fps:g} fps, "
             f"{performance.frames - len(performance.missing)} with a face"]
    if performance.missing:
        lines.append(f"no face in frames {_ranges(performance.missing)} (left empty: those "
                     "frames keep the line's visemes)")
    for name in (*EXPRESSIONS, *POSE):
        values = performance.channel(name)
        values = values[np.isfinite(values)]
        if values.size:
            lines.append(f"  {name:<12} {values.min():7.2f} .. {values.max():7.2f}")
    return lines


def run(args: argparse.Namespace, console: Console) -> int:
    """Capture a take (or preview a camera); see the module docstring."""
    if args.camera is not None or args.preview:
        from render_engine.capture.live import preview

        return preview(args.camera or 0, console)
    if args.take is None:
        raise SoloreelError("capture: name a take (capture TAKE.mp4 --character NAME) or a "
                            "camera (capture --camera 0 --preview)")
    if not args.character:
        raise SoloreelError("capture: --character NAME is required: who the take plays")
    if args.line and not args.edit:
        raise SoloreelError("capture: --line SHOT:N needs --edit EDIT.otio, the edit holding "
                            "that shot")
    from render_engine.cli.voice import production_here

    production = production_here(args)
    production.member(args.character)  # an unknown character is one clear error
    take = args.take.resolve()
    if args.line:
        take = _into_production(take, production)
    from render_engine.capture.store import FILE, capture_folder, capture_take

    performance = capture_take(take, production)
    for line in summary(performance):
        console.print(line)
    console.print(f"performance: {capture_folder(take, production) / FILE}")
    if args.line:
        _attach(args, take, production, console)
    return 0


def _into_production(take: Path, production: Production) -> Path:
    """The take inside the production (copied to `takes/` when it is elsewhere), so the edit
    names it by a relative path that travels with the production."""
    if not take.is_file():
        raise SoloreelError(f"capture: take {take} does not exist; check the path")
    root = production.root.resolve()
    if take.is_relative_to(root):
        return take
    target = root / TAKES_FOLDER / take.name
    if target.exists() and target.read_bytes() != take.read_bytes():
        raise SoloreelError(f"capture: {target} already holds another take; rename {take.name}")
    if not target.exists():
        from render_engine.atomic import atomic_path

        with atomic_path(target) as tmp:
            shutil.copyfile(take, tmp)
    return target


def _attach(args: argparse.Namespace, take: Path, production: Production,
            console: Console) -> None:
    """Name the take as the recording of dialog line N of shot SHOT in the edit, then speak
    the line (the take converted to the character's voice, aligned to the text)."""
    from render_engine.audio.dialog import speak_line
    from render_engine.spec import spec_or_error, write_spec
    from render_engine.timeline_io import iter_shots, read_timeline, write_timeline

    shot_id, _, number = args.line.rpartition(":")
    if not shot_id or not number.isdigit() or int(number) < 1:
        raise SoloreelError(f"capture --line {args.line}: write SHOT:N, e.g. s01-003:1 (N "
                            "counts the shot's dialog lines from 1)")
    timeline = read_timeline(args.edit)
    for ref in iter_shots(timeline):
        try:
            spec = spec_or_error(ref.clip) if ref.has_spec else None
        except SoloreelError:
            continue  # `soloreel validate` reports broken specs; this one is not the shot
        if spec is None or spec.shot.id != shot_id:
            continue
        index = int(number) - 1
        if index >= len(spec.dialog):
            raise SoloreelError(f"capture --line {args.line}: {ref.label} has "
                                f"{len(spec.dialog)} dialog line(s); pick N from 1 to "
                                f"{len(spec.dialog)}")
        line = spec.dialog[index]
        if line.speaker != args.character:
            raise SoloreelError(f"capture --line {args.line}: that line is {line.speaker}'s, "
                                f"not {args.character}'s; pass --character {line.speaker}")
        relative = os.path.relpath(take, production.root.resolve())
        dialog = list(spec.dialog)
        dialog[index] = line.model_copy(update={"recording": relative})
        updated = spec.model_copy(update={"dialog": dialog})
        write_spec(ref.clip, updated)
        write_timeline(timeline, args.edit)
        spoken = speak_line(dialog[index], production, ref.label)
        console.print(f'{ref.label} line {number} "{line.text[:40]}": your take '
                      f"({relative}), {spoken.duration:.2f} s in {line.speaker}'s voice, from "
                      f"{line.start:.2f} s into the shot")
        return
    raise SoloreelError(f"capture --line {args.line}: no shot {shot_id!r} in {args.edit}; "
                        "`soloreel plan EDIT` lists the shot ids")
