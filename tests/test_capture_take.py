"""Capturing a take (issue 23): a real face photo moved, scaled, rolled, turned and talking,
encoded as an MP4 with sound, read back by `soloreel capture`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from render_engine.audio.dialog import speak_line
from render_engine.bible import load_production
from render_engine.capture.store import FILE, capture_folder, capture_take, load
from render_engine.cli import main
from render_engine.spec import read_spec
from render_engine.timeline_io import iter_shots, write_timeline
from tests.capture_takes import NEEDS_MODELS, Motion, write_take
from tests.conftest import make_clip, make_timeline, make_tiny_production, spec_dict

pytestmark = NEEDS_MODELS

FRAMES = 50
NO_FACE = (30, 31, 32)


def motions() -> list[Motion | None]:
    """Talking (mouth open and shut about twice a second), drifting, zooming, rolling and
    turning the head; three frames where the performer is out of shot."""
    out: list[Motion | None] = []
    for i in range(FRAMES):
        if i in NO_FACE:
            out.append(None)
            continue
        out.append(Motion(mouth=max(0.0, math.sin(2 * math.pi * i / 12)),
                          dx=25 * math.sin(i / 9), dy=12 * math.cos(i / 7),
                          scale=1 + 0.15 * math.sin(i / 11), roll=10 * math.sin(i / 8),
                          yaw=22 * math.sin(2 * math.pi * i / 40)))
    return out


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = make_tiny_production(tmp_path_factory.mktemp("capture") / "tiny")
    path = write_take(root.parent / "take3.mp4", motions())
    return root, path


def test_the_take_is_meshed_and_its_missing_faces_reported(take) -> None:
    root, path = take
    production = load_production(root)
    performance = capture_take(path, production)
    wanted = motions()
    assert performance.frames == FRAMES and performance.fps == pytest.approx(25)
    assert performance.missing == list(NO_FACE)  # reported, never invented
    assert np.isnan(performance.points[list(NO_FACE)]).all()
    seen = [i for i in range(FRAMES) if i not in NO_FACE]
    assert np.isfinite(performance.points[seen]).all()  # a face in every other frame
    mouth = np.array([wanted[i].mouth for i in seen])
    jaw = performance.channel("jaw_open")[seen]
    assert np.corrcoef(jaw, mouth)[0, 1] > 0.8
    assert jaw[mouth == 0].max() < 0.15 < jaw[mouth > 0.9].min()
    yaw_applied = np.array([wanted[i].yaw for i in seen])
    yaw = performance.channel("yaw")[seen]
    assert np.corrcoef(yaw, yaw_applied)[0, 1] > 0.9
    assert np.sign(yaw[np.abs(yaw_applied) > 15]).tolist() == \
        np.sign(yaw_applied[np.abs(yaw_applied) > 15]).tolist()
    roll = performance.channel("roll")[seen]
    roll_applied = np.array([wanted[i].roll for i in seen])
    assert np.abs(roll - roll.mean() - (roll_applied - roll_applied.mean())).max() < 4.0
    blink = performance.channel("blink")[seen]
    assert blink.max() < 0.5  # the photo's eyes never close
    assert performance.channel("smile")[seen].max() < 0.3  # an open jaw is not a smile
    # stored by the take's bytes: read back as captured
    stored = capture_folder(path, production) / FILE
    assert stored.is_file()
    assert np.array_equal(load(stored).expressions, performance.expressions, equal_nan=True)


def test_capture_makes_the_take_a_line_of_the_edit(take, capsys) -> None:
    root, path = take
    spec = spec_dict("s-001", dialog=[{"speaker": "jane", "text": "Pass the marshmallows.",
                                       "start": 0.25}])
    edit = root / "timelines" / "e.otio"
    write_timeline(make_timeline([make_clip(spec, "TALK", 72)]), edit)
    code = main(["capture", str(path), "--character", "jane", "--line", "s-001:1",
                 "--edit", str(edit), "-p", str(root)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "no face in frames 30-32" in out.out
    line = read_spec(next(iter_shots(otio.adapters.read_from_file(str(edit)))).clip).dialog[0]
    assert line.recording == "takes/take3.mp4"
    assert (root / "takes" / "take3.mp4").read_bytes() == path.read_bytes()
    assert "in jane's voice" in out.out
    spoken = speak_line(line, load_production(root), "TALK")  # cached by the capture command
    assert spoken.duration == pytest.approx(FRAMES / 25, abs=0.1)  # the take's own timing
    assert {cue.shape for cue in spoken.cues} - {"X"}  # the text aligned to the take
    # a wrong speaker or shot is one clear error naming the fix
    assert main(["capture", str(path), "--character", "john", "--line", "s-001:1",
                 "--edit", str(edit), "-p", str(root)]) == 1
    assert "pass --character jane" in capsys.readouterr().err
    assert main(["capture", str(path), "--character", "jane", "--line", "s-009:1",
                 "--edit", str(edit), "-p", str(root)]) == 1
    assert "no shot 's-009'" in capsys.readouterr().err


def test_frames_are_found_by_their_own_times_in_the_take() -> None:
    from render_engine.capture.track import EXPRESSIONS, Performance

    count = 3
    performance = Performance(
        20.0, (8, 8), np.zeros((count, 468, 3)), np.zeros((count, 3)),
        np.zeros((count, len(EXPRESSIONS))), np.zeros(9), [],
        np.array([0.10, 0.15, 0.25]))  # picture starts after the sound, frame rate varies
    assert performance.frame_at(0.05) is None
    assert [performance.frame_at(t) for t in (0.10, 0.12, 0.2, 0.26)] == [0, 0, 1, 2]
    assert performance.frame_at(0.25 + 1 / 20) is None


def test_the_take_s_frame_times_are_kept(take) -> None:
    root, path = take
    performance = capture_take(path, load_production(root))
    assert performance.times is not None and len(performance.times) == FRAMES
    assert np.allclose(np.diff(performance.times), 1 / 25, atol=1e-3)
    assert abs(performance.times[0]) < 0.1


def test_gaze_follows_the_pupils_within_the_eyes() -> None:
    import cv2

    from render_engine.capture.track import _LEFT_EYE, _RIGHT_EYE, eye_gaze
    from tests.capture_takes import photo, photo_mesh

    points = photo_mesh()

    def looking(offset: float) -> tuple[float, float]:
        rgb = photo().copy()
        for ring in (_RIGHT_EYE, _LEFT_EYE):
            poly = points[list(ring), :2]
            cv2.fillPoly(rgb, [np.round(poly).astype(np.int32)], (235, 235, 230))
            a, b = points[ring[0], :2], points[ring[8], :2]
            centre = (a + b) / 2 + offset * (b - a)
            radius = max(2, round(0.12 * float(np.hypot(*(b - a)))))
            cv2.circle(rgb, tuple(np.round(centre).astype(int).tolist()), radius, (30, 20, 15),
                       -1)
        return eye_gaze(rgb, points)

    left, ahead, right = looking(-0.18), looking(0.0), looking(0.18)
    assert abs(ahead[0]) < 0.05
    assert left[0] < -0.08 and right[0] > 0.08
