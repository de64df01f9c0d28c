"""Wan's geometry rules and the seeded initial noise of a shot.

Wan 2.1 renders 4k+1 frames (its VAE compresses time by 4, keeping the first frame) at sizes
divisible by 16 (VAE ÷8 × patch 2). The initial noise is drawn on the CPU from the spec's seed
at the *final* latent shape and handed to the pipeline as `latents=`, so every GPU (and the CPU
in tests) starts from the same noise. Noise is shape-bound: a different size, frame count or
number of VACE reference images gives unrelated noise (REFERENCE.md), which is why drafts keep
the final's shape and cut steps instead.
"""

from __future__ import annotations

import math
from typing import Any

WAN_FPS = 16
"""Wan 2.1's native frame rate."""
WAN_MAX_FRAMES = 81
"""Frames per Wan render (≈5 s); longer shots render as overlapping segments."""
SIZE_MULTIPLE = 16
TEMPORAL_FACTOR = 4
SPATIAL_FACTOR = 8


def wan_frame_count(frames: int) -> int:
    """The smallest 4k+1 frame count ≥ `frames` (at least 1)."""
    if frames <= 1:
        return 1
    return 4 * math.ceil((frames - 1) / 4) + 1


def round_size(value: int, multiple: int = SIZE_MULTIPLE) -> int:
    """`value` rounded to the nearest multiple of 16 (at least 16)."""
    return max(multiple, round(value / multiple) * multiple)


def render_size(width: int, height: int) -> tuple[int, int]:
    """The (width, height) Wan renders for a tier size: each side rounded *up* to /16, so the
    tier's frame is a centre crop of the render (`retime.crop_frames`) — never a stretch."""
    return ceil_size(width), ceil_size(height)


def ceil_size(value: int, multiple: int = SIZE_MULTIPLE) -> int:
    """The smallest multiple of 16 (at least 16) that is ≥ `value`."""
    return max(multiple, math.ceil(value / multiple) * multiple)


def native_frames_for(frame_count: int, fps: float) -> int:
    """Wan frames (at 16 fps) that span `frame_count` timeline frames at `fps`, as 4k+1.

    The timeline frames sit at t = i / fps for i < frame_count; Wan frame j at t = j / 16 must
    reach the last of them, so we need ceil((frame_count - 1) * 16 / fps) + 1 frames.
    """
    if frame_count <= 1:
        return 1
    needed = math.ceil((frame_count - 1) * WAN_FPS / fps - 1e-9) + 1
    return wan_frame_count(needed)


def latent_shape(width: int, height: int, frames: int, channels: int = 16,
                 reference_images: int = 0, temporal: int = TEMPORAL_FACTOR,
                 spatial: int = SPATIAL_FACTOR) -> tuple[int, int, int, int, int]:
    """(batch, channels, latent frames, h, w) of a render; VACE reference images add one
    latent frame each in front of the video's."""
    latent_frames = (frames - 1) // temporal + 1 + reference_images
    return (1, channels, latent_frames, height // spatial, width // spatial)


def initial_latents(seed: int, shape: tuple[int, ...]) -> Any:
    """Standard normal noise of `shape` (float32) from a CPU generator seeded with `seed`.

    The pipeline moves and casts it to its device and dtype; drawing on the CPU makes the
    numbers independent of the GPU model and driver.
    """
    import torch

    generator = torch.Generator("cpu").manual_seed(int(seed))
    return torch.randn(shape, generator=generator, dtype=torch.float32)


def cpu_generator(seed: int) -> Any:
    """A CPU torch generator seeded with `seed` (for noise the pipeline draws itself, v2v)."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed))
