"""`soloreel validate`: each planted problem on its own line naming clip, field and fix."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest

from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.spec import NAMESPACE
from render_engine.timeline_io import write_timeline
from render_engine.validate import validate_timeline
from tests.conftest import make_clip, make_timeline, spec_dict


def _validate(capsys: pytest.CaptureFixture, timeline: Path, production: Path) -> tuple[int, str]:
    code = main(["validate", str(timeline), "--production", str(production)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_good_timeline_exits_zero(tiny_production: Path, capsys) -> None:
    path = tiny_production / "timelines" / "good.otio"
    write_timeline(make_timeline([make_clip(spec_dict("a")), make_clip(spec_dict("b")),
                                  make_clip(None, "title card")]), path)
    code, out = _validate(capsys, path, tiny_production)
    assert code == 0, out
    assert "ok: 2 shot(s)" in out


def test_each_planted_problem_gets_its_own_line(tiny_production: Path, capsys) -> None:
    unknown = spec_dict("s1", characters=[{"name": "jnae"}], dialog=[])
    wrong_type = spec_dict("s2")
    wrong_type["seed"] = "forty-two"
    escape = spec_dict("s3", plate="../../etc/passwd")
    missing_plate = spec_dict("s4", plate="sets/yard/missing.png")
    clips = [make_clip(unknown, "JANE CU"), make_clip(None, "WRONG TYPE"),
             make_clip(escape, "ESCAPE"), make_clip(missing_plate, "MISSING"),
             make_clip(None, "MALFORMED")]
    clips[1].metadata[NAMESPACE] = wrong_type
    clips[4].metadata[NAMESPACE] = '{"shot": {"id": "s5", "size": '
    path = tiny_production / "timelines" / "broken.otio"
    write_timeline(make_timeline(clips), path)
    code, out = _validate(capsys, path, tiny_production)
    lines = [line for line in out.splitlines() if line.startswith("shot ")]
    assert code == 1
    assert len(lines) == 5, out
    assert lines[0] == ('shot 1 "JANE CU" @ 01:00:00:00 characters[0].name: unknown character '
                        '"jnae"; did you mean "jane"? known: jane, john')
    assert lines[1].startswith('shot 2 "WRONG TYPE" @ 01:00:02:00 seed: ')
    assert "forty-two" in lines[1]
    assert lines[2].startswith('shot 3 "ESCAPE" @ 01:00:04:00 plate: "../../etc/passwd" points '
                               "outside the production folder")
    assert lines[3] == ('shot 4 "MISSING" @ 01:00:06:00 plate: file sets/yard/missing.png does '
                        "not exist; fix the path (relative to the production folder) or add "
                        "the file")
    assert lines[4].startswith('shot 5 "MALFORMED" @ 01:00:08:00 metadata: malformed JSON')
    assert "Traceback" not in out


def test_missing_set_plate_is_reported_for_the_bible_and_the_clip(tiny_production: Path) -> None:
    (tiny_production / "sets" / "yard" / "plate.png").unlink()
    problems, _ = validate_timeline(make_timeline([make_clip(spec_dict())]),
                                    load_production(tiny_production))
    lines = [p.line() for p in problems]
    assert any(line.startswith("sets/yard.toml plate.image: file sets/yard/plate.png does not")
               for line in lines), lines
    assert any(line.startswith('shot 1 "clip" @ 01:00:00:00 set: set "yard" plate.image file')
               for line in lines), lines


def test_bible_problems_are_named_by_file_and_field(tiny_production: Path) -> None:
    (tiny_production / "cast" / "john.toml").write_text('name = "john"\nheight_m = "tall"\n')
    (tiny_production / "sets" / "bad.toml").write_text("name = [unclosed\n")
    production = load_production(tiny_production)
    lines = [p.line() for p in production.problems]
    assert any(line.startswith("cast/john.toml height_m:") for line in lines), lines
    assert any(line.startswith("sets/bad.toml: not valid TOML") for line in lines), lines
    problems, _ = validate_timeline(
        make_timeline([make_clip(spec_dict(characters=[{"name": "john"}], dialog=[]))]),
        production)
    assert any("characters[0].name: character \"john\" failed to load; fix cast/john.toml"
               in p.line() for p in problems)


def test_other_checks(tiny_production: Path) -> None:
    spec = spec_dict("x", lighting="noon", dialog=[{"speaker": "john", "text": "Hi."}],
                     shot={"id": "x", "size": "OTS", "subjects": ["john"]})
    dup = spec_dict("x")
    problems, shots = validate_timeline(make_timeline([make_clip(spec), make_clip(dup)]),
                                        load_production(tiny_production))
    fields = [p.field for p in problems]
    assert shots == 2
    assert fields == ["lighting", "dialog[0].speaker", "shot.subjects[0]", "shot.id"], problems


def test_unreadable_timeline_is_one_clear_error(tiny_production: Path, capsys) -> None:
    bad = tiny_production / "timelines" / "bad.otio"
    bad.write_text("{ not json")
    code, out = _validate(capsys, bad, tiny_production)
    assert code == 1
    assert "cannot be read as a timeline" in out and "Traceback" not in out
    code, out = _validate(capsys, tiny_production / "nope.otio", tiny_production)
    assert code == 1 and "no such timeline file" in out


def test_not_a_production(tmp_path: Path, capsys) -> None:
    timeline = tmp_path / "t.otio"
    otio.adapters.write_to_file(make_timeline([]), str(timeline))
    code, out = _validate(capsys, timeline, tmp_path)
    assert code == 1 and "soloreel init" in out


def test_json_metadata_survives_a_file_round_trip(tiny_production: Path) -> None:
    clip = make_clip(None)
    clip.metadata[NAMESPACE] = json.dumps(spec_dict())
    problems, shots = validate_timeline(make_timeline([clip]), load_production(tiny_production))
    assert problems == [] and shots == 1
