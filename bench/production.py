"""A throwaway production for benchmarks: a painted plate, two cast members, N shots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import opentimelineio as otio
import tomli_w
from PIL import Image

from render_engine.spec import SHOT_ORIGIN_SECONDS, ShotSpec, write_spec
from render_engine.timeline_io import write_timeline

SIZES = ("WS", "MS", "MCU", "CU", "TWO", "OTS")


def make_production(root: Path, width: int = 640, height: int = 360) -> Path:
    """Write a small production whose placeholder tier renders at width x height."""
    (root / "sets" / "stage").mkdir(parents=True)
    (root / "timelines").mkdir()
    y, x = np.mgrid[0:720, 0:1280]
    plate = np.stack([x * 200 // 1280, y * 180 // 720, 90 + 0 * x], -1).astype(np.uint8)
    Image.fromarray(plate).save(root / "sets" / "stage" / "plate.png")
    (root / "soloreel.toml").write_text(tomli_w.dumps({
        "production": {"name": "bench", "fps": 24, "handles": 12},
        "tiers": {"placeholder": {"width": width, "height": height}},
    }))
    (root / "sets" / "stage.toml").write_text(tomli_w.dumps({
        "name": "stage", "plate": {"kind": "flat", "image": "stage/plate.png"}}))
    (root / "cast").mkdir()
    for name in ("ann", "bob"):
        (root / "cast" / f"{name}.toml").write_text(tomli_w.dumps({"name": name}))
    return root


def make_edit(root: Path, shots: int, frames: int = 48) -> Path:
    """A one-track edit of `shots` silent shots (dialog would time TTS, not linking)."""
    timeline = otio.schema.Timeline(name="bench")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    for index in range(shots):
        spec = ShotSpec.model_validate({
            "shot": {"id": f"b-{index:03d}", "size": SIZES[index % len(SIZES)]},
            "set": "stage", "seed": index,
            "characters": [{"name": "ann", "position": [-0.8, 3.0]},
                           {"name": "bob", "position": [0.9, 3.5], "action": "talk"}],
        })
        clip = otio.schema.Clip(name=f"shot {index}", source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(SHOT_ORIGIN_SECONDS * 24, 24),
            otio.opentime.RationalTime(frames, 24)))
        write_spec(clip, spec)
        track.append(clip)
    path = root / "timelines" / "bench.otio"
    write_timeline(timeline, path)
    return path
