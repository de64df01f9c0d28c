"""Long takes in t2v and v2v_refine continue from the previous segment (issue 18: "segments
continue from the previous segment's last frames"; before, t2v's segments were independent
renders cross-faded over 9 frames). Tiny random Wan models built locally; the join is
measured the way test_final_long_takes measures VACE's."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_engine.final import shot as shot_module  # noqa: E402
from render_engine.final.modes import encode_frames  # noqa: E402
from render_engine.final.plan import plan_final  # noqa: E402
from render_engine.final.registry import ModelRegistry  # noqa: E402
from render_engine.final.retime import to_uint8  # noqa: E402
from tests.conftest import spec_dict  # noqa: E402
from tests.test_final_long_takes import (  # noqa: E402, F401
    _fresh_registry,
    _job,
    _join_steps,
    _plans,
    _production,
    _render_proxies,
    _spy_segments,
    models,
)

pytestmark = pytest.mark.ml


@pytest.mark.parametrize("mode", ["t2v", "v2v_refine"])
def test_a_long_take_continues_from_the_previous_segment(mode, tiny_production, models,  # noqa: F811
                                                         tmp_path, monkeypatch) -> None:
    root = _production(tiny_production, models)
    spec = spec_dict(f"l-{mode[:3]}", dialog=[],
                     render={"final": {"model": "tiny-t2v", "mode": mode}})
    if mode == "v2v_refine":
        _render_proxies(root, [spec], frames=24)
    production, _cache, plans = _plans(root, [spec], frames=24)
    job = _job(plans[0], production, tmp_path)
    seen, outputs, joined = _spy_segments(monkeypatch)
    registry = ModelRegistry(production)
    result = shot_module.render_frames(job, plan_final(job.spec, production), registry,
                                       max_frames=13, retime_method="blend")
    pipe = registry.get("tiny-t2v").pipe
    segments = result.details["segments"]
    assert len(segments) == 3
    assert result.details["continuation"] == ("latent_overlap" if mode == "t2v"
                                              else "source+latent_overlap")
    for index in range(1, len(segments)):
        overlap = segments[index - 1][1] - segments[index][0]
        tail = to_uint8(outputs[index - 1][-overlap:])
        inputs = seen[index]
        assert inputs.overlap is not None and np.array_equal(np.stack(inputs.overlap), tail)
        if mode == "v2v_refine":  # the source starts with the frames it continues
            assert np.array_equal(np.stack(inputs.source[:overlap]), tail)
        # the segment's first frames are exactly the VAE's picture of the previous tail:
        # their latents end pinned to its encoding (Wan's VAE decodes causally in time)
        keep = 4 * ((overlap - 1) // 4) + 1
        z = encode_frames(pipe, list(tail[:keep]))
        config = pipe.vae.config
        mean = torch.tensor(config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(config.latents_std).view(1, -1, 1, 1, 1)
        with torch.no_grad():
            decoded = pipe.vae.decode(z * std + mean).sample
        picture = ((decoded[0].permute(1, 2, 3, 0) / 2 + 0.5).clamp(0, 1)).numpy()
        gap = np.abs(outputs[index][:keep] - picture).max() * 255
        free = np.abs(outputs[0][:keep] - picture).mean() * 255
        print(f"{mode} segment {index}: first {keep} frames vs the tail's VAE picture: max "
              f"{gap:.3f}/255 (the first segment's: mean {free:.2f})")
        assert gap < 0.5
    diffs, at_joins, inside = _join_steps(joined[0], segments)
    print(f"{mode} joins {at_joins}: mean {np.mean(diffs[at_joins]):.2f}, max "
          f"{diffs[at_joins].max():.2f}; inside: mean {np.mean(inside):.2f}, max "
          f"{max(inside):.2f} (/255)")
    assert len(inside) >= 4
    assert diffs[at_joins].max() <= max(inside)
    assert np.mean(diffs[at_joins]) <= np.mean(inside)
