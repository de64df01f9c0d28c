"""Checking a timeline against the production bible: one Problem per thing a user must fix.

`validate_timeline` lists every problem of every shot. `validate_report` is what `soloreel
validate` prints: the same problems with repeats grouped (a character missing from the bible
is one line with its shot count and the fix, not one line per shot: a feature-length script
has thousands), and warnings about what validates yet will render wrong: characters without
views (the proxy fails them), views the proxy cannot cut out (it would paste a rectangle) and
dialog that runs past its cut (that speech is silent).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import opentimelineio as otio
from pydantic import ValidationError

from render_engine.bible import (
    NAME_PATTERN,
    Production,
    SetSpec,
    normalise_name,
    pydantic_problems,
)
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


def _guess(name: str, known: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(normalise_name(name), sorted(known), n=1)
    return found[0] if found else None


def _unknown(kind: str, name: str, known: set[str]) -> tuple[str, str]:
    guess = _guess(name, known)
    fix = f'did you mean "{guess}"? ' if guess else ""
    return f'unknown {kind} "{name}"', fix + _known(known)


@dataclass(frozen=True)
class UnknownName(Problem):
    """A shot naming a character or set the bible lacks; validate groups these by name."""

    kind: str = ""
    """"character" or "set"."""
    name: str = ""
    """The name as the shot writes it."""
    shot_id: str = ""
    known: tuple[str, ...] = ()


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

    def unknown(field: str, kind: str, name: str, known: set[str]) -> None:
        problems.append(UnknownName(ref_label, field, *_unknown(kind, name, known), kind=kind,
                                    name=name, shot_id=spec.shot.id, known=tuple(sorted(known))))

    cast = set(production.cast)
    set_spec = None
    try:
        set_spec = production.set(spec.set)
    except SoloreelError:
        if normalise_name(spec.set) in production.broken:
            add("set", f'set "{spec.set}" failed to load',
                f"fix {production.broken[normalise_name(spec.set)]} (see its problems)")
        else:
            unknown("set", "set", spec.set, set(production.sets))
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
            unknown(f"characters[{index}].name", "character", char.name, cast)
    if set_spec is not None:
        for found in furniture_problems(ref_label, spec, set_spec):
            problems.append(found)
    for index, line in enumerate(spec.dialog):
        key = normalise_name(line.speaker)
        if key not in cast and key not in production.broken:
            unknown(f"dialog[{index}].speaker", "character", line.speaker, cast)
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


def furniture_problems(ref_label: str, spec: ShotSpec, set_spec: SetSpec) -> list[Problem]:
    """Characters that sit on, lean on or point at furniture the set does not list by that
    name (`seat`, `lean`, `point`): unknown names, like an unknown character, stop a render."""
    problems: list[Problem] = []
    where = f"sets/{set_spec.name}.toml"
    names = {normalise_name(c.name) for c in spec.characters}
    for index, char in enumerate(spec.characters):
        field = f"characters[{index}]"
        label = f"{char.name} in shot {spec.shot.id}"
        if char.seat and set_spec.seat(char.seat) is None:
            problems.append(Problem(
                ref_label, f"{field}.seat", f'{label} sits on "{char.seat}", which '
                f"{where} does not list",
                f"name one of its [[seats]]: {_known([s.name for s in set_spec.seats])}, or add "
                f'a [[seats]] entry named "{char.seat}" to {where}'))
        if char.lean and set_spec.surface(char.lean) is None:
            problems.append(Problem(
                ref_label, f"{field}.lean", f'{label} leans on "{char.lean}", which {where} '
                "does not list",
                f"name one of its [[surfaces]]: "
                f"{_known([s.name for s in set_spec.surfaces])}, or add it to {where}"))
        others = names - {normalise_name(char.name)}
        if char.point and char.point not in others and not (
                set_spec.seat(char.point) or set_spec.surface(char.point)
                or set_spec.prop(char.point)):
            targets = sorted(others) + [
                item.name for item in [*set_spec.seats, *set_spec.surfaces, *set_spec.props]]
            problems.append(Problem(
                ref_label, f"{field}.point", f'{label} points at "{char.point}": no character '
                "of the shot and no seat, surface or prop of the set has that name",
                f"name one of: {_known(targets)}, or add a [[props]] entry to {where}"))
    return problems


def seating_problems(ref_label: str, spec: ShotSpec, set_spec: SetSpec) -> list[Problem]:
    """Seated characters with no seat art under them, on a set that lists its seats.

    A seated character (`sit`, `sit_down`, `stand_up`) needs one of the set's `[[seats]]`
    under it — the one it names (`seat`), with `position` on its footprint, or one found under
    its position (`render_engine.proxy.blocking.seating`) — or its hips rest on thin air.
    `validate` fails on these (renders still run: the animatic shows the problem). A set
    that lists no seats is warned about instead (`seat_warnings`): it has not said where its
    furniture is; sets drawn by soloreel's stand-in have none to sit on and are exempt."""
    from render_engine.proxy.blocking import SEAT_MARGIN_M, SEATED_ACTIONS, seating
    from render_engine.standin import uses_standin

    if not set_spec.seats or uses_standin(set_spec):
        return []
    problems: list[Problem] = []
    where = f"sets/{set_spec.name}.toml"
    seats = seating(set_spec, spec)
    for index, char in enumerate(spec.characters):
        if char.action not in SEATED_ACTIONS or (char.seat and set_spec.seat(char.seat) is None):
            continue  # not seated, or an unknown seat name (furniture_problems says so)
        field = f"characters[{index}]"
        label = f"{char.name} in shot {spec.shot.id}"
        seat = seats.get(char.name)
        if seat is None:
            free = _known([s.name for s in set_spec.seats])
            problems.append(Problem(
                ref_label, f"{field}.action",
                f"{label} sits ({char.action}) at ({char.position[0]:g}, "
                f"{char.position[1]:g}) on no seat of {where} (no seat art under them: the "
                "hips would float)",
                f'name a seat with seat = "..." (known: {free}) and put position on it, add '
                f"a [[seats]] entry for what the plate shows there to {where}, or make "
                f"{char.name} stand"))
        elif not seat.contains(*char.position, margin=SEAT_MARGIN_M):
            cx, cz = seat.clamp(*char.position)
            problems.append(Problem(
                ref_label, f"{field}.position",
                f"{label} sits on {seat.name} but is placed at "
                f"({char.position[0]:g}, {char.position[1]:g}), off its footprint",
                f"move position onto the seat, e.g. [{cx:.2f}, {cz:.2f}]"))
    return problems


def seat_warnings(timeline: otio.schema.Timeline, production: Production) -> list[str]:
    """Seated characters on sets that list no `[[seats]]` (and have art of their own)."""
    from render_engine.proxy.blocking import SEATED_ACTIONS
    from render_engine.standin import uses_standin

    found: dict[tuple[str, str], list[str]] = {}
    for _ref, spec in _readable_specs(timeline):
        set_spec = production.sets.get(normalise_name(spec.set))
        if set_spec is None or set_spec.seats or uses_standin(set_spec):
            continue
        for char in spec.characters:
            if char.action in SEATED_ACTIONS:
                found.setdefault((set_spec.name, char.name), []).append(spec.shot.id)
    return [f"{name} sits {_in_shots(shots)} on set {set_name}, whose sets/{set_name}.toml "
            "lists no [[seats]]: nothing says there is seat art under them; fix: add a "
            "[[seats]] entry (name, position, height_m, extent, mask) for what the plate "
            "shows there" for (set_name, name), shots in found.items()]


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
    set_spec = production.sets.get(normalise_name(spec.set))
    if set_spec is not None and not spec.plate:
        problems += seating_problems(ref.label, spec, set_spec)
    if not problems:
        problems = final_problems(ref.label, spec, production)
    short = duration_problem(ref.label, ref.clip, production.settings.production.fps)
    return spec, problems + ([short] if short else [])


def final_problems(ref_label: str, spec: ShotSpec, production: Production) -> list[Problem]:
    """What stops the shot's final from rendering, found without loading anything: a mode
    its model's kind cannot render, a vace_layers character without a cut-out view, a local
    model folder that is not there. A shot whose final tier names no model has none (the
    final tier is optional until someone renders it)."""
    from render_engine.final.plan import FinalSpecProblem, model_folder_problem, plan_final

    try:
        plan = plan_final(spec, production)
    except FinalSpecProblem as exc:
        field, _, message = str(exc).partition(": ")
        return [Problem(ref_label, field, message)]
    except SoloreelError:  # no model configured (or no draft LoRA): nothing to check yet
        return []
    missing = model_folder_problem(production, plan.model)
    if missing:
        field = "render.final.model" if spec.render.final.model else "tiers.final.model"
        return [Problem(ref_label, field, missing)]
    return []


def _check_shots(timeline: otio.schema.Timeline, production: Production
                 ) -> tuple[list[Problem], list[tuple[str | None, list[Problem]]], int]:
    """(the bible's problems, per clip in timeline order its shot id (None when its spec does
    not parse) and problems, the number of shots)."""
    bible = list(production.problems) + bible_file_problems(production)
    clips: list[tuple[str | None, list[Problem]]] = []
    seen_ids: dict[str, str] = {}
    shots = 0
    for ref in iter_shots(timeline):
        spec, found = check_shot(ref, production)
        if spec is None:
            if found:
                clips.append((None, found))
            continue
        shots += 1
        first = seen_ids.setdefault(spec.shot.id, ref.label)
        if first != ref.label:
            found.append(Problem(
                ref.label, "shot.id", f'"{spec.shot.id}" is also the id of {first}',
                "give every shot its own id"))
        clips.append((spec.shot.id, found))
    return bible, clips, shots


def validate_timeline(
    timeline: otio.schema.Timeline, production: Production
) -> tuple[list[Problem], int]:
    """Every problem of the bible and of each clip, in timeline order, and the number of shots."""
    bible, clips, shots = _check_shots(timeline, production)
    return bible + [problem for _shot, found in clips for problem in found], shots


# --------------------------------------------------------------------------- the report


@dataclass
class ValidationReport:
    """What `soloreel validate` prints: problems (repeats grouped) and warnings."""

    problems: list[Problem]
    """Every problem, one per shot as `validate_timeline` lists them (they fail validate)."""
    shots: int
    lines: list[str]
    """The problems as printed: a problem repeated in several shots is one line."""
    warnings: list[str] = field(default_factory=list)
    """What validates yet will render wrong (never changes the exit code)."""
    notes: list[str] = field(default_factory=list)
    """What was not checked, and how to check it."""


def validate_report(timeline: otio.schema.Timeline, production: Production,
                    speak: bool = False) -> ValidationReport:
    """Validate the edit and group what repeats; add the warnings (views, dialog past cuts).

    Dialog is checked against the cuts with the lines' spoken WAVs: lines not spoken yet are
    spoken first when `speak`, else left unchecked and counted in a note (validate stays fast
    and offline on a feature-length edit; `soloreel dialog` or a render speaks them)."""
    bible, clips, shots = _check_shots(timeline, production)
    problems = bible + [problem for _shot, found in clips for problem in found]
    report = ValidationReport(problems, shots, [p.line() for p in bible] + group_problems(clips))
    used = _characters_in_shots(timeline, production)
    report.warnings += _view_warnings(production, used)
    report.warnings += seat_warnings(timeline, production)
    from render_engine.final.registry import model_warnings  # hub models without a revision

    report.warnings += model_warnings(production)
    report.notes += _standin_figure_notes(production, used)
    past, unchecked = _dialog_past_cuts(timeline, production, speak)
    report.warnings += past
    if unchecked:
        report.notes.append(
            f"{unchecked} dialog line(s) not spoken yet were not checked against their cuts; "
            "`soloreel validate --speak` speaks them first (or run `soloreel dialog`)")
    return report


def _shot_list(shot_ids: list[str]) -> str:
    """`s1, s2, s3` or `s1 … s9`: which shots, briefly."""
    return ", ".join(shot_ids) if len(shot_ids) <= 3 else f"{shot_ids[0]} … {shot_ids[-1]}"


def _in_shots(shot_ids: list[str]) -> str:
    count = len(shot_ids)
    return f"in {count} shot{'s' if count != 1 else ''} ({_shot_list(shot_ids)})"


def _stub_fix(kind: str, name: str) -> str:
    """How to add a missing character or set to the bible."""
    key = normalise_name(name)
    folder = "cast" if kind == "character" else "sets"
    where = f"{folder}/{key}.toml" if re.match(NAME_PATTERN, key) else f"a {folder}/ file for it"
    stubs = ("soloreel script2edit SCRIPT --stubs writes stubs" if kind == "character" else
             "soloreel script2edit SCRIPT --stubs writes stubs with a stand-in plate")
    return f"add {where} ({stubs})"


def group_problems(clips: list[tuple[str | None, list[Problem]]]) -> list[str]:
    """The clips' problems as printed lines, in timeline order, repeats grouped.

    A character or set name the bible lacks is one line per name, however many shots use it:
    its shot count, which shots, the known names and the fix. Any other problem found the
    same (message and fix) in several shots is one line with its shot count too. A problem of
    a single shot keeps its own line naming the clip."""
    groups: dict[tuple, list[tuple[str, Problem]]] = {}
    order: list[tuple[tuple, Problem]] = []
    for shot_id, found in clips:
        for problem in found:
            if shot_id is None:
                key: tuple = ("clip", id(problem))
            elif isinstance(problem, UnknownName):
                key = ("unknown", problem.kind, normalise_name(problem.name))
            else:
                key = ("same", problem.message, problem.fix)
            if key not in groups:
                groups[key] = []
                order.append((key, problem))
            groups[key].append((shot_id or "", problem))
    lines = []
    for key, first in order:
        members = groups[key]
        shot_ids = list(dict.fromkeys(shot for shot, _problem in members))
        if len(shot_ids) < 2:
            lines += [problem.line() for _shot, problem in members]
        elif isinstance(first, UnknownName):
            guess = _guess(first.name, first.known)
            fix = _stub_fix(first.kind, first.name)
            if guess:
                fix = f'rename it to "{guess}" in those shots, or {fix}'
            lines.append(f'unknown {first.kind} "{first.name}" {_in_shots(shot_ids)}; '
                         + (f'did you mean "{guess}"? ' if guess else "")
                         + f"{_known(set(first.known))}; fix: {fix}")
        else:
            line = f"{first.field}: {first.message} {_in_shots(shot_ids)}"
            lines.append(f"{line}; {first.fix}" if first.fix else line)
    return lines


# --------------------------------------------------------------------------- warnings


def _readable_specs(timeline: otio.schema.Timeline) -> Iterator[tuple[ShotRef, ShotSpec]]:
    """The shots whose spec reads (the warnings skip the others: their problems are listed
    already)."""
    for ref in iter_shots(timeline):
        try:
            raw = raw_metadata(ref.clip)
            spec = parse_spec(raw) if raw is not None else None
        except (SpecError, ValidationError):
            continue
        if spec is not None:
            yield ref, spec


def _characters_in_shots(timeline: otio.schema.Timeline,
                         production: Production) -> dict[str, list[str]]:
    """The bible's characters seen in shots (in `characters`), each with its shot ids."""
    used: dict[str, list[str]] = {}
    for _ref, spec in _readable_specs(timeline):
        for char in spec.characters:
            key = normalise_name(char.name)
            if key in production.cast:
                shots = used.setdefault(key, [])
                if spec.shot.id not in shots:
                    shots.append(spec.shot.id)
    return used


def unkeyed_reason(path: Path) -> str | None:
    """Why the proxy could not cut this view out of its background (it would paste the whole
    rectangle), or None when it can: an alpha channel with transparent pixels, or an opaque
    image on a green or blue screen (judged from its border, as the proxy's keyer does)."""
    from PIL import Image

    from render_engine.proxy.keying import screen_colour

    with Image.open(path) as image:
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            alpha = np.asarray(image.convert("RGBA"))[..., 3]
            if (alpha < 128).any():
                return None
            return "has an alpha channel but nothing in it is transparent"
        rgb = np.asarray(image.convert("RGB"))
    if screen_colour(rgb) is not None:
        return None
    return "has no transparent background and no green or blue screen behind the figure"


def _view_warnings(production: Production, used: dict[str, list[str]]) -> list[str]:
    """Characters in the edit the proxy cannot draw: no views at all (it fails their shots), or
    a view with a background it cannot key (it pastes a rectangle)."""
    warnings = []
    for key, shot_ids in used.items():
        member = production.cast[key]
        shots = _in_shots(shot_ids)
        if not member.views:
            warnings.append(
                f'character "{member.name}" has no views: the proxy tier fails its '
                f"{len(shot_ids)} shot{'s' if len(shot_ids) != 1 else ''} "
                f"({_shot_list(shot_ids)}); fix: soloreel cast new {member.name} --from "
                f"PICTURE (a keyed cut-out view), or add views.front to cast/{member.name}.toml")
            continue
        for view, anchors in member.views.items():
            try:
                path = production.cast_file(member, anchors.image)
                reason = unkeyed_reason(path) if path.is_file() else None
            except (SoloreelError, OSError, ValueError):
                continue  # a missing or unreadable image is a validate problem already
            if reason:
                shown = path.relative_to(production.root).as_posix()
                warnings.append(
                    f'character "{member.name}" view {view} ({shown}) {reason}: the proxy '
                    f"would paste it as a rectangle {shots}; fix: cut the figure out (soloreel "
                    f"cast new {member.name} --from PICTURE keys it), or save it with "
                    "transparency or on a green or blue screen")
    return warnings


def _standin_figure_notes(production: Production, used: dict[str, list[str]]) -> list[str]:
    """Characters in the edit drawn as a generated stand-in figure (a stub's views, see
    `render_engine.standin`): they render, as a mannequin, until they get a picture."""
    from render_engine.standin import uses_standin_figure

    notes = []
    for key, shot_ids in used.items():
        member = production.cast[key]
        if uses_standin_figure(member):
            notes.append(
                f'character "{member.name}" is a stand-in figure (a mannequin with its name) '
                f"{_in_shots(shot_ids)}; give it a picture: soloreel cast new {member.name} "
                "--from PICTURE")
    return notes


def _dialog_past_cuts(timeline: otio.schema.Timeline, production: Production,
                      speak: bool) -> tuple[list[str], int]:
    """(a warning per dialog line whose speech runs past its shot's cut, the number of lines
    not checked because they are not spoken yet). The check is `lines_past_cut` of the
    dialog tracks, so validate and `soloreel dialog` agree on what is cut off."""
    from render_engine.audio.dialog import AUDIO_FILE, line_cache_folder
    from render_engine.audio.tracks import lines_past_cut

    warnings = [found.message() for found in lines_past_cut(timeline, production, speak=speak)]
    unchecked = 0
    if not speak:
        for ref, spec in _readable_specs(timeline):
            for line in spec.dialog:
                try:
                    folder = line_cache_folder(line, production, ref.label)
                except SoloreelError:
                    continue  # an unknown speaker or a missing take: a problem already
                unchecked += not (folder / AUDIO_FILE).is_file()
    return warnings, unchecked
