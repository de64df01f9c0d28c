"""Wan geometry, retiming, long-shot segments and colour matching (no torch needed)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from render_engine.final.latents import (
    latent_shape,
    native_frames_for,
    render_size,
    round_size,
    wan_frame_count,
)
from render_engine.final.retime import (
    colour_stats,
    join_segments,
    match_colour,
    plan_segments,
    retime,
    sample_frames,
)


def test_frame_counts_are_4k_plus_1_and_cover_the_request() -> None:
    assert [wan_frame_count(n) for n in (1, 2, 5, 6, 80, 81, 82)] == [1, 5, 5, 9, 81, 81, 85]
    for n in range(1, 200):
        count = wan_frame_count(n)
        assert count >= n and (count - 1) % 4 == 0 and count - n < 4


def test_native_frames_span_the_shot_at_16_fps() -> None:
    assert native_frames_for(120, 24) == 81  # 5 s at 24 fps → 80 intervals at 16 fps → 81
    assert native_frames_for(1, 24) == 1
    for frames in (2, 20, 47, 121):
        native = native_frames_for(frames, 24)
        assert (native - 1) / 16 >= (frames - 1) / 24 - 1e-9
        assert (native - 1) % 4 == 0


def test_sizes_round_to_16_and_latents_follow() -> None:
    assert round_size(480) == 480 and round_size(360) == 352 and round_size(8) == 16
    assert render_size(1280, 720) == (1280, 720)
    assert latent_shape(832, 480, 81) == (1, 16, 21, 60, 104)
    assert latent_shape(832, 480, 81, reference_images=2)[2] == 23


def test_retime_gives_exact_count_and_interpolates() -> None:
    ramp = np.linspace(0, 1, 17, dtype=np.float32)[:, None, None, None] * np.ones((1, 4, 4, 3))
    out = retime(ramp, 16, 24, 25, method="blend")
    assert out.shape == (25, 4, 4, 3)
    expected = np.clip(np.arange(25) / 24 * 16, 0, 16) / 16
    assert np.allclose(out[:, 0, 0, 0], expected, atol=1e-5)
    held = retime(ramp, 16, 24, 40)  # past the end the last frame holds
    assert np.allclose(held[-1], ramp[-1])


def test_flow_retime_moves_an_edge_half_way() -> None:
    frames = np.zeros((2, 48, 64, 3), np.float32)
    frames[0, 16:32, 10:26] = 1.0
    frames[1, 16:32, 18:34] = 1.0
    middle = retime(frames, 1, 2, 3, method="flow")[1]
    columns = np.where(middle[24, :, 0] > 0.5)[0]
    assert abs(columns.mean() - 21.5) < 2.0  # the square sits near x=14..29, not smeared


def test_sample_frames_takes_16_fps_from_24() -> None:
    assert sample_frames(5, 24, 16, 100) == [0, 2, 3, 4, 6]
    assert sample_frames(3, 24, 16, 2) == [0, 1, 1]


def test_segments_cover_long_shots_with_overlap() -> None:
    assert plan_segments(81, 81, 9) == plan_segments(79, 81, 9)
    assert len(plan_segments(81, 81, 9)) == 1
    segments = plan_segments(200, 81, 9)
    assert segments[0].start == 0 and segments[-1].end >= 200
    for before, after in itertools.pairwise(segments):
        assert after.start == before.end - 9 and after.overlap == 9
    assert all((s.frames - 1) % 4 == 0 and s.frames <= 81 for s in segments)
    with pytest.raises(ValueError):
        plan_segments(100, 80, 9)


def _scene(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.8, (1, 24, 32, 3)).astype(np.float32)
    drift = np.linspace(0, 0.05, count, dtype=np.float32)[:, None, None, None]
    return np.clip(base + drift, 0, 1)


def test_colour_matching_removes_a_seam() -> None:
    first = _scene(17)
    second = _scene(17)  # the same scene, but the second render came out warmer and darker
    second = np.clip(second * np.array([1.0, 0.8, 0.7], np.float32) + 0.05, 0, 1)
    matched = match_colour(second, second[:5], first[-5:])
    before = np.abs(colour_stats(second[:5])[0] - colour_stats(first[-5:])[0]).max()
    after = np.abs(colour_stats(matched[:5])[0] - colour_stats(first[-5:])[0]).max()
    assert after < before / 10
    joined = join_segments([first, second], [0, 5])
    assert joined.shape[0] == 17 + 17 - 5
    seam = np.abs(joined[12:18].mean(axis=(1, 2, 3)) - first[12:].mean()).max()
    assert seam < 0.03
