"""What makes placeholders fast, asserted as behaviour (timings live in bench/): the static
slate is drawn once per state, figures once per pose, only changed regions are converted, the
still-picture encode is still a normal movie of the same frames, and every shortcut gives the
same pixels (or bytes) as the long way round."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import av
import numpy as np
import pytest

import render_engine.placeholder as painter
from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.media.encode import MediaError, VideoWriter, probe, read_frames
from render_engine.render import link_plan, plan_shot
from render_engine.spec import ShotSpec
from render_engine.timeline_io import iter_shots, write_timeline
from tests.conftest import make_clip, make_timeline, save_png, spec_dict

SIZE = (320, 180)
SCENE = {
    "characters": [{"name": "jane", "position": [0.8, 3.0], "facing": 250, "action": "talk"},
                   {"name": "john", "position": [-0.8, 3.5], "facing": 110, "action": "walk",
                    "path": [[-0.2, 3.2]]}],
    "dialog": [{"speaker": "jane", "text": "Pass the marshmallows.", "start": 0.0},
               {"speaker": "john", "text": "Last two. Make them count.", "start": 1.0}],
}


def _spec(shot_id: str = "s-001", **overrides: object) -> ShotSpec:
    return ShotSpec.model_validate(spec_dict(shot_id, **{**SCENE, **overrides}))


@pytest.fixture(autouse=True)
def _fresh_people_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no figures painted by an earlier one."""
    monkeypatch.setattr(painter, "_PEOPLE_CACHE", OrderedDict())
    monkeypatch.setattr(painter, "_people_cache_size", [0])


def _incremental(production: Path, spec: ShotSpec, frames: int = 72,
                 handles: tuple[int, int] = (6, 6), size: tuple[int, int] = SIZE
                 ) -> list[tuple[np.ndarray, list | None]]:
    prod = load_production(production)
    return [(frame.copy(), changed) for frame, changed in painter.placeholder_frames(
        spec, prod, *size, frames, 24, "s-001", handles=handles)]


def _whole(production: Path, spec: ShotSpec, frames: int = 72,
           handles: tuple[int, int] = (6, 6), size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    return list(painter.render_placeholder_frames(spec, load_production(production), *size,
                                                  frames, 24, "s-001", handles=handles))


@pytest.mark.parametrize("overrides", [
    {},                                                          # talk, walk, two lines
    {"characters": [], "dialog": []},                            # the slate alone
    {"characters": [{"name": "jane", "position": [1.0, 1.1], "action": "gesture"}],  # figures
     "dialog": [{"speaker": "jane", "text": "Up by the counters.", "start": 0.5}]},  # + counters
])
def test_the_fast_road_paints_every_frame_as_the_whole_one_and_says_what_changed(
        tiny_production: Path, overrides: dict) -> None:
    spec = _spec(**overrides)
    whole = _whole(tiny_production, spec)
    fast = _incremental(tiny_production, spec)
    assert len(fast) == len(whole) == 72
    previous = None
    for index, ((frame, changed), expected) in enumerate(zip(fast, whole, strict=True)):
        assert np.array_equal(frame, expected), index  # a frame mid-line included
        if previous is not None and changed is not None:
            outside = np.ones(frame.shape[:2], bool)
            for x0, y0, x1, y1 in changed:
                outside[y0:y1, x0:x1] = False
            assert not (frame != previous).any(axis=2)[outside].any(), index
        previous = frame
    assert fast[0][1] is None  # the first frame is taken whole


def test_the_slate_is_drawn_once_per_state_not_per_frame(tiny_production: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    overlays: list[tuple] = []
    original = painter._Slate._overlay

    def counted(self: painter._Slate, active: int | None, handle: str | None) -> np.ndarray:
        overlays.append((active, handle))
        return original(self, active, handle)

    monkeypatch.setattr(painter._Slate, "_overlay", counted)
    fast = _incremental(tiny_production, _spec(), frames=96, handles=(6, 6))
    assert len(overlays) == len(set(overlays)) <= 6  # head, lines, none, tail: each once
    assert fast[0][1] is None  # only the first frame is handed over whole
    assert all(changed is not None for _frame, changed in fast[1:])
    area = SIZE[0] * SIZE[1]
    mean = np.mean([sum((b[2] - b[0]) * (b[3] - b[1]) for b in changed)
                    for _frame, changed in fast[1:]])
    assert mean < 0.2 * area  # the rest converts a fraction of the picture


def test_a_scenes_figures_are_painted_once_for_all_its_shots(tiny_production: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    calls = []
    original = painter.paint_people
    monkeypatch.setattr(painter, "paint_people",
                        lambda canvas, people: (calls.append(1), original(canvas, people)))
    still = {"characters": [{"name": "jane", "position": [0.8, 3.0], "action": "sit"},
                            {"name": "john", "position": [-0.8, 3.5], "action": "sit"}],
             "dialog": []}
    _incremental(tiny_production, _spec("s-001", **still), frames=48)
    first = len(calls)
    assert 0 < first <= 2 * 48  # one skeleton per figure per new pose, never more
    _incremental(tiny_production, _spec("s-002", **still), frames=48)  # the reverse angle
    assert len(calls) == first  # same blocking, same frame times: nothing painted again
    _whole(tiny_production, _spec("s-003", **still), frames=48)  # the long way paints all
    assert len(calls) == first + 2 * 48


def _frames_and_changes(count: int = 40) -> list[tuple[np.ndarray, list]]:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    out = []
    for index in range(count):
        frame = frame.copy()
        boxes = []
        for _ in range(2):
            x0, y0 = int(rng.integers(0, SIZE[0] - 30)), int(rng.integers(0, SIZE[1] - 30))
            x1, y1 = x0 + int(rng.integers(1, 30)), y0 + int(rng.integers(1, 30))
            frame[y0:y1, x0:x1] = (index * 37) % 256
            boxes.append((x0, y0, x1, y1))
        out.append((frame, boxes))
    return out


@pytest.mark.parametrize("profile, suffix", [("web", ".mp4"), ("resolve", ".mov")])
def test_converting_only_the_changed_regions_encodes_the_same_bytes(
        tmp_path: Path, profile: str, suffix: str) -> None:
    frames = _frames_and_changes()
    size = SIZE if profile == "web" else (256, 144)
    if profile == "resolve":
        frames = [(np.ascontiguousarray(f[:144, :256]), b) for f, b in frames]
    digests = []
    for regional in (False, True):
        path = tmp_path / f"{regional}{suffix}"
        with VideoWriter(path, *size, 24, profile=profile, still=True) as writer:
            for frame, boxes in frames:
                writer.write(frame, changed=boxes if regional else None)
        assert writer.regions_converted == (len(frames) - 1 if regional else 0)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_audio_encoded_ahead_gives_the_same_file_and_holds_to_its_frame_count(
        tmp_path: Path) -> None:
    frames = _frames_and_changes(30)
    tone = (0.3 * np.sin(np.arange(60000) / 9.0)).astype(np.float32)
    digests = []
    for ahead in (None, len(frames)):
        path = tmp_path / f"{ahead}.mp4"
        with VideoWriter(path, *SIZE, 24, audio=(tone, 44100), still=True,
                         frames=ahead) as writer:
            for frame, _boxes in frames:
                writer.write(frame)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    with (pytest.raises(MediaError, match="5 frames written, 30 declared"),
          VideoWriter(tmp_path / "short.mp4", *SIZE, 24, audio=(tone, 44100),
                      frames=30) as writer):
        for frame, _boxes in frames[:5]:
            writer.write(frame)
    assert not (tmp_path / "short.mp4").exists()


@pytest.mark.parametrize("profile, gop", [("web", None), ("kdenlive", 24)])
def test_the_placeholder_is_a_normal_movie_of_its_frames(tiny_production: Path, tmp_path: Path,
                                                         profile: str, gop: int | None) -> None:
    settings = tiny_production / "soloreel.toml"
    settings.write_text(settings.read_text() + f'\n[encode]\nprofile = "{profile}"\n')
    y, x = np.mgrid[0:90, 0:160]  # a smooth plate: the comparison is of the encode, not noise
    save_png(tiny_production / "sets" / "yard" / "plate.png",
             np.stack([x * 255 // 160, y * 255 // 90, 128 + 0 * x], -1).astype(np.uint8))
    spec = spec_dict("s-001", **SCENE)
    edit = make_timeline([make_clip(spec, "TWO HANDER", frames=60)])
    write_timeline(edit, tiny_production / "timelines" / "edit.otio")
    production = load_production(tiny_production)
    cache = RenderCache(production.renders_dir())
    (ref,) = list(iter_shots(edit))
    plan = link_plan(plan_shot(ref, production, cache, "placeholder"), production, cache,
                     render=True)
    assert plan.result is not None, plan.error
    media = plan.result.media
    info = probe(media)
    handles = production.settings.production.handles
    assert info.frame_count == plan.frames == 60 + 2 * handles
    assert (info.codec, info.pix_fmt, info.fps, (info.width, info.height)) == (
        "h264", "yuv420p", 24, (160, 90))
    assert info.audio_codec == "aac" and info.audio_duration == pytest.approx(
        info.duration, abs=0.03)
    with av.open(str(media)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.profile == "High"
        keys = [i for i, p in enumerate(container.demux(stream)) if p.size and p.is_keyframe]
    assert keys[0] == 0 and (keys == list(range(0, info.frame_count, gop)) if gop
                             else len(keys) >= 1)
    decoded = list(read_frames(media))
    assert len(decoded) == info.frame_count
    expected = list(painter.render_placeholder_frames(
        plan.spec, production, 160, 90, plan.frames, 24, plan.ref.label,
        handles=(handles, handles), start_seconds=plan.first / 24 - plan.spec.shot.origin))
    middle = handles + 30  # mid-shot, a line highlighted, figures moving
    error = np.abs(decoded[middle].astype(int) - expected[middle].astype(int)).mean()
    usual = tmp_path / "usual.mp4"  # the same frames as every other tier encodes them
    with VideoWriter(usual, 160, 90, 24, profile=profile) as writer:
        for frame in expected:
            writer.write(frame)
    reference = list(read_frames(usual))[middle]
    assert error <= 1.1 * np.abs(reference.astype(int) - expected[middle].astype(int)).mean()


def test_the_error_slate_is_one_picture_encoded_as_a_still(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from render_engine.tiers import placeholder as tier

    writers: list[VideoWriter] = []
    original = VideoWriter.__enter__
    monkeypatch.setattr(VideoWriter, "__enter__",
                        lambda self: (writers.append(self), original(self))[1])
    path = tmp_path / "failed.mp4"
    tier.write_error_slate(path, 160, 90, 30, 24, "s-001", "CUDA out of memory")
    assert probe(path).frame_count == 30
    assert writers[0].still and writers[0].frames_copied == 29  # no encoder after frame 0
    assert writers[0].regions_converted == 0


def test_a_slate_without_walkers_is_a_still_picture_between_its_states(
        tiny_production: Path, tmp_path: Path) -> None:
    """Nothing ticks and no one sways: the frames of a shot whose blocking does not move are
    one picture per slate state (head handle, each line spoken, tail handle), the painter says
    so (`changed == []`), and the writer hands the encoder the same picture again."""
    still = {"characters": [{"name": "jane", "position": [0.8, 3.0], "action": "talk"},
                            {"name": "john", "position": [-0.8, 3.5], "action": "sit"}]}
    fast = _incremental(tiny_production, _spec(**still), frames=96, handles=(6, 6))
    taken_whole = [index for index, (_f, changed) in enumerate(fast) if changed != []]
    distinct = {hashlib.sha256(frame.tobytes()).hexdigest() for frame, _c in fast}
    assert taken_whole[0] == 0 and taken_whole[1] == 6  # the head handle, then the cut
    assert len(distinct) == len(taken_whole) <= 5  # head, line 1, line 2, after, tail
    for index in taken_whole[1:]:  # a new state says where it differs from the last frame
        frame, changed = fast[index]
        outside = np.ones(frame.shape[:2], bool)
        for x0, y0, x1, y1 in changed:
            outside[y0:y1, x0:x1] = False
        assert not (frame != fast[index - 1][0]).any(axis=2)[outside].any()
        assert 0 < sum((b[2] - b[0]) * (b[3] - b[1]) for b in changed) <= outside.size
    path = tmp_path / "still.mp4"
    with VideoWriter(path, *SIZE, 24, still=True, frames=len(fast)) as writer:
        for frame, changed in fast:
            writer.write(frame, changed=changed)
    assert writer.frames_copied + writer.frames_repeated == len(fast) - len(taken_whole)
    assert writer.frames_copied > 0.8 * len(fast)
    decoded = list(read_frames(path))
    assert len(decoded) == 96
    start = max(index for index in taken_whole if index <= 50)
    later = [i for i in taken_whole if i > 50]
    end = later[0] if later else 96
    error = [np.abs(decoded[i].astype(int) - fast[i][0].astype(int)).mean()
             for i in range(start, end)]
    assert max(error) <= error[0] + 0.1  # the repeated picture only gets refined


def test_the_slate_shows_the_source_timecode_of_the_cut(tiny_production: Path) -> None:
    """The counter panel names the cut's first source frame as timecode (what the movie's
    timecode track and the NLE say there), not a running count."""
    prod = load_production(tiny_production)
    painted = []
    for first in (0, 86400 + 12):
        frames = painter.render_placeholder_frames(
            _spec(characters=[], dialog=[]), prod, 640, 360, 30, 24, "s-001",
            handles=(12, 12), source_first=first)
        painted.append(next(iter(frames)))
    shot = painter._Shot(_spec(characters=[], dialog=[]), prod, 640, 360, 30, 24, "s-001",
                         (12, 12), None, 86400 + 12)
    assert shot.slate.tc_text == "01:00:01:00"
    assert shot.slate.frames_text == "6 fr + 12/12 handles"
    x0, y0, x1, y1 = shot.slate.counter_box
    assert not np.array_equal(painted[0][y0:y1, x0:x1], painted[1][y0:y1, x0:x1])
    outside = np.ones(painted[0].shape[:2], bool)
    outside[y0:y1 + 1, x0:x1 + 1] = False
    assert np.array_equal(painted[0][outside], painted[1][outside])


@pytest.mark.parametrize("size", [(640, 360), (320, 180), (200, 112)])
def test_each_slate_state_is_the_overlay_composited_over_the_whole_plate(
        tiny_production: Path, size: tuple[int, int]) -> None:
    """Compositing only inside the panels' boxes gives the frame compositing everywhere
    gives, in every state (lines, handles, no dialog)."""
    prod = load_production(tiny_production)
    for spec in (_spec(), _spec(dialog=[]), _spec(characters=[])):
        shot = painter._Shot(spec, prod, *size, 96, 24, "s-001 A LONG LABEL", (6, 6), None, 0)
        for active in (None, *range(len(spec.dialog))):
            for handle in (None, "head", "tail"):
                state = shot.slate.state(active, handle)
                overlay = np.asarray(shot.slate._overlay(active, handle)).astype(np.uint16)
                alpha = (overlay[..., 3:4] * 256 + 127) // 255
                whole = ((shot.plate.image * (256 - alpha) + overlay[..., :3] * alpha) >> 8)
                assert np.array_equal(state.base, whole.astype(np.uint8)), (active, handle)
