"""GPU-minute estimates: published anchors, scaling, recorded runs, the dry-run table."""

from __future__ import annotations

import pytest

from render_engine.bible import ModelEntry
from render_engine.cli import main
from render_engine.final.cost import REFERENCE_TOKENS, estimate, recorded_runs, token_factor
from render_engine.final.plan import FinalPlan


def _plan(source: str, steps: int = 50, width: int = 832, height: int = 480,
          profile: str = "80gb", mode: str = "t2v", kind: str = "t2v") -> FinalPlan:
    entry = ModelEntry(source=source, kind=kind, memory_profile=profile)
    return FinalPlan(model="m", entry=entry, mode=mode, steps=steps, guidance=5.0,
                     strength=0.5, seed=1, width=width, height=height)


def test_published_anchors_reproduce_their_figures() -> None:
    big = estimate(_plan("Wan-AI/Wan2.1-T2V-14B-Diffusers"), 121, 24, gpu="h100")
    assert big.wan_frames == 81 and big.forwards == 100
    assert 6.0 <= big.minutes <= 8.5  # "≈6–8 min per 50-step clip with CFG"
    small = estimate(_plan("Wan-AI/Wan2.1-T2V-1.3B-Diffusers"), 121, 24, gpu="rtx4090")
    assert 3.5 <= small.minutes <= 4.6  # "≈4 min for 5 s at 480p on an RTX 4090"
    assert any("README" in s for s in small.sources)


def test_cost_scales_with_steps_pixels_and_gpu() -> None:
    base = estimate(_plan("x/Wan2.1-T2V-14B"), 121, 24, gpu="h100")
    half_steps = estimate(_plan("x/Wan2.1-T2V-14B", steps=25), 121, 24, gpu="h100")
    assert half_steps.seconds == pytest.approx(base.seconds / 2, rel=0.1)
    big = estimate(_plan("x/Wan2.1-T2V-14B", width=1280, height=720), 121, 24, gpu="h100")
    assert big.seconds > 2.25 * base.seconds * 0.9  # more than linear in pixels
    assert token_factor(2 * REFERENCE_TOKENS, 0.5) == pytest.approx(3.0)
    slow = estimate(_plan("x/Wan2.1-T2V-14B"), 121, 24, gpu="rtx4090")
    assert slow.seconds > 4 * base.seconds and any("TFLOP" in s for s in slow.sources)
    offload = estimate(_plan("x/Wan2.1-T2V-14B", profile="12gb"), 121, 24, gpu="h100")
    assert offload.seconds > base.seconds


def test_recorded_runs_replace_the_published_figure() -> None:
    manifest = {"cost": {"model_class": "14b", "alpha": 0.51, "gpu": "h100",
                         "tokens": REFERENCE_TOKENS, "forwards": 100, "denoise_seconds": 300.0,
                         "mode": "t2v"}}
    assert recorded_runs([manifest], "14b", "h100") == [pytest.approx(3.0)]
    cost = estimate(_plan("x/Wan2.1-T2V-14B"), 121, 24, manifests=[manifest], gpu="h100")
    assert "recorded" in cost.sources[0]
    assert cost.minutes < estimate(_plan("x/Wan2.1-T2V-14B"), 121, 24, gpu="h100").minutes


def test_dry_run_prints_gpu_minutes_and_sources(demo_copy, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SOLOREEL_GPU", "rtx4090")
    monkeypatch.setenv("COLUMNS", "200")
    edit = demo_copy / "timelines" / "campfire.otio"
    code = main(["render", str(edit), "--tier", "final", "--dry-run",
                 "--production", str(demo_copy)])
    out = capsys.readouterr().out
    assert code == 0
    assert "GPU min" in out and "total GPU time to render" in out
    assert "832x480" in out and "README" in out
    total = float(out.split("total GPU time to render:")[1].split("min")[0])
    assert 5 < total < 120
