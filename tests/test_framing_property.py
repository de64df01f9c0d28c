"""Framing serves the subject on any scene: hundreds of random scenes (2-5 people anywhere the
set's plate can show them, seated or standing, flat / wide / 360 plates, every shot size),
checked by projecting their eyes and feet through the cameras the proxy would use."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from render_engine.bible import Production, load_production
from render_engine.proxy.blocking import character_floor, eye_point
from render_engine.proxy.framing import plan_framing, scene_line_for, subjects_of
from render_engine.proxy.projection import plate_source
from render_engine.spec import ShotSpec
from tests.proxy_sets import build_proxy_production

W, H = 640, 360
NAMES = ["jane", "john", "ranger", "mara", "bob"]
SIZES = ["WS", "FS", "MWS", "MS", "MCU", "CU", "ECU", "OTS", "TWO"]
THIRD_SIZES = ("MWS", "MS", "MCU", "CU", "ECU", "OTS")
FULL_SIZES = ("FS", "WS", "EWS")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Production:
    return load_production(build_proxy_production(tmp_path_factory.mktemp("frame") / "sets"))


def _visible(production: Production, set_name: str, x: float, z: float) -> bool:
    """Whether the set's plate shows this floor point (else no wide of the set could)."""
    spec = ShotSpec.model_validate({"shot": {"id": "p"}, "set": set_name})
    model = plate_source(spec, production).model
    origin = model.origin
    u, v = model.pixels(np.array(x - origin[0]), np.array(-origin[1]), np.array(z - origin[2]))
    margin = 0.08
    return (margin * model.width < float(u) < (1 - margin) * model.width
            and float(v) < (1 - margin) * model.height)


@st.composite
def scenes(draw: st.DrawFn) -> tuple[str, list[dict], str, list[str]]:
    set_name = draw(st.sampled_from(["strip", "round", "flat"]))
    count = draw(st.integers(2, 5))
    people: list[dict] = []
    for index in range(count):
        z = draw(st.floats(2.5, 7.0))
        x = draw(st.floats(-0.45, 0.45)) * z
        people.append({"name": NAMES[index], "position": [round(x, 2), round(z, 2)],
                       "facing": draw(st.floats(0, 359)),
                       "action": draw(st.sampled_from(["stand", "sit", "talk"]))})
    size = draw(st.sampled_from(SIZES))
    names = [p["name"] for p in people]
    if size in ("OTS", "TWO"):
        subjects = draw(st.permutations(names))[:2]
    elif size == "WS":
        subjects = []
    else:
        subjects = [draw(st.sampled_from(names))]
    return set_name, people, size, subjects


def _check(production: Production, set_name: str, people: list[dict], size: str,
           subjects: list[str], line_names: list[str] | None = None) -> None:
    spec = ShotSpec.model_validate({
        "shot": {"id": "p-1", "size": size, "subjects": subjects, "line": line_names or []},
        "set": set_name, "characters": people})
    framing = plan_framing(spec, production, W, H, scene_line_for([spec], production))
    camera = framing.camera
    framed = subjects_of(spec)
    if size == "OTS":
        framed = framed[1:]  # the listener's shoulder may leave by the edge; the speaker never
    for character in framed:
        u, v, depth = camera.project(np.array(eye_point(spec, production, character.name)))
        assert depth > 0 and 0 <= u <= W and 0 <= v <= H, (framing, character.name, u, v)
        if framing.setup in THIRD_SIZES and len(framed) == 1:
            assert abs(v - H / 3) <= 0.05 * H, (framing.setup, character.name, v)
        if framing.setup in FULL_SIZES:
            x, z, _, _ = character_floor(character, 0.0)
            fu, fv, fd = camera.project(np.array([x, 0.0, z]))
            assert fd > 0 and 0 <= fu <= W and 0 <= fv <= H, ("feet", framing, fu, fv)
    if size == "OTS" and framing.setup == "OTS":
        near = camera.project(np.array(eye_point(spec, production, subjects[0])))
        far = camera.project(np.array(eye_point(spec, production, subjects[1])))
        assert near[2] > 0 and far[2] > near[2]  # the listener is in front of the speaker
        assert (near[0] < W / 2) != (far[0] < W / 2)  # shoulder one side, face the other
    if framing.setup != size:
        assert framing.note and size == "OTS" and framing.setup == "MCU"


def _spread(people: list[dict]) -> bool:
    points = [p["position"] for p in people]
    return all(math.dist(a, b) >= 0.8 for i, a in enumerate(points) for b in points[i + 1:])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(scene=scenes())
@example(scene=("strip", [  # a prop over a face once moved an OTS camera past the shoulder
    {"name": "jane", "position": [0.0, 4.0], "facing": 0.0, "action": "stand"},
    {"name": "john", "position": [1.0, 4.0], "facing": 0.0, "action": "stand"},
    {"name": "ranger", "position": [0.0, 5.0], "facing": 0.0, "action": "stand"}],
    "OTS", ["john", "ranger"]))
def test_every_size_frames_its_subjects_on_random_scenes(production: Production,
                                                         scene: tuple) -> None:
    set_name, people, size, subjects = scene
    assume(_spread(people))
    assume(all(_visible(production, set_name, *p["position"]) for p in people))
    _check(production, set_name, people, size, subjects)


@pytest.mark.parametrize("set_name", ["strip", "round", "flat"])
def test_over_the_shoulder_shows_the_speaker_past_the_listener_or_says_why(
        production: Production, set_name: str) -> None:
    people = [{"name": "john", "position": [-1.3, 3.7], "facing": 100, "action": "sit"},
              {"name": "jane", "position": [1.3, 3.9], "facing": 260, "action": "sit"}]
    reverses: list[tuple[float, float, float]] = []
    for pair in (["john", "jane"], ["jane", "john"]):
        spec = ShotSpec.model_validate({"shot": {"id": "o-1", "size": "OTS", "subjects": pair},
                                        "set": set_name, "characters": people})
        framing = plan_framing(spec, production, W, H)
        _check(production, set_name, people, "OTS", pair)
        if set_name == "round":  # a 360 plate covers every view: a true reverse
            assert framing.setup == "OTS" and not framing.note
            far = np.array(eye_point(spec, production, pair[1]))
            u, v, depth = framing.camera.project(far)
            reverses.append((u, v, depth))
        else:  # across the set camera's axis: no flat or wide plate covers it
            assert framing.setup == "MCU" and "360 plate" in framing.note
    if reverses:  # matched reverses: mirrored composition, the same size
        (u1, v1, d1), (u2, v2, d2) = reverses
        assert abs(u1 - (W - u2)) <= 0.03 * W and abs(v1 - v2) <= 0.03 * H
        assert abs(d1 - d2) <= 0.1 * max(d1, d2)


FRAMING_KINDS = {"out_of_frame", "edge_cut", "feet_cut"}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(set_name=st.sampled_from(["strip", "round", "flat"]), count=st.integers(2, 5),
       lines=st.lists(st.integers(0, 6), min_size=5, max_size=5),
       seated=st.lists(st.booleans(), min_size=5, max_size=5))
def test_lint_finds_no_framing_problem_in_planned_coverage(
        production: Production, set_name: str, count: int, lines: list[int],
        seated: list[bool]) -> None:
    """The screenplay's blocking of a random scene, covered with every size the grammar
    plans (a wide, the pair's two-shot and over-the-shoulders, everyone's singles and full
    shots): lint, reading the same framing, reports no subject out of frame or cut."""
    import opentimelineio as otio

    from render_engine.lint import lint_timeline
    from render_engine.screenplay.blocking import block_scene, scene_pair
    from render_engine.spec import write_spec

    names = NAMES[:count]
    counts = dict(zip(names, lines, strict=False))
    placements = block_scene(names, [], counts)
    pair = scene_pair(names, [], counts)
    people = [{"name": n, "position": list(placements[n].position),
               "facing": placements[n].facing,
               "action": "sit" if seated[i] else "stand"} for i, n in enumerate(names)]
    shots = [("WS", []), ("TWO", pair), ("OTS", pair), ("OTS", pair[::-1])]
    shots += [(size, [n]) for n in names for size in ("MCU", "FS")]
    timeline = otio.schema.Timeline("coverage")
    track = otio.schema.Track("V1")
    timeline.tracks.append(track)
    for number, (size, subjects) in enumerate(shots):
        spec = ShotSpec.model_validate({
            "shot": {"id": f"r-{number:02d}", "size": size, "subjects": subjects,
                     "line": pair}, "set": set_name, "characters": people})
        item = otio.schema.Clip(name=f"R {number}", source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(3600 * 24, 24), otio.opentime.RationalTime(24, 24)))
        write_spec(item, spec)
        item.metadata["soloreel_script"] = {"scene": 1, "kind": "test"}
        track.append(item)
    found = [p for p in lint_timeline(timeline, production) if p.kind in FRAMING_KINDS]
    assert found == [], "\n".join(p.line() for p in found)
