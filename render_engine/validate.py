"""Checking a timeline against the production bible: one Problem per thing a user must fix."""

from __future__ import annotations

import difflib

import opentimelineio as otio
from pydantic import ValidationError

from render_engine.bible import Production, normalise_name, pydantic_problems
from render_engine.errors import Problem, SoloreelError
from render_engine.file_checks import (
    audio_problem,
    bible_file_problems,
    image_problem,
    set_file_problems,
)
from render_engine.spec import ShotSpec, SpecError, parse_spec, raw_metadata
from render_engine.timeline_io import ShotRef, iter_shots


def _known(names: list[str] | set[str]) -> str:
    return "known: " + (", ".join(sorted(names)) or "none")


def _unknown(kind: str, name: str, known: set[str]) -> tuple[str, str]:
    guess = difflib.get_close_matches(normalise_name(name), sorted(known), n=1)
    fix = f'did you mean "{guess[0]}"? ' if guess else ""
    return f'unknown {kind} "{name}"', fix + _known(known)


def duration_problem(ref_label: str, clip: otio.schema.Clip, fps: float) -> Problem | None:
    """A problem when the clip is shorter than one frame at the production's rate (zero or
    negative durations would otherwise render as a one-frame shot)."""
    if clip.source_range is None:
        return None
    duration = clip.source_range.duration.rescaled_to(fps).value
    if round(duration) >= 1:
        return None
    return Problem(ref_label, "source_range.duration",
                   f"{duration:g} frame(s) at {fps:g} fps; a shot must be at least one frame "
                   "long", "give the clip a positive duration in the editor or the timeline "
                   "file")


def check_spec(ref_label: str, spec: ShotSpec, production: Production,
               decode: bool = False) -> list[Problem]:
    """Problems of one parsed spec against the bible (names, files, presets, models).

    The set's depth map and masks are always checked for mode and size from their headers
    (a render must refuse what it would read wrong); with `decode` (validate) every file the
    shot names is decoded too."""
    problems: list[Problem] = []

    def add(field: str, message: str, fix: str = "") -> None:
        problems.append(Problem(ref_label, field, message, fix))

    cast = set(production.cast)
    set_spec = None
    try:
        set_spec = production.set(spec.set)
    except SoloreelError:
        if normalise_name(spec.set) in production.broken:
            add("set", f'set "{spec.set}" failed to load',
                f"fix {production.broken[normalise_name(spec.set)]} (see its problems)")
        else:
            add("set", *_unknown("set", spec.set, set(production.sets)))
    if set_spec is not None:
        for field, relative in production.set_files(set_spec).items():
            try:
                path = production.set_file(set_spec, relative)
            except SoloreelError as exc:
                add("set", f'set "{set_spec.name}" {field}: {exc}')
                continue
            if not path.is_file():
                add("set", f'set "{set_spec.name}" {field} file '
                    f"{path.relative_to(production.root).as_posix()} does not exist",
                    f"create it or fix sets/{set_spec.name}.toml")
        # a shot with its own `plate` uses none of the set's plate files
        for found in [] if spec.plate else set_file_problems(production, set_spec, decode):
            add("set", f"sets/{set_spec.name}.toml {found.field}: {found.message}", found.fix)
        if spec.lighting and spec.lighting not in set_spec.lighting:
            add("lighting", *_unknown(f'lighting preset of set "{set_spec.name}"', spec.lighting,
                                      set(set_spec.lighting)))

    in_shot = set()
    for index, char in enumerate(spec.characters):
        key = normalise_name(char.name)
        in_shot.add(key)
        if key in production.broken:
            add(f"characters[{index}].name", f'character "{char.name}" failed to load',
                f"fix {production.broken[key]}")
        elif key not in cast:
            add(f"characters[{index}].name", *_unknown("character", char.name, cast))
    for index, line in enumerate(spec.dialog):
        key = normalise_name(line.speaker)
        if key not in cast and key not in production.broken:
            add(f"dialog[{index}].speaker", *_unknown("character", line.speaker, cast))
        elif key not in in_shot and not line.audio_only:
            add(f"dialog[{index}].speaker", f'"{line.speaker}" speaks but is not in the shot',
                "add them to characters, or mark the line audio_only (V.O./O.S.)")
    for index, subject in enumerate(spec.shot.subjects):
        if normalise_name(subject) not in in_shot:
            add(f"shot.subjects[{index}]", f'"{subject}" is framed but not in the shot',
                "add them to characters or remove them from subjects")
    if spec.camera.target and normalise_name(spec.camera.target) not in in_shot:
        add("camera.target", f'tracked character "{spec.camera.target}" is not in the shot',
            "name one of: " + (", ".join(sorted(in_shot)) or "no characters in the shot"))

    for field, relative in spec.files().items():
        try:
            path = production.resolve(relative)
        except SoloreelError as exc:
            add(field, str(exc))
            continue
        if not path.is_file():
            add(field, f"file {relative} does not exist",
                "fix the path (relative to the production folder) or add the file")
        elif decode and field == "plate":
            bad = image_problem(production, field, path)
            if bad is not None:
                add(field, bad.message, bad.fix)
        elif decode and field.endswith(".recording"):
            bad = audio_problem(production, field, path)
            if bad is not None:
                add(field, bad.message, bad.fix)

    model = spec.render.final.model
    if model and model not in production.settings.models:
        add("render.final.model", *_unknown("model", model, set(production.settings.models)))
    return problems


def check_shot(ref: ShotRef, production: Production) -> tuple[ShotSpec | None, list[Problem]]:
    """Parse and check one clip's spec, decoding every file it names, and its duration; a
    clip without soloreel metadata has no problems."""
    try:
        raw = raw_metadata(ref.clip)
    except SpecError as exc:
        return None, [Problem(ref.label, exc.field, exc.message, exc.fix)]
    if raw is None:
        return None, []
    try:
        spec = parse_spec(raw)
    except SpecError as exc:
        return None, [Problem(ref.label, exc.field, exc.message, exc.fix)]
    except ValidationError as exc:
        return None, pydantic_problems(ref.label, exc)
    problems = check_spec(ref.label, spec, production, decode=True)
    short = duration_problem(ref.label, ref.clip, production.settings.production.fps)
    return spec, problems + ([short] if short else [])


def validate_timeline(
    timeline: otio.schema.Timeline, production: Production
) -> tuple[list[Problem], int]:
    """Every problem of the bible and of each clip, in timeline order, and the number of shots."""
    problems = list(production.problems) + bible_file_problems(production)
    seen_ids: dict[str, str] = {}
    shots = 0
    for ref in iter_shots(timeline):
        spec, found = check_shot(ref, production)
        problems += found
        if spec is None:
            continue
        shots += 1
        first = seen_ids.setdefault(spec.shot.id, ref.label)
        if first != ref.label:
            problems.append(Problem(
                ref.label, "shot.id", f'"{spec.shot.id}" is also the id of {first}',
                "give every shot its own id"))
    return problems, shots
