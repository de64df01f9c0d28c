"""script2edit seats a scene's sitters on the set's seats and leans them on a surface the
action line names — on a set drawn in the test, not the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from render_engine.bible import load_production
from render_engine.screenplay.blocking import Placement, seat_scene, seat_slots
from render_engine.screenplay.edit import screenplay_to_timeline
from render_engine.spec import read_spec
from render_engine.validate import validate_timeline
from tests.conftest import make_tiny_production
from tests.test_furniture_seats import _furnished

SCRIPT = """EXT. YARD - DAY

JANE and JOHN sit {where}.

JANE
Pass the marshmallows.

JOHN
Last two. Make them count.

JANE
Then we need more.
"""


def _characters(root: Path, where: str) -> list[dict]:
    production = load_production(root)
    timeline = screenplay_to_timeline(SCRIPT.format(where=where), production)
    problems, shots = validate_timeline(timeline, production)
    assert problems == [] and shots >= 3, [p.line() for p in problems]
    return [{c.name: c for c in read_spec(clip).characters}
            for clip in timeline.video_tracks()[0].find_clips()]


def test_sitters_take_the_bench_and_lean_on_the_named_table(tmp_path: Path) -> None:
    shots = _characters(_furnished(tmp_path / "yard"), "at the table over coffee")
    for cast in shots:
        jane, john = cast["jane"], cast["john"]
        assert (jane.seat, john.seat) == ("bench", "bench")
        assert (jane.lean, john.lean) == ("table", "table")
        assert jane.position[1] == john.position[1] == 4.0  # on the bench's line
        assert jane.position[0] < john.position[0]  # screen sides kept: Jane left
        assert abs(john.position[0] - jane.position[0]) == pytest.approx(0.75, abs=0.011)
        # square to the table (it is in front of them, towards the camera), cheated
        assert 150 <= jane.facing <= 180 <= john.facing <= 210


def test_no_table_in_the_action_no_lean_and_they_face_each_other(tmp_path: Path) -> None:
    shots = _characters(_furnished(tmp_path / "yard"), "in the sun")
    jane, john = shots[0]["jane"], shots[0]["john"]
    assert jane.lean is None and jane.seat == "bench"
    assert 90 <= jane.facing < 180 < john.facing <= 270  # towards each other, cheated


def test_a_set_without_seats_keeps_the_screenplay_blocking(tmp_path: Path) -> None:
    root = make_tiny_production(tmp_path / "bare")
    production = load_production(root)
    timeline = screenplay_to_timeline(SCRIPT.format(where="at the table"), production)
    spec = read_spec(next(iter(timeline.video_tracks()[0].find_clips())))
    assert all(c.seat is None and c.lean is None for c in spec.characters)
    assert {c.action for c in spec.characters} == {"sit"}


def test_slots_and_the_nearest_free_place(tmp_path: Path) -> None:
    """Places are 0.75 m apart along a long seat's length (spread evenly on a short one, and
    along z on a seat that runs away from the camera); sitters take the nearest free one."""
    yard = load_production(_furnished(tmp_path / "yard")).set("yard")
    bench, stool = yard.seat("bench"), yard.seat("stool")
    assert seat_slots(bench) == [(-0.38, 4.0), (0.38, 4.0)]
    assert seat_slots(stool) == [(2.0, 4.5)]
    along_z = bench.model_copy(update={"extent": (0.4, 1.0), "places": 3})
    assert seat_slots(along_z) == [(0.0, 3.67), (0.0, 4.0), (0.0, 4.33)]
    spots = {"jane": Placement("jane", (1.8, 4.8), 200.0, "right"),
             "john": Placement("john", (-2.0, 4.0), 160.0, "left")}
    placed, fields = seat_scene(spots, ["jane", "john"], yard)
    assert fields == {"jane": {"seat": "stool"}, "john": {"seat": "bench"}}
    assert placed["jane"].position == (2.0, 4.5) and placed["john"].position == (-0.38, 4.0)


def test_an_action_line_points_at_a_prop_or_a_character(tmp_path: Path) -> None:
    """"JANE points at the lamp." points Jane at the set's prop in the next shot she is in;
    "JOHN reaches for JANE." at a character; an unknown target changes nothing."""
    root = _furnished(tmp_path / "yard")
    production = load_production(root)
    text = SCRIPT.format(where="at the table").replace(
        "JANE\nPass", "JANE points at the lamp. JOHN reaches for JANE.\n\nJANE\nPass", 1)
    timeline = screenplay_to_timeline(text, production)
    specs = [read_spec(clip) for clip in timeline.video_tracks()[0].find_clips()]
    pointed = [{c.name: c.point for c in spec.characters} for spec in specs]
    first = next(i for i, p in enumerate(pointed) if p.get("jane") == "lamp")
    assert sum(p.get("jane") == "lamp" for p in pointed) == 1
    assert any(p.get("john") == "jane" for p in pointed[first:])
    problems, _ = validate_timeline(timeline, production)
    assert problems == [], [p.line() for p in problems]
    moon = SCRIPT.format(where="at the table").replace(
        "JANE\nPass", "JANE points at the moon.\n\nJANE\nPass", 1)
    timeline = screenplay_to_timeline(moon, production)
    specs = [read_spec(c) for c in timeline.video_tracks()[0].find_clips()]
    assert all(c.point is None for spec in specs for c in spec.characters)
