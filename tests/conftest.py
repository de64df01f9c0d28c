"""Shared fixtures: small productions built on disk, clips with specs, offline environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio
import pytest
import tomli_w
from PIL import Image

from render_engine.spec import SHOT_ORIGIN_SECONDS, ShotSpec, write_spec

REPO = Path(__file__).resolve().parents[1]
DEMO_SOURCE = REPO / "timelines" / "campfire"


@pytest.fixture(autouse=True, scope="session")
def _offline_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach a model hub; coqui writes into a temp folder."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["COQUI_TOS_AGREED"] = "1"
    os.environ["TTS_HOME"] = str(tmp_path_factory.mktemp("tts_home"))
    os.environ.pop("SOLOREEL_PRODUCTION", None)
    os.environ["SOLOREEL_JOBS"] = "1"  # renders stay in the test's process (counted, patched);
    # the worker pool has its own tests (test_render_pool.py)


def save_png(path: Path, array: np.ndarray) -> Path:
    """Write an RGB/RGBA uint8 array as PNG (creating folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_tiny_production(root: Path) -> Path:
    """A minimal, valid production: two leads with one cut-out each, one set with a plate."""
    rng = np.random.default_rng(7)
    (root / "timelines").mkdir(parents=True)
    (root / "renders").mkdir()
    (root / "soloreel.toml").write_text(tomli_w.dumps({
        "production": {"name": "Tiny", "fps": 24, "handles": 4},
        "tiers": {"placeholder": {"width": 160, "height": 90},
                  "proxy": {"width": 160, "height": 90},
                  "final": {"width": 64, "height": 48, "steps": 2}},
    }))
    for name in ("jane", "john"):
        figure = np.zeros((64, 32, 4), np.uint8)
        figure[8:60, 8:24] = (*rng.integers(0, 255, 3), 255)
        save_png(root / "cast" / name / "front.png", figure)
        (root / "cast" / f"{name}.toml").write_text(tomli_w.dumps({
            "name": name, "trigger": f"{name.title()}Trigger",
            "views": {"front": {"image": f"{name}/front.png", "feet": [16, 60]}},
            "reference_images": [f"{name}/front.png"],
        }))
    plate = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    save_png(root / "sets" / "yard" / "plate.png", plate)
    (root / "sets" / "yard.toml").write_text(tomli_w.dumps({
        "name": "yard", "default_lighting": "day",
        "plate": {"kind": "flat", "image": "yard/plate.png"},
        "lighting": {"day": {"key_azimuth_deg": -45}},
    }))
    return root


@pytest.fixture
def tiny_production(tmp_path: Path) -> Path:
    """A fresh minimal production folder."""
    return make_tiny_production(tmp_path / "tiny")


def spec_dict(shot_id: str = "s-001", **overrides: Any) -> dict[str, Any]:
    """A valid spec for the tiny production, with overrides."""
    data: dict[str, Any] = {
        "shot": {"id": shot_id, "size": "MCU"},
        "set": "yard",
        "characters": [{"name": "jane", "position": [0.5, 3.0]}],
        "dialog": [{"speaker": "jane", "text": "Pass the marshmallows."}],
        "seed": 42,
    }
    data.update(overrides)
    return data


def make_clip(spec: dict[str, Any] | None, name: str = "clip", frames: int = 48,
              rate: float = 24) -> otio.schema.Clip:
    """A clip with a source range and (optionally) a ShotSpec."""
    clip = otio.schema.Clip(name=name, source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(SHOT_ORIGIN_SECONDS * rate, rate),
        otio.opentime.RationalTime(frames, rate)))
    if spec is not None:
        write_spec(clip, ShotSpec.model_validate(spec))
    return clip


def make_timeline(clips: list[otio.schema.Clip], rate: float = 24) -> otio.schema.Timeline:
    """A one-track timeline starting at 01:00:00:00."""
    timeline = otio.schema.Timeline(
        name="test", global_start_time=otio.opentime.RationalTime(3600 * rate, rate))
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    for clip in clips:
        track.append(clip)
    return timeline


@pytest.fixture(scope="session")
def demo_production(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo production painted once per session into a temp folder (read-only use)."""
    from render_engine.demo.production import build_demo

    dest = tmp_path_factory.mktemp("demo") / "campfire"
    build_demo(dest)
    return dest


@pytest.fixture
def demo_copy(demo_production: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the demo production."""
    dest = tmp_path / "campfire"
    shutil.copytree(demo_production, dest)
    return dest
