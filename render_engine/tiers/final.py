"""The final tier: Wan 2.1 through diffusers, written into the cache like any tier.

Resolves the shot's final settings (model, mode, steps — `render_engine.final.plan`), renders
its frames through the process-wide model registry (so consecutive shots with one model load
it once), centre-crops them to the tier's size when that is not a multiple of 16 (Wan renders
the next multiple up), and streams them into the
production's encode profile with the dialog muxed, exactly `job.frame_count` frames (cut plus
handles) at the timeline's fps. The manifest records quality (full or draft), model, LoRAs,
seed, steps, guidance, inputs and timings; its `cost` block refines later dry-run estimates.
A draft renders here too: `job.production` is then the draft view of the production
(`render_engine.final.quality.with_quality`), which `plan_final` turns into a draft plan.
A keyframe (`--quality keyframe`) renders one frame: the entry holds it as `keyframe.png` at
the tier's size (what `soloreel approve` pins and the storyboard shows) and, for the NLE, a
still movie of the shot's length holding that frame with a small KEYFRAME tag in its corner
(so a held still on the timeline is never mistaken for a final), dialog muxed.
"""

from __future__ import annotations

import hashlib
import io
import time
from typing import Any

import numpy as np

from render_engine.errors import SoloreelError
from render_engine.final.plan import plan_final
from render_engine.final.registry import shared_registry
from render_engine.final.retime import crop_frames
from render_engine.final.shot import render_frames
from render_engine.render import RenderJob
from render_engine.tiers.movie import shot_dialog, write_shot_movie


def render(job: RenderJob) -> dict[str, Any]:
    """Write the shot's final movie (handles included) to `job.out_path`; manifest details."""
    plan = plan_final(job.spec, job.production)
    if plan.entry.backend == "comfyui":  # the creator's ComfyUI server renders it
        from render_engine.comfyui.backend import render_tier

        if plan.quality == "keyframe" or plan.anchor:
            raise SoloreelError(
                f'{job.label}: model "{plan.model}" renders through ComfyUI, whose workflow '
                "takes no one-frame keyframe nor approved first frame; render keyframes and "
                "anchored finals with a diffusers model (render.final.model), or clear the "
                "approval (soloreel approve EDIT --shots N --clear)")

        return render_tier(job)
    lines, audio = shot_dialog(job)
    shot = render_frames(job, plan, shared_registry(job.production))
    frames = crop_frames(shot.frames, job.width, job.height)
    started = time.perf_counter()
    if plan.quality == "keyframe":
        shot.details.update(_write_keyframe(job, frames[0]))
        tagged = tag_keyframe(frames[0])
        frames = (tagged for _ in range(job.frame_count))  # type: ignore[assignment]
    count = write_shot_movie(job, frames, "final", audio)
    shot.details["stage_seconds"]["encode"] = round(time.perf_counter() - started, 4)
    return {"media_frames": count, "dialog_lines": len(lines), **shot.details}


def _write_keyframe(job: RenderJob, frame: np.ndarray) -> dict[str, Any]:
    """Write the keyframe's still beside the movie (atomically); its manifest details."""
    from PIL import Image

    from render_engine.atomic import write_bytes_atomic
    from render_engine.final.keyframes import KEYFRAME_PNG

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buffer, "PNG")
    write_bytes_atomic(job.out_path.parent / KEYFRAME_PNG, buffer.getvalue())
    return {"keyframe_png": KEYFRAME_PNG,
            "keyframe_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "keyframe_size": [int(frame.shape[1]), int(frame.shape[0])]}


def tag_keyframe(frame: np.ndarray) -> np.ndarray:
    """The frame with a small "KEYFRAME" tag in its top-left corner (the still movie's
    frames; the PNG stays clean)."""
    import cv2

    out = np.ascontiguousarray(frame.copy())
    height = out.shape[0]
    scale = max(0.25, height / 720 * 0.6)
    thickness = max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize("KEYFRAME", cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(2, h // 3)
    cv2.rectangle(out, (0, 0), (w + 2 * pad, h + base + 2 * pad), (20, 20, 20), -1)
    cv2.putText(out, "KEYFRAME", (pad, h + pad), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 210, 60), thickness, cv2.LINE_AA)
    return out
