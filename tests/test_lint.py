"""`soloreel lint`: planted continuity and framing errors are found and name the right shot;
a clean edit has none. Cameras here are explicit (the checks read them through the proxy
tier's framing and moves), so the tests hold whatever the automatic framing decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from render_engine.bible import Production, load_production
from render_engine.cli import main
from render_engine.lint import KINDS, Problem, lint_report, lint_timeline, summary
from render_engine.spec import ShotSpec, write_spec
from render_engine.timeline_io import write_timeline
from tests.proxy_sets import build_proxy_production

FPS = 24
JOHN = {"name": "john", "position": [-1.3, 3.7], "facing": 100, "action": "sit"}
JANE = {"name": "jane", "position": [1.3, 3.9], "facing": 260, "action": "sit"}
LINES = [{"speaker": "jane", "text": "Hello."}, {"speaker": "john", "text": "Hi."}]
WALK = {"name": "ranger", "position": [-1.0, 5.0], "action": "walk", "path": [[1.0, 5.0]]}
SET_CAMERA = [0.0, 1.2, 0.0]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Production:
    return load_production(build_proxy_production(tmp_path_factory.mktemp("lint") / "sets"))


def clip(shot_id: str, size: str, subjects: list[str] | None = None, *,
         set_name: str = "round", characters: list[dict] | None = None,
         camera: dict | None = None, dialog: list[dict] | None = None,
         scene: int | None = None, seconds: float = 2.0, line: list[str] | None = None
         ) -> otio.schema.Clip:
    """A shot clip: `camera` is the spec's camera block (explicit position/heading/focal)."""
    shot: dict[str, Any] = {"id": shot_id, "size": size, "subjects": subjects or []}
    if line:
        shot["line"] = line
    spec = ShotSpec.model_validate({
        "shot": shot,
        "set": set_name, "characters": [JOHN, JANE] if characters is None else characters,
        "camera": camera or {}, "dialog": dialog or []})
    item = otio.schema.Clip(name=f"{shot_id.upper()} {size}", source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(3600 * FPS, FPS),
        otio.opentime.RationalTime(round(seconds * FPS), FPS)))
    write_spec(item, spec)
    if scene is not None:
        item.metadata["soloreel_script"] = {"scene": scene, "kind": "test"}
    return item


def edit(*clips: otio.schema.Clip) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline("lint test")
    track = otio.schema.Track("V1")
    timeline.tracks.append(track)
    for item in clips:
        track.append(item)
    return timeline


def clean_scene(scene: int | None = 1, line: list[str] | None = None) -> list[otio.schema.Clip]:
    """A well-covered two-hander: wide, reverse singles, a two-shot, a full shot."""
    return [
        clip("c-01", "WS", camera={"position": SET_CAMERA}, dialog=LINES, scene=scene,
             line=line),
        clip("c-02", "MCU", ["jane"], camera={"position": [0.3, 0.9, 2.9]}, scene=scene,
             line=line),
        clip("c-03", "MCU", ["john"], camera={"position": [-0.3, 0.9, 2.9]}, scene=scene,
             line=line),
        clip("c-04", "TWO", ["john", "jane"], camera={"position": [0.0, 1.1, 1.0]},
             scene=scene, line=line),
        clip("c-05", "FS", ["john"], camera={"position": [-0.6, 1.0, 0.4]}, scene=scene,
             line=line),
    ]


def found(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.shot, p.kind) for p in problems}


def test_a_clean_edit_has_no_problems(production: Production) -> None:
    report = lint_report(edit(*clean_scene()), production)
    assert report.shots == 5 and not report.skipped
    assert report.problems == [], [p.line() for p in report.problems]


@pytest.mark.parametrize("line", [None, ["jane", "john"]])
def test_a_crossed_line_names_the_shot_from_the_wrong_side(production: Production,
                                                           line: list[str] | None) -> None:
    """With the line from the dialog, or named by the shots' `shot.line` (in any order)."""
    shots = clean_scene(line=line)
    assert lint_timeline(edit(*shots), production) == []
    wrong = clip("x-03", "MCU", ["jane"], camera={"position": [0.6, 1.0, 5.6]}, scene=1,
                 line=line)
    problems = lint_timeline(edit(*shots[:2], wrong, *shots[2:]), production)
    assert found(problems) == {("x-03", "line")}, [p.line() for p in problems]
    assert "john is screen-right of jane" in problems[0].what


def test_the_line_named_by_the_shots_wins_over_the_busiest_speakers(
        production: Production) -> None:
    """Jane talks most with the ranger, but the shots name John and Jane's line: a camera
    across that line (and not across Jane and the ranger's) crosses only with the name."""
    ranger = {"name": "ranger", "position": [2.5, 6.5], "facing": 240}
    cast = [JOHN, JANE, ranger]
    talk = [{"speaker": "jane", "text": "A."}, {"speaker": "ranger", "text": "B."},
            {"speaker": "jane", "text": "C."}]

    def scene(line: list[str] | None) -> otio.schema.Timeline:
        return edit(clip("a-01", "WS", camera={"position": SET_CAMERA}, characters=cast,
                         dialog=talk, line=line),
                    clip("a-02", "MCU", ["jane"], camera={"position": [3.0, 1.0, 4.5]},
                         characters=cast, line=line))

    assert lint_timeline(scene(None), production) == []
    problems = lint_timeline(scene(["john", "jane"]), production)
    assert found(problems) == {("a-02", "line")}
    assert "between john and jane" in problems[0].what


def test_the_line_from_the_explicit_heading(production: Production) -> None:
    """A camera placed on the far side and turned back with heading_deg crosses too."""
    wrong = clip("x-02", "MS", ["john"], camera={"position": [-0.8, 1.0, 6.4],
                                                   "heading_deg": 190.0, "focal_mm": 35.0})
    problems = lint_timeline(edit(*clean_scene(None)[:1], wrong), production)
    assert found(problems) == {("x-02", "line")}, [p.line() for p in problems]


def test_a_flipped_walking_direction(production: Production) -> None:
    walker = [WALK]
    shots = [
        clip("w-01", "WS", camera={"position": SET_CAMERA}, characters=walker, scene=2),
        # from the far side of the ranger's path, looking back at the set camera
        clip("w-02", "MS", ["ranger"], characters=walker, scene=2,
             camera={"position": [0.0, 1.5, 9.0], "heading_deg": 180.0, "focal_mm": 20.0}),
    ]
    problems = lint_timeline(edit(*shots), production)
    assert found(problems) == {("w-02", "direction")}, [p.line() for p in problems]
    assert "screen-left here but screen-right in w-01" in problems[0].what


def test_the_same_direction_from_both_shots_is_fine(production: Production) -> None:
    walker = [WALK]
    shots = [
        clip("w-01", "WS", camera={"position": SET_CAMERA}, characters=walker, scene=2),
        clip("w-02", "MS", ["ranger"], characters=walker, scene=2,
             camera={"position": [0.0, 1.5, 1.0], "heading_deg": 0.0, "focal_mm": 20.0}),
    ]
    assert lint_timeline(edit(*shots), production) == []


def test_a_jump_cut_between_two_mcus_of_the_same_person(production: Production) -> None:
    shots = clean_scene()
    again = clip("j-03", "MCU", ["jane"], camera={"position": [0.35, 0.9, 2.95]}, scene=1)
    problems = lint_timeline(edit(*shots[:2], again, *shots[2:]), production)
    assert found(problems) == {("j-03", "jump_cut")}, [p.line() for p in problems]
    assert "c-02" in problems[0].what


def test_a_subject_out_of_frame(production: Production) -> None:
    away = clip("o-02", "MCU", ["john"], camera={"position": SET_CAMERA, "heading_deg": 180.0})
    problems = lint_timeline(edit(*clean_scene(None)[:1], away), production)
    assert found(problems) == {("o-02", "out_of_frame")}, [p.line() for p in problems]
    assert "john's eyes are behind the camera" in problems[0].what
    assert "camera.heading_deg" in problems[0].fix


def test_walking_into_the_frame_is_not_out_of_frame(production: Production) -> None:
    """A walker may enter (or leave) the frame during the shot; outside at both ends is lost."""
    enters = {"name": "ranger", "position": [-4.0, 5.0], "action": "walk", "path": [[0.0, 5.0]]}
    standing = {**enters, "action": "stand", "path": []}
    level = {"position": SET_CAMERA, "heading_deg": 0.0, "pitch_deg": 0.0, "focal_mm": 35.0}
    walk_in = clip("i-01", "WS", characters=[enters], camera=level, scene=1)
    assert lint_timeline(edit(walk_in), production) == []
    stands = clip("i-02", "WS", characters=[standing], camera=level, scene=2)
    assert found(lint_timeline(edit(stands), production)) == {("i-02", "out_of_frame")}


def test_a_move_that_loses_its_subject_blames_the_move(production: Production) -> None:
    truck = clip("p-01", "MCU", ["jane"], camera={"position": [0.3, 0.9, 2.9],
                                                   "move": "truck_left", "amount": 1.0})
    problems = lint_timeline(edit(truck), production)
    assert found(problems) == {("p-01", "out_of_frame")}, [p.line() for p in problems]
    assert "by the end of the move" in problems[0].what
    assert "the truck_left move loses jane" in problems[0].fix


def test_a_head_cut_by_the_frame_edge(production: Production) -> None:
    """Turned a little too far right: the eyes stay in frame, the side of the head does not."""
    level = {"position": [0.3, 1.2, 2.9], "pitch_deg": 0.0}
    framed = clip("e-01", "MS", ["jane"], camera={**level, "heading_deg": 58.0})
    aside = clip("e-02", "MS", ["jane"], camera={**level, "heading_deg": 62.0})
    assert lint_timeline(edit(framed), production) == []
    problems = lint_timeline(edit(aside), production)
    assert found(problems) == {("e-02", "edge_cut")}, [p.line() for p in problems]
    assert "jane's head is cut by the left edge" in problems[0].what


def test_feet_cut_in_a_full_shot(production: Production) -> None:
    close = clip("f-02", "FS", ["john"], camera={"position": [-1.3, 1.0, 2.5]})
    problems = lint_timeline(edit(*clean_scene(None)[:1], close), production)
    assert found(problems) == {("f-02", "feet_cut")}, [p.line() for p in problems]
    assert "john's feet are cut in a FS" in problems[0].what


def test_a_face_behind_a_foreground_mask(production: Production) -> None:
    """The "strip" set's post (a mask 3 m out at heading 12°) stands between the set camera
    and someone seated 5 m out on the same heading."""
    behind = {"name": "ranger", "position": [1.04, 4.89], "facing": 180, "action": "sit"}
    beside = {**behind, "position": [-1.2, 4.85]}
    hidden = clip("m-01", "MS", ["ranger"], set_name="strip", characters=[behind],
                  camera={"position": SET_CAMERA, "focal_mm": 50.0})
    clear = clip("m-02", "CU", ["ranger"], set_name="strip", characters=[beside],
                 camera={"position": SET_CAMERA, "focal_mm": 50.0})
    problems = lint_timeline(edit(hidden, clear), production)
    assert found(problems) == {("m-01", "mask")}, [p.line() for p in problems]
    assert '"post"' in problems[0].what


def test_eyelines_that_do_not_meet(production: Production) -> None:
    """Jane turned to face screen-left like John: the reverse no longer looks back."""
    turned = [JOHN, {**JANE, "facing": 100}]
    shots = [clip("y-01", "MCU", ["john"], camera={"position": [-0.3, 0.9, 2.9]}, dialog=LINES,
                  scene=3),
             clip("y-02", "MCU", ["jane"], camera={"position": [0.3, 0.9, 2.9]},
                  characters=turned, dialog=LINES, scene=3)]
    problems = lint_timeline(edit(*shots), production)
    assert ("y-02", "eyeline") in found(problems), [p.line() for p in problems]


def test_scenes_come_from_the_script_metadata(production: Production) -> None:
    """The same MCU twice is a jump cut inside a scene, not across a scene change or around
    a cutaway."""
    one = clip("s-01", "MCU", ["jane"], camera={"position": [0.3, 0.9, 2.9]}, scene=1)
    two = clip("s-02", "MCU", ["jane"], camera={"position": [0.3, 0.9, 2.9]}, scene=2)
    assert lint_timeline(edit(one, two), production) == []
    three = clip("s-03", "MCU", ["jane"], camera={"position": [0.3, 0.9, 2.9]}, scene=2)
    assert found(lint_timeline(edit(one, two, three), production)) == {("s-03", "jump_cut")}
    cutaway = otio.schema.Clip(name="owl", source_range=three.source_range)
    assert lint_timeline(edit(one, two, cutaway, three), production) == []


def test_invalid_shots_are_skipped_not_linted(production: Production) -> None:
    bad = clip("b-01", "MCU", ["jane"])
    bad.metadata["soloreel"]["set"] = "nowhere"
    report = lint_report(edit(bad, *clean_scene()), production)
    assert report.shots == 5 and len(report.skipped) == 1
    assert 'unknown set "nowhere"' in report.skipped[0][1]


def test_problem_lines_and_summary() -> None:
    problem = Problem("jump_cut", "s-02", "JANE [bold]MCU", 2, "01:00:02:00", 2.0,
                      "jump cut from s-01", "change the size")
    assert problem.line() == ("s-02 (JANE [bold]MCU) at 01:00:02:00: jump cut from s-01 — "
                              "fix: change the size")
    assert problem.as_problem().field == "lint.jump_cut"
    assert summary([problem, problem]) == "2 problem(s): 2 jump cut"
    assert summary([]) == "no problems"
    assert set(KINDS) >= {"line", "direction", "jump_cut", "out_of_frame", "feet_cut", "mask"}


def _write(production: Production, name: str, timeline: otio.schema.Timeline) -> Path:
    path = production.root / "timelines" / name
    write_timeline(timeline, path)
    return path


def test_cli_exit_codes_and_output(production: Production,
                                   capsys: pytest.CaptureFixture[Any]) -> None:
    clean = _write(production, "clean.otio", edit(*clean_scene()))
    shots = clean_scene()
    again = clip("j-03", "MCU", ["jane"], camera={"position": [0.35, 0.9, 2.95]}, scene=1)
    again.name = "JANE [red]AGAIN"
    faulty = _write(production, "faulty.otio", edit(*shots[:2], again, *shots[2:]))

    assert main(["lint", str(clean), "--strict"]) == 0
    assert "ok: 5 shot(s)" in capsys.readouterr().out

    assert main(["lint", str(faulty)]) == 0
    out = capsys.readouterr().out
    assert "j-03 (JANE [red]AGAIN) at 00:00:04:00: jump cut from c-02" in out
    assert "1 problem(s): 1 jump cut in 6 shot(s)" in out
    assert main(["lint", str(faulty), "--strict", "--tier", "proxy"]) == 1
    capsys.readouterr()

    bad = clip("b-01", "MCU", ["jane"])
    bad.metadata["soloreel"]["set"] = "nowhere"
    broken = _write(production, "broken.otio", edit(bad, *clean_scene()))
    assert main(["lint", str(broken)]) == 0
    out = capsys.readouterr().out
    assert 'shot 1 "B-01 MCU" @ 00:00:00:00 skipped: set: unknown set "nowhere"' in out
    assert "no problems in 5 shot(s), 1 skipped" in out
    assert main(["lint", str(broken), "--strict"]) == 1
    capsys.readouterr()

    for usage in (["lint"], ["lint", str(clean), "--tier", "final"]):
        with pytest.raises(SystemExit) as exited:
            main(usage)
        assert exited.value.code == 2
    assert main(["lint", str(production.root / "timelines" / "missing.otio")]) == 1


def test_validate_lists_lint_findings_as_warnings(production: Production,
                                                  capsys: pytest.CaptureFixture[Any]) -> None:
    shots = clean_scene()
    again = clip("j-03", "MCU", ["jane"], camera={"position": [0.35, 0.9, 2.95]}, scene=1)
    faulty = _write(production, "warned.otio", edit(*shots[:2], again, *shots[2:]))
    assert main(["validate", str(faulty)]) == 0  # a warning never fails validate
    out = capsys.readouterr().out
    assert "warning: j-03 (J-03 MCU) at 00:00:04:00: jump cut from c-02" in out
    clean = _write(production, "unwarned.otio", edit(*clean_scene()))
    assert main(["validate", str(clean)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines()
                if line.startswith("warning:")]
    assert all("has no views" in line  # this cast is unpainted, its sets list no seats
               or "lists no [[seats]]" in line for line in warnings), warnings


def test_plan_says_when_framing_used_another_setup(production: Production,
                                                   capsys: pytest.CaptureFixture[Any]) -> None:
    """An over-the-shoulder the wide plate cannot cover is framed as a single; `plan` shows
    it in the size column and says why under the table; on a 360 set it stays an OTS."""
    wide = clip("o-01", "OTS", ["john", "jane"], set_name="strip", line=["john", "jane"])
    round_ = clip("o-02", "OTS", ["john", "jane"], set_name="round", line=["john", "jane"])
    path = _write(production, "ots.otio", edit(wide, round_))
    assert main(["plan", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "OTS→MCU" in out and out.count("OTS→MCU") == 1
    assert "o-01: no view over john's shoulder onto jane" in out and "360 plate" in out
