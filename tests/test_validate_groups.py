"""`soloreel validate` groups repeated problems and warns about what validates yet renders
wrong: characters without views, views the proxy cannot key, dialog that runs past its cut.
Warnings never change the exit code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomli_w

from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.timeline_io import write_timeline
from render_engine.validate import unkeyed_reason, validate_report
from tests.conftest import make_clip, make_timeline, save_png, spec_dict

MARA_FIX = "fix: add cast/mara.toml (soloreel script2edit SCRIPT --stubs writes stubs)"


def _validate(capsys: pytest.CaptureFixture, production: Path, clips: list,
              *flags: str) -> tuple[int, list[str]]:
    path = production / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), path)
    code = main(["validate", str(path), "--production", str(production), *flags])
    out = capsys.readouterr()
    return code, (out.out + out.err).splitlines()


def _mara(shot_id: str, **overrides: object) -> dict:
    return spec_dict(shot_id, characters=[{"name": "mara", "position": [0.0, 3.0]}],
                     dialog=[{"speaker": "mara", "text": "Hello."}], **overrides)


def test_an_unknown_name_is_one_line_with_its_shot_count_and_the_fix(
        tiny_production: Path, capsys: pytest.CaptureFixture) -> None:
    clips = [make_clip(_mara(f"s-00{i}"), f"MARA {i}") for i in range(1, 5)]
    clips += [make_clip(spec_dict(f"h-00{i}", set="harbour"), f"HARBOUR {i}") for i in (1, 2)]
    clips.append(make_clip(spec_dict("t-001", characters=[{"name": "jnae"}], dialog=[]),
                           "TYPO"))
    code, lines = _validate(capsys, tiny_production, clips)
    assert code == 1
    mara = [line for line in lines if '"mara"' in line]
    assert mara == [f'unknown character "mara" in 4 shots (s-001 … s-004); known: jane, john; '
                    f"{MARA_FIX}"], lines
    harbour = [line for line in lines if '"harbour"' in line]
    assert harbour == ['unknown set "harbour" in 2 shots (h-001, h-002); known: yard; fix: add '
                       "sets/harbour.toml (soloreel script2edit SCRIPT --stubs writes stubs "
                       "with a stand-in plate)"], lines
    # a name missing from one shot only keeps its own line naming the clip
    assert ('shot 7 "TYPO" @ 01:00:12:00 characters[0].name: unknown character "jnae"; did you '
            'mean "jane"? known: jane, john') in lines
    # the count still counts every problem of every shot (4 characters + 4 speakers + ...)
    assert lines[-1] == "11 problem(s) in 7 shot(s)"


def test_a_repeated_typo_suggests_the_rename(tiny_production: Path) -> None:
    clips = [make_clip(spec_dict(f"s-{i}", characters=[{"name": "jnae"}], dialog=[]))
             for i in range(3)]
    report = validate_report(make_timeline(clips), load_production(tiny_production))
    assert report.lines == ['unknown character "jnae" in 3 shots (s-0, s-1, s-2); did you mean '
                            '"jane"? known: jane, john; fix: rename it to "jane" in those shots, '
                            "or add cast/jnae.toml (soloreel script2edit SCRIPT --stubs writes "
                            "stubs)"]
    assert len(report.problems) == 3


def test_other_repeated_problems_are_grouped_too(tiny_production: Path) -> None:
    clips = [make_clip(spec_dict(f"s-{i}", plate="plates/gone.png")) for i in range(5)]
    report = validate_report(make_timeline(clips), load_production(tiny_production))
    assert report.lines == ["plate: file plates/gone.png does not exist in 5 shots (s-0 … s-4); "
                            "fix the path (relative to the production folder) or add the file"]


def _add_mara(production: Path, views: dict | None = None) -> None:
    (production / "cast" / "mara.toml").write_text(
        tomli_w.dumps({"name": "mara", **({"views": views} if views else {})}))


def test_a_character_without_views_is_a_warning_naming_it_and_the_fix(
        tiny_production: Path, capsys: pytest.CaptureFixture) -> None:
    _add_mara(tiny_production)
    clips = [make_clip(_mara("s-001")), make_clip(_mara("s-002")), make_clip(spec_dict("s-003"))]
    code, lines = _validate(capsys, tiny_production, clips)
    assert code == 0, lines  # a warning never fails validate
    assert ('warning: character "mara" has no views: the proxy tier fails its 2 shots (s-001, '
            "s-002); fix: soloreel cast new mara --from PICTURE (a keyed cut-out view), or add "
            "views.front to cast/mara.toml") in lines
    assert not any('"jane" has no views' in line for line in lines)


@pytest.mark.parametrize("kind, warned", [("white", "no transparent background"),
                                          ("opaque_alpha", "nothing in it is transparent"),
                                          ("green", None), ("cutout", None)])
def test_views_the_proxy_cannot_key_are_warned_about(
        tiny_production: Path, capsys: pytest.CaptureFixture, kind: str,
        warned: str | None) -> None:
    image = np.full((64, 32, 3), 255, np.uint8)
    if kind == "green":
        image[:] = (20, 200, 30)
    image[8:60, 8:24] = (120, 60, 40)  # the figure
    if kind == "opaque_alpha":
        image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    if kind == "cutout":
        image = np.dstack([image, np.zeros(image.shape[:2], np.uint8)])
        image[8:60, 8:24, 3] = 255
    path = save_png(tiny_production / "cast" / "mara" / "front.png", image)
    _add_mara(tiny_production, {"front": {"image": "mara/front.png"}})
    assert (unkeyed_reason(path) is None) == (warned is None)
    code, lines = _validate(capsys, tiny_production, [make_clip(_mara("s-001"))])
    assert code == 0, lines
    warnings = [line for line in lines if line.startswith('warning: character "mara" view')]
    if warned is None:
        assert warnings == []
    else:
        assert warnings == [
            f'warning: character "mara" view front (cast/mara/front.png) {unkeyed_reason(path)}: '
            "the proxy would paste it as a rectangle in 1 shot (s-001); fix: cut the figure out "
            "(soloreel cast new mara --from PICTURE keys it), or save it with transparency or on "
            "a green or blue screen"]
        assert warned in warnings[0]


def test_dialog_past_its_cut_is_a_warning_once_spoken(tiny_production: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    long_line = "This line is far too long to fit inside half a second of picture."
    clips = [make_clip(spec_dict("s-001", dialog=[{"speaker": "jane", "text": long_line}]),
                       "LATE", frames=12),
             make_clip(spec_dict("s-002", dialog=[]), "QUIET")]
    code, lines = _validate(capsys, tiny_production, clips)
    assert code == 0, lines
    assert not any("after the cut" in line for line in lines)
    assert ("note: 1 dialog line(s) not spoken yet were not checked against their cuts; "
            "`soloreel validate --speak` speaks them first (or run `soloreel dialog`)") in lines
    code, lines = _validate(capsys, tiny_production, clips, "--speak")
    assert code == 0, lines  # still only a warning
    late = [line for line in lines if "after the cut" in line]
    assert len(late) == 1 and late[0].startswith('warning: shot 1 "LATE"'), lines
    assert 'dialog[0] jane "This line is far too long' in late[0]
    assert not any(line.startswith("note:") for line in lines)
    # spoken now: a plain validate checks it too
    code, lines = _validate(capsys, tiny_production, clips)
    assert any("after the cut" in line for line in lines) and code == 0


def test_warnings_do_not_hide_problems_nor_change_the_exit_code(
        tiny_production: Path, capsys: pytest.CaptureFixture) -> None:
    _add_mara(tiny_production)
    clips = [make_clip(_mara("s-001")), make_clip(spec_dict("s-002", set="harbour"))]
    code, lines = _validate(capsys, tiny_production, clips)
    assert code == 1
    assert any(line.startswith('warning: character "mara" has no views') for line in lines)
    assert any('unknown set "harbour"' in line for line in lines)
    assert lines[-1] == "1 problem(s) in 2 shot(s)"
