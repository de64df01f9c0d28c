"""Every input bounded and every bad input one clear error: shot length, dialog length,
coordinates and finite numbers are checked when a clip is read; a file that vanishes or a path
no file can have fails its own shot (naming the field) while the rest of the run goes on; names
print literally in the command line, whatever brackets they contain."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest
import tomli_w

from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.errors import SoloreelError
from render_engine.paths import BadPath, resolve_inside
from render_engine.render import ShotPlan, error_slate_frames
from render_engine.spec import (
    MAX_DIALOG_CHARS,
    MAX_FLOOR_METRES,
    MAX_SHOT_ENV,
    NAMESPACE,
    SHOT_ORIGIN_SECONDS,
    ShotSpec,
    SpecError,
    max_shot_seconds,
    spec_or_error,
)
from render_engine.timeline_io import ShotRef, read_timeline, write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict

RATE = 24


def raw_clip(spec: dict[str, Any], name: str = "clip", frames: int = 24) -> otio.schema.Clip:
    """A clip carrying `spec` as raw metadata (not validated on the way in, as a file would)."""
    clip = make_clip(None, name, frames)
    clip.metadata[NAMESPACE] = spec
    return clip


def write_edit(production: Path, clips: list[otio.schema.Clip]) -> Path:
    """The clips as timelines/edit.otio of the production."""
    path = production / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), path)
    return path


def cli(*argv: str) -> int:
    """Run the soloreel command line in this process."""
    return main(list(argv))


def media_urls(edit: Path) -> dict[str, str]:
    """Clip name → the URL of its active media ("" when it has none)."""
    return {clip.name: getattr(clip.media_reference, "target_url", "") or ""
            for clip in read_timeline(edit).find_clips()}


# --------------------------------------------------------------------------- shot length


def test_a_billion_frame_clip_is_refused_when_read(tiny_production: Path, capsys) -> None:
    huge = make_clip(spec_dict("s-huge"), "HUGE", frames=10**9)  # with dialog
    fine = make_clip(spec_dict("s-fine", dialog=[]), "FINE", frames=12)
    edit = write_edit(tiny_production, [huge, fine])

    assert cli("validate", str(edit), "--production", str(tiny_production)) == 1
    out = capsys.readouterr().out
    assert 'shot 1 "HUGE"' in out and "source_range.duration" in out
    assert "10 minutes" in out and "trim the clip" in out

    # the render refuses the shot before drawing a frame (no error slate of its length) and
    # renders the other one
    assert cli("-q", "render", str(edit), "--production", str(tiny_production)) == 1
    err = capsys.readouterr().err
    assert "source_range.duration" in err and "Traceback" not in err
    urls = media_urls(edit)
    assert "/renders/placeholder/" in urls["FINE"]
    assert not (tiny_production / "renders" / "errors").exists()


def test_shot_length_bound_is_ten_minutes_unless_overridden(monkeypatch) -> None:
    monkeypatch.delenv(MAX_SHOT_ENV, raising=False)
    assert max_shot_seconds() == 600.0
    ten_minutes = 600 * RATE
    assert spec_or_error(raw_clip(spec_dict(), frames=ten_minutes)) is not None
    with pytest.raises(SpecError, match=r"source_range\.duration"):
        spec_or_error(raw_clip(spec_dict(), frames=ten_minutes + 1))
    monkeypatch.setenv(MAX_SHOT_ENV, "20")
    assert spec_or_error(raw_clip(spec_dict(), frames=ten_minutes + 1)) is not None
    monkeypatch.setenv(MAX_SHOT_ENV, "lots")
    with pytest.raises(SoloreelError, match=MAX_SHOT_ENV):
        max_shot_seconds()


def test_a_non_finite_clip_range_is_refused() -> None:
    clip = raw_clip(spec_dict())
    clip.source_range = otio.opentime.TimeRange(
        otio.opentime.RationalTime(SHOT_ORIGIN_SECONDS * RATE, RATE),
        otio.opentime.RationalTime(math.inf, RATE))
    with pytest.raises(SpecError, match=r"source_range\.duration"):
        spec_or_error(clip)
    clip.source_range = otio.opentime.TimeRange(
        otio.opentime.RationalTime(1e300, RATE), otio.opentime.RationalTime(24, RATE))
    with pytest.raises(SpecError, match=r"source_range\.start_time"):
        spec_or_error(clip)


def test_the_error_slate_never_outgrows_the_longest_shot(tiny_production: Path) -> None:
    production = load_production(tiny_production)
    ref = ShotRef(1, make_clip(None), otio.schema.Track(),
                  otio.opentime.RationalTime(0, RATE), RATE)
    fps, handles = production.settings.production.fps, production.settings.production.handles
    longest = math.ceil(max_shot_seconds() * fps) + 2 * handles
    assert error_slate_frames(ShotPlan(ref, "placeholder", first=0, end=10**9),
                              production) == longest
    assert error_slate_frames(ShotPlan(ref, "placeholder", first=5, end=53), production) == 48
    assert error_slate_frames(ShotPlan(ref, "placeholder", first=5, end=5), production) == 1


# --------------------------------------------------------------------------- dialog length


def test_a_dialog_line_is_at_most_two_thousand_characters(tiny_production: Path,
                                                          capsys) -> None:
    longest = "Marshmallows. " * (MAX_DIALOG_CHARS // 14) + "x" * (MAX_DIALOG_CHARS % 14)
    assert len(longest) == MAX_DIALOG_CHARS
    ShotSpec.model_validate(spec_dict(dialog=[{"speaker": "jane", "text": longest}]))

    speech = "Marshmallows. " * 7143  # 100k characters
    clip = raw_clip(spec_dict(dialog=[{"speaker": "jane", "text": speech}]), "LONG")
    with pytest.raises(SpecError) as caught:
        spec_or_error(clip)
    assert caught.value.field == "dialog[0].text"
    assert "100002 characters" in str(caught.value) and "split it" in str(caught.value)

    edit = write_edit(tiny_production, [clip])
    assert cli("validate", str(edit), "--production", str(tiny_production)) == 1
    out = capsys.readouterr().out
    assert 'shot 1 "LONG"' in out and "dialog[0].text" in out and "split it" in out


# --------------------------------------------------------------------------- coordinates


@pytest.mark.parametrize(("patch", "field", "words"), [
    ({"characters": [{"name": "jane", "position": [1e308, 3.0]}]},
     "characters[0].position[0]", "1000 m"),
    ({"characters": [{"name": "jane", "position": [0.5, -1500.0]}]},
     "characters[0].position[1]", "1000 m"),
    ({"characters": [{"name": "jane", "action": "walk", "path": [[0, 3], [0, 2e3]]}]},
     "characters[0].path[1][1]", "1000 m"),
    ({"characters": [{"name": "jane", "facing": math.nan}]},
     "characters[0].facing", "finite"),
    ({"characters": [{"name": "jane", "facing": 1e300}]},
     "characters[0].facing", "ten turns"),
    ({"camera": {"position": [0.0, 1.6, math.inf]}}, "camera.position[2]", "finite"),
    ({"camera": {"heading_deg": -1e9}}, "camera.heading_deg", "ten turns"),
    ({"camera": {"amount": math.nan}}, "camera.amount", "finite"),
    ({"shot": {"id": "s-001", "origin": 1e308}}, "shot.origin", "two timecode days"),
    ({"dialog": [{"speaker": "jane", "text": "Hi.", "start": 1e20}]},
     "dialog[0].start", "two timecode days"),
])
def test_coordinates_and_numbers_are_bounded_and_finite(patch: dict, field: str,
                                                        words: str) -> None:
    with pytest.raises(SpecError) as caught:
        spec_or_error(raw_clip({**spec_dict(), **patch}))
    assert caught.value.field == field
    assert words in str(caught.value)


def test_the_floor_bound_itself_is_allowed() -> None:
    spec = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [MAX_FLOOR_METRES, -MAX_FLOOR_METRES]}]))
    assert spec.characters[0].position == (MAX_FLOOR_METRES, -MAX_FLOOR_METRES)


def test_a_far_position_fails_its_shot_with_the_field_not_an_overflow(
        tiny_production: Path, capsys) -> None:
    far = raw_clip(spec_dict("s-far", characters=[{"name": "jane", "position": [1e308, 3]}],
                             dialog=[]), "FAR")
    fine = make_clip(spec_dict("s-fine", dialog=[]), "FINE", 12)
    edit = write_edit(tiny_production, [far, fine])
    assert cli("-q", "render", str(edit), "--production", str(tiny_production)) == 1
    err = capsys.readouterr().err
    assert 'shot 1 "FAR"' in err and "characters[0].position[0]" in err
    assert "OverflowError" not in err and "Traceback" not in err
    assert "/renders/placeholder/" in media_urls(edit)["FINE"]


# --------------------------------------------------------------------------- vanished files


def _two_shot_edit(production: Path) -> Path:
    """Shot 1 with Jane, shot 2 with John (no dialog: the test is about the pictures)."""
    jane = make_clip(spec_dict("s-jane", dialog=[]), "JANE", 12)
    john = make_clip(spec_dict("s-john", characters=[{"name": "john", "position": [0, 3]}],
                               dialog=[]), "JOHN", 12)
    return write_edit(production, [jane, john])


@pytest.mark.parametrize("how", ["deleted", "a folder"])
def test_a_cast_image_gone_after_validation_fails_only_its_shot(
        tiny_production: Path, capsys, how: str) -> None:
    edit = _two_shot_edit(tiny_production)
    assert cli("-q", "validate", str(edit), "--production", str(tiny_production)) == 0
    image = tiny_production / "cast" / "john" / "front.png"
    image.unlink()
    if how == "a folder":
        image.mkdir()  # unreadable as a file
    assert cli("-q", "render", str(edit), "--production", str(tiny_production)) == 1
    err = capsys.readouterr().err
    assert 'shot 2 "JOHN"' in err and "cast.john.views.front.image" in err
    assert "cast/john/front.png" in err and "restore the file" in err
    assert "cast/john.toml" in err and "Traceback" not in err
    urls = media_urls(edit)  # the edit was written, the other shot rendered
    assert "/renders/placeholder/" in urls["JANE"]
    assert "/renders/placeholder/" not in urls["JOHN"]


def test_a_set_plate_gone_names_the_set_field(tiny_production: Path) -> None:
    from render_engine.hashing import shot_hash

    production = load_production(tiny_production)
    (tiny_production / "sets" / "yard" / "plate.png").unlink()
    with pytest.raises(SoloreelError, match=r"set\.plate\.image: cannot read "
                       r"sets/yard/plate\.png \(no such file\); restore the file or fix "
                       r"plate\.image in sets/yard\.toml"):
        shot_hash(ShotSpec.model_validate(spec_dict()), production, "placeholder")


# --------------------------------------------------------------------------- odd paths


@pytest.mark.parametrize("bad", ["jane/fr\x00ont.png", "jane/front\n.png", "jane/\tfront.png"])
def test_control_characters_in_paths_are_a_clear_error(bad: str) -> None:
    with pytest.raises(BadPath, match="control character"):
        resolve_inside(Path("/tmp"), Path("/tmp"), bad)


@pytest.mark.parametrize("bad", ["jane/fr\x00ont.png", "jane/front\n.png"])
def test_a_nul_or_newline_in_a_bible_path_names_the_field(tiny_production: Path, capsys,
                                                          bad: str) -> None:
    import tomllib

    path = tiny_production / "cast" / "john.toml"
    data = tomllib.loads(path.read_text())
    data["views"]["front"]["image"] = bad
    path.write_text(tomli_w.dumps(data))
    edit = _two_shot_edit(tiny_production)

    assert cli("validate", str(edit), "--production", str(tiny_production)) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "cast/john.toml views.front.image" in out and "control character" in out
    assert "Traceback" not in out

    assert cli("-q", "render", str(edit), "--production", str(tiny_production)) == 1
    err = capsys.readouterr().err
    assert 'shot 2 "JOHN"' in err and "cast.john.views.front.image" in err
    assert "control character" in err and "Traceback" not in err
    assert "/renders/placeholder/" in media_urls(edit)["JANE"]


# --------------------------------------------------------------------------- literal names


def test_names_with_rich_markup_print_literally(tiny_production: Path, capsys,
                                                monkeypatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # a terminal: the progress bar draws names
    name = "[/x] [bold]JANE"
    clips = [make_clip(spec_dict("s-1", dialog=[]), "B", 12),
             make_clip(spec_dict("s-2", dialog=[]), name, 12)]
    edit = write_edit(tiny_production, clips)
    assert cli("render", str(edit), "--production", str(tiny_production)) == 0
    assert cli("status", str(edit), "--production", str(tiny_production)) == 0
    out = capsys.readouterr().out
    assert name in out and "MarkupError" not in out
    assert cli("plan", str(edit), "--production", str(tiny_production)) == 0
    # an invalid clip's problem line and the dry run print the name as written too
    bad = raw_clip({**spec_dict("s-3"), "set": "nowhere"}, "[red]GONE[/red]")
    edit = write_edit(tiny_production, [*clips, bad])
    assert cli("render", str(edit), "--production", str(tiny_production), "--dry-run") == 1
    assert cli("render", str(edit), "--production", str(tiny_production)) == 1
    captured = capsys.readouterr()
    assert "[red]GONE[/red]" in captured.out + captured.err
