"""Sets that know their furniture: the `[[seats]]` / `[[surfaces]]` / `[[props]]` schema,
seating characters on them, hips at the seat's height, and validate's errors.

Every set here is drawn by the test (the tiny production's yard with a bench painted into
its plate), not the demo's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomli_w

from render_engine.bible import Seat, SetSpec, load_production
from render_engine.hashing import shot_hash
from render_engine.pose.openpose import SEATED_HEAD_FORWARD
from render_engine.proxy import lens
from render_engine.proxy.blocking import seating
from render_engine.proxy.camera import Camera
from render_engine.proxy.cutouts import posture_of
from render_engine.proxy.poses import CharacterActing, acting_for, pose_keypoints
from render_engine.spec import ShotSpec
from render_engine.validate import check_spec, validate_report, validate_timeline
from tests.conftest import make_clip, make_timeline, make_tiny_production, save_png, spec_dict

HEIGHT_M = 1.75
FPS = 24
BENCH = {"name": "bench", "position": [0.0, 4.0], "height_m": 0.45, "extent": [2.0, 0.4],
         "places": 2}
STOOL = {"name": "stool", "position": [2.0, 4.5], "height_m": 0.75, "extent": [0.35, 0.35]}
TABLE = {"name": "table", "position": [0.0, 3.2], "height_m": 0.74, "extent": [1.6, 0.8],
         "mask": "table"}


def _furnished(root: Path, **extra: object) -> Path:
    """The tiny production whose yard has a bench and a stool painted into the plate and a
    table with its own foreground mask."""
    make_tiny_production(root)
    plate = np.full((90, 160, 3), 90, np.uint8)
    plate[55:60, 40:120] = (140, 100, 60)  # the bench, as the plate paints it
    save_png(root / "sets" / "yard" / "plate.png", plate)
    mask = np.zeros((90, 160), np.uint8)
    mask[60:80, 50:110] = 255
    save_png(root / "sets" / "yard" / "table.png", mask)
    data = {
        "name": "yard", "default_lighting": "day",
        "plate": {"kind": "flat", "image": "yard/plate.png"},
        "masks": [{"name": "table", "image": "yard/table.png", "depth_m": 2.8}],
        "lighting": {"day": {"key_azimuth_deg": -45}},
        "seats": [BENCH, STOOL], "surfaces": [TABLE],
        "props": [{"name": "lamp", "position": [-2.0, 5.0], "height_m": 1.6}],
        **extra,
    }
    (root / "sets" / "yard.toml").write_text(tomli_w.dumps(data))
    return root


@pytest.fixture
def furnished(tmp_path: Path) -> Path:
    return _furnished(tmp_path / "yard")


def _camera() -> Camera:
    return Camera((0.0, 1.3, 0.0), 0.0, -6.0, 55.0, 1280, 720)


def test_the_schema_loads_and_sets_without_furniture_hash_as_before(furnished: Path,
                                                                    tmp_path: Path) -> None:
    production = load_production(furnished)
    assert not production.problems, production.problems
    yard = production.set("yard")
    assert [s.name for s in yard.seats] == ["bench", "stool"]
    assert yard.seat("Bench").places == 2 and yard.seat("stool").height_m == 0.75
    assert yard.surface("table").mask == "table" and yard.prop("lamp").height_m == 1.6
    assert yard.seats[0].contains(0.9, 4.1) and not yard.seats[0].contains(1.2, 4.0)
    # no furniture: no new keys in the dump (old hashes stay), and no seat keys on characters
    bare = SetSpec.model_validate({"name": "x", "plate": {"image": "x.png"}})
    assert set(bare.model_dump()) == {"name", "description", "plate", "masks", "living",
                                      "lighting", "default_lighting"}
    spec = ShotSpec.model_validate(spec_dict())
    assert "seat" not in spec.to_metadata()["characters"][0]
    plain = make_tiny_production(tmp_path / "plain")
    before = shot_hash(spec, load_production(plain), "proxy")
    seated = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [0.5, 3.0], "seat": None, "lean": None}]))
    assert shot_hash(seated, load_production(plain), "proxy") == before


def test_a_mask_the_set_lacks_is_a_bible_problem(tmp_path: Path) -> None:
    root = _furnished(tmp_path / "bad", seats=[{**BENCH, "mask": "bnech"}])
    problems = load_production(root).problems
    assert any(p.field == "seats[0].mask" and "bnech" in p.message for p in problems)


def test_seating_named_nearest_and_full(furnished: Path) -> None:
    """A named seat wins; otherwise the nearest seat under the character with a free place;
    a full bench seats no third person."""
    yard = load_production(furnished).set("yard")
    spec = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [0.1, 4.0], "action": "sit", "seat": "stool"},
        {"name": "john", "position": [2.0, 4.6], "action": "sit"},
    ]))
    found = seating(yard, spec)
    assert found["jane"].name == "stool"  # named, even though she is over the bench
    assert "john" not in found  # the stool (under him) has its one place taken
    spec = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [-0.5, 4.0], "action": "sit"},
        {"name": "john", "position": [0.5, 4.1], "action": "sit"},
    ]))
    assert {k: v.name for k, v in seating(yard, spec).items()} == {"jane": "bench",
                                                                   "john": "bench"}
    one_place = yard.model_copy(update={"seats": [yard.seats[0].model_copy(
        update={"places": 1})]})
    assert list(seating(one_place, spec)) == ["jane"]


@pytest.mark.parametrize("seat", [BENCH, STOOL])
def test_seated_hips_rest_on_the_seat_in_every_frame(furnished: Path, seat: dict) -> None:
    """The skeleton's hips are drawn within 3 px of the seat's top, projected, in every
    frame, on a low bench and on a bar-height stool alike — and feet stay on the floor when
    the seat is low enough."""
    production = load_production(furnished)
    x, z = seat["position"]
    spec = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [x, z], "facing": 160, "action": "sit",
         "seat": seat["name"]}]))
    acting = acting_for(spec, production)["jane"]
    assert acting.seat is not None and acting.seat.name == seat["name"]
    cam = _camera()
    # the hips sit a head-forward behind the floor point (the eyes are over it)
    back = SEATED_HEAD_FORWARD * HEIGHT_M
    hips_x = x - np.sin(np.radians(160)) * back
    hips_z = z - np.cos(np.radians(160)) * back
    assert Seat.model_validate(seat).contains(hips_x, hips_z)
    target = lens.project(cam, np.array([hips_x, seat["height_m"], hips_z]))[:2]
    for frame in range(48):
        points = pose_keypoints(cam, posture_of("sit", x, z, 160, False), HEIGHT_M,
                                frame / FPS, acting=acting)
        assert points is not None
        hips = points[[8, 11], :2].mean(axis=0)
        assert np.linalg.norm(hips - target) < 3.0, (frame, hips, target)
    if seat["height_m"] < 0.5:
        floor = lens.project(cam, np.array([x, 0.0, z]))[1]
        assert points[[10, 13], 1].max() > floor - 5  # ankles down by the floor


def test_sitting_down_over_time_is_monotone_and_lands_on_the_seat(furnished: Path) -> None:
    """`sit_down` lowers the hips steadily onto the seat (never bobbing back up) and
    `stand_up` is its reverse."""
    production = load_production(furnished)
    spec = ShotSpec.model_validate(spec_dict(characters=[
        {"name": "jane", "position": [0.4, 4.0], "action": "sit_down", "seat": "bench"}]))
    acting = acting_for(spec, production)["jane"]
    cam = _camera()
    heights = {}
    for action in ("sit_down", "stand_up"):
        rows = []
        for frame in range(48):
            points = pose_keypoints(cam, posture_of(action, 0.4, 4.0, 180, False), HEIGHT_M,
                                    frame / FPS, acting=acting)
            rows.append(points[[8, 11], 1].mean())
        heights[action] = np.array(rows)
    down = heights["sit_down"]
    assert np.all(np.diff(down) >= -1e-6)  # image y grows as the hips go down
    assert down[-1] - down[0] > 30
    back = 4.0 + SEATED_HEAD_FORWARD * HEIGHT_M  # facing the camera: hips a little back
    seat_y = lens.project(cam, np.array([0.4, BENCH["height_m"], back]))[1]
    assert abs(down[-1] - seat_y) < 3
    assert heights["stand_up"][0] == pytest.approx(down[-1], abs=0.5)  # starts seated
    assert np.all(np.diff(heights["stand_up"]) <= 1e-6)


def test_validate_names_the_shot_the_character_and_the_fix(furnished: Path) -> None:
    production = load_production(furnished)

    def problems(**character: object) -> list[str]:
        spec = spec_dict("s-042", characters=[
            {"name": "jane", "position": [0.5, 3.0], **character}], dialog=[])
        found, _ = validate_timeline(make_timeline([make_clip(spec, "JANE WS")]), production)
        return [p.line() for p in found]

    floating = problems(position=[-2.5, 6.0], action="sit")
    assert len(floating) == 1
    assert floating[0].startswith('shot 1 "JANE WS"')
    assert "jane in shot s-042 sits" in floating[0] and "no seat" in floating[0]
    assert 'seat = "..."' in floating[0] and "bench, stool" in floating[0]
    unknown = problems(position=[0.0, 4.0], action="sit", seat="sofa")
    assert len(unknown) == 1 and '"sofa"' in unknown[0] and "bench, stool" in unknown[0]
    off = problems(position=[0.0, 6.0], action="sit", seat="bench")
    assert len(off) == 1 and "off its footprint" in off[0] and "[0.00, 4.20]" in off[0]
    assert problems(position=[0.3, 4.0], action="sit") == []
    assert problems(position=[0.3, 4.0], action="sit_down", seat="bench") == []
    lean = problems(lean="desk")
    assert len(lean) == 1 and "table" in lean[0]
    point = problems(point="moon")
    assert len(point) == 1 and "lamp" in point[0]
    assert problems(point="lamp", lean="table") == []
    # unknown names stop a render too (check_spec), a floating sitter only fails validate
    spec = ShotSpec.model_validate(spec_dict("s-9", characters=[
        {"name": "jane", "position": [0.0, 4.0], "seat": "sofa"}], dialog=[]))
    assert [p.field for p in check_spec("shot 1", spec, production)] == ["characters[0].seat"]


def test_a_set_without_seats_warns_about_its_sitters(tmp_path: Path) -> None:
    """A set that lists no seats has not said where its furniture is: validate passes and
    warns, naming the character, the shots and the fix."""
    bare = load_production(make_tiny_production(tmp_path / "bare"))
    spec = spec_dict("s-7", characters=[
        {"name": "john", "position": [0.0, 4.0], "action": "sit"}], dialog=[])
    report = validate_report(make_timeline([make_clip(spec)]), bare)
    assert report.problems == []
    assert any(w.startswith("john sits in 1 shot (s-7) on set yard") and "[[seats]]" in w
               for w in report.warnings), report.warnings


def test_a_character_without_acting_keeps_the_older_seated_figure() -> None:
    """No set seat (a stand-in set, tests with stand-ins): hips on a knee-high seat as before."""
    cam = _camera()
    bare = pose_keypoints(cam, posture_of("sit", 0.0, 4.0, 180, False), HEIGHT_M, 0.0)
    empty = pose_keypoints(cam, posture_of("sit", 0.0, 4.0, 180, False), HEIGHT_M, 0.0,
                           acting=CharacterActing())
    assert bare is not None and empty is not None
    assert np.allclose(bare, empty)


def test_the_placeholder_seats_its_figures_on_the_same_seats(furnished: Path) -> None:
    """The placeholder's skeleton reads the same acting: hips on the bench and on the stool at
    their heights (its own pinhole), forearms on the table for a leaner."""
    from render_engine.placeholder import _Shot

    production = load_production(furnished)
    spec = ShotSpec.model_validate(spec_dict("s-1", characters=[
        {"name": "jane", "position": [0.3, 4.0], "facing": 180, "action": "sit",
         "seat": "bench", "lean": "table"},
        {"name": "john", "position": [2.0, 4.5], "facing": 200, "action": "sit"}],
        dialog=[]))
    shot = _Shot(spec, production, 640, 360, 24, 24.0, "S1", (0, 0), None)
    _state, people, _key = shot.at(0)
    plate = shot.plate
    seats = {"jane": (0.45, 4.0), "john": (0.75, 4.5)}
    for _depth, points, actor, _speaking in people:
        height, z = seats[actor.spec.name]
        expected = plate.horizon_y + plate.focal_px * (plate.camera_height_m - height) / z
        assert abs(points[[8, 11], 1].mean() - expected) < 2.5, actor.spec.name
    jane = next(p for _d, p, a, _s in people if a.spec.name == "jane")
    def on_top(z: float) -> float:  # screen row of the table top 1.5 cm up, z metres away
        return plate.horizon_y + plate.focal_px * (plate.camera_height_m - 0.755) / z

    for wrist in (4, 7):  # the wrists lie on the table top, between its far and near edges
        assert on_top(3.6) - 1.5 < jane[wrist, 1] < on_top(2.8), jane[wrist]
