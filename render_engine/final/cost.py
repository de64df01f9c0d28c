"""GPU-minute estimates for final renders, before committing hours of GPU time.

A render's cost is (steps × forwards per step) transformer forwards plus VAE/text overhead.
One forward at the reference workload (480×832, 81 frames = 32 760 latent tokens) is taken
from a table seeded with published figures; other workloads scale with the token count r
(relative to the reference) as α·r + (1−α)·r² — the projections and MLPs grow linearly, the
attention quadratically (α from each model's FLOP split at the reference). Other GPUs scale by
their dense bf16 tensor throughput. vace_layers renders one VACE pass per layer (character or
touching group), so its cost is the sum of the passes; a draft (step-distilled LoRA) costs its
few steps at one forward each (guidance 1: no CFG doubling). Every estimate names its
sources; past renders recorded in the cache manifests (`cost` block) replace the published
figure for that model and GPU.
`final_estimates` is the one place an edit's final GPU minutes are totalled: `render --dry-run`,
the storyboard, the contact sheet and the status plot all print its figures, and with no model
configured its `problem` names the key to set instead of a 0.0-minute total.
No torch here: the dry run must work on a laptop without the ml extra.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from render_engine.bible import ModelEntry, Production
from render_engine.cache import RenderCache
from render_engine.errors import SoloreelError
from render_engine.final.latents import latent_shape, native_frames_for
from render_engine.final.memory import Workload, planned_peak
from render_engine.final.plan import FinalPlan
from render_engine.final.retime import plan_segments

if TYPE_CHECKING:
    from render_engine.freshness import TierState

REFERENCE_TOKENS = 21 * (480 // 16) * (832 // 16)
"""Latent tokens of a 480×832×81 Wan render: 21 latent frames × 30 × 52 patches."""


@dataclass(frozen=True)
class ModelClass:
    """A Wan 2.1 transformer size: hidden width, depth, and the linear share α of one forward
    at the reference workload."""

    name: str
    dim: int
    layers: int
    alpha: float


MODEL_CLASSES = {
    "1.3b": ModelClass("1.3b", 1536, 30, 0.30),
    "14b": ModelClass("14b", 5120, 40, 0.51),
}
"""α: 2·params·tokens (linear) vs 4·tokens²·dim·layers (attention) at 32 760 tokens."""

PUBLISHED: dict[tuple[str, str], tuple[float, str]] = {
    ("1.3b", "rtx4090"): (
        2.4, "Wan 2.1 README (Wan-Video/Wan2.1): T2V-1.3B makes a 5 s 480p clip in ≈4 min on "
        "an RTX 4090 in 8.19 GB (50 steps with CFG ⇒ 240 s / 100 forwards)"),
    ("14b", "h100"): (
        4.6, "published diffusers benchmark quoted in issue #9: one Wan 2.1 14B forward at "
        "480×832×81 ≈ 4.6 s eager / 3.8 s compiled on an H100 (≈6–8 min per 50-step clip "
        "with CFG)"),
}
"""Seconds per transformer forward at the reference workload, measured by others."""

GPU_TFLOPS = {
    "h100": 989.0, "h200": 989.0, "a100": 312.0, "l40s": 362.0, "rtx5090": 209.0,
    "rtx4090": 165.0, "rtx3090": 71.0, "rtx4080": 97.0, "a6000": 155.0,
}
"""Dense bf16 tensor TFLOP/s (fp32 accumulate) from the vendors' spec sheets."""
GPU_NAMES = {"H100": "h100", "H200": "h200", "A100": "a100", "L40S": "l40s", "5090": "rtx5090",
             "4090": "rtx4090", "3090": "rtx3090", "4080": "rtx4080", "A6000": "a6000"}
DEFAULT_GPU = "rtx4090"
"""The design's target desktop (12–24 GB) when no GPU can be seen (a laptop's dry run)."""

PROFILE_FACTOR = {"80gb": 1.0, "24gb": 1.1, "12gb": 1.35}
"""Assumed slow-down of block-level group offload (24gb) and leaf-level offload + fp8 (12gb)."""
MODE_FACTOR = {"t2v": 1.0, "v2v_refine": 1.0, "i2v": 1.05, "vace_layers": 1.2,
               "vace_inpaint": 1.2, "animate": 1.3,
               "animate_replace": 1.3}
"""Assumed extra work per forward: image cross-attention (i2v), VACE context blocks, animate's
pose embedding, face encoder and face cross-attention blocks."""
OVERHEAD_SECONDS = 15.0
"""Assumed text encoding + VAE decode at the reference workload (scales linearly)."""


@dataclass
class ShotCost:
    """The estimate of one shot's final render."""

    frames: int
    wan_frames: int
    segments: int
    steps: int
    width: int
    height: int
    mode: str
    model: str
    model_class: str
    gpu: str
    forwards: int
    seconds: float
    sources: list[str] = field(default_factory=list)
    layers: int = 1
    """Wan renders the shot takes: one per layer (character or touching group) for
    vace_layers, else one."""
    quality: str = "full"
    guidance: float = 1.0
    peak_gib: float | None = None
    """Expected peak GPU memory of one pass at `profile` (render_engine.final.memory)."""
    profile: str = ""

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0


def detect_gpu() -> tuple[str, str]:
    """(gpu key, how it was found): $SOLOREEL_GPU, else nvidia-smi, else the default."""
    wanted = os.environ.get("SOLOREEL_GPU", "").strip().lower()
    if wanted:
        return wanted, "SOLOREEL_GPU"
    if shutil.which("nvidia-smi"):
        try:
            names = subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], check=True,
                capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            names = ""
        for marker, key in GPU_NAMES.items():
            if marker in names:
                return key, f"nvidia-smi ({names.splitlines()[0].strip()})"
    return DEFAULT_GPU, f"no GPU seen; assuming an {DEFAULT_GPU} (set SOLOREEL_GPU)"


def model_class(entry: ModelEntry, production: Production | None = None) -> ModelClass:
    """The transformer size of a registered model: from its name (…1.3B…, …14B…), else from
    a local folder's transformer/config.json (tiny test models get their own class)."""
    text = entry.source.lower().replace("_", ".")
    if re.search(r"1\.3b", text):
        return MODEL_CLASSES["1.3b"]
    if re.search(r"(^|[^0-9])14b", text):
        return MODEL_CLASSES["14b"]
    folder = Path(entry.source)
    if production is not None and not folder.is_absolute():
        folder = production.root / folder
    try:
        config = json.loads((folder / "transformer" / "config.json").read_text())
        dim = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
        layers = int(config["num_layers"])
    except (OSError, ValueError, KeyError, TypeError):
        return MODEL_CLASSES["14b"]
    for known in MODEL_CLASSES.values():
        if known.dim == dim and known.layers == layers:
            return known
    return ModelClass(f"custom-{dim}x{layers}", dim, layers, 0.3)


def _scaled_reference(cls: ModelClass, gpu: str) -> tuple[float, list[str]]:
    """Seconds per forward at the reference workload for a model class on a GPU, with the
    sources: a published figure, else one scaled by GPU throughput and/or model size."""
    if (cls.name, gpu) in PUBLISHED:
        seconds, source = PUBLISHED[(cls.name, gpu)]
        return seconds, [source]
    # nearest published anchor: same class on another GPU, else the 1.3B anchor scaled by size
    anchors = [(k, v) for k, v in PUBLISHED.items() if k[0] == cls.name]
    if anchors:
        (_name, anchor_gpu), (seconds, source) = anchors[0]
        sources = [source]
    else:
        anchor_gpu = "rtx4090"
        seconds, source = PUBLISHED[("1.3b", anchor_gpu)]
        base = MODEL_CLASSES["1.3b"]
        linear = (cls.dim**2 * cls.layers) / (base.dim**2 * base.layers)
        attention = (cls.dim * cls.layers) / (base.dim * base.layers)
        seconds *= base.alpha * linear + (1 - base.alpha) * attention
        sources = [source, f"scaled to a {cls.dim}-wide, {cls.layers}-layer transformer by "
                           "its FLOPs"]
    if gpu != anchor_gpu:
        if gpu not in GPU_TFLOPS:
            sources.append(f'unknown GPU "{gpu}"; using the {anchor_gpu} figure')
        else:
            seconds *= GPU_TFLOPS[anchor_gpu] / GPU_TFLOPS[gpu]
            sources.append(f"scaled {anchor_gpu}→{gpu} by dense bf16 TFLOP/s "
                           f"({GPU_TFLOPS[anchor_gpu]:.0f}→{GPU_TFLOPS[gpu]:.0f})")
    return seconds, sources


def token_factor(tokens: int, alpha: float) -> float:
    """Cost of one forward relative to the reference: α·r + (1−α)·r²."""
    r = tokens / REFERENCE_TOKENS
    return alpha * r + (1 - alpha) * r * r


def recorded_runs(manifests: list[dict[str, Any]], cls: str, gpu: str) -> list[float]:
    """Seconds per reference forward measured by past renders of this model class on this
    GPU (the `cost` block the final tier writes into each manifest)."""
    found = []
    for manifest in manifests:
        cost = manifest.get("cost")
        if not isinstance(cost, dict) or cost.get("model_class") != cls or cost.get("gpu") != gpu:
            continue
        try:
            forwards, seconds = int(cost["forwards"]), float(cost["denoise_seconds"])
            factor = token_factor(int(cost["tokens"]), float(cost["alpha"]))
        except (KeyError, TypeError, ValueError):
            continue
        if forwards > 0 and seconds > 0 and factor > 0:
            found.append(seconds / forwards / factor / MODE_FACTOR.get(cost.get("mode"), 1.0))
    return found


def forwards_per_step(guidance: float) -> int:
    """Transformer forwards per denoising step: two with classifier-free guidance."""
    return 2 if guidance > 1.0 else 1


def layer_references(plan: FinalPlan, production: Production | None) -> list[int]:
    """vace_layers without a layer grouping at hand: one pass per character, each with that
    character's reference images (`layers._references`: all reference images, else one
    view)."""
    counts = []
    for name in plan.characters:
        member = production.cast.get(name) if production is not None else None
        if member is None:
            counts.append(0)
        else:
            counts.append(len(member.reference_images) or min(1, len(member.views)))
    return counts


def estimate(plan: FinalPlan, frames: int, fps: float, production: Production | None = None,
             manifests: list[dict[str, Any]] | None = None, gpu: str | None = None,
             max_frames: int = 81, overlap: int = 9, references: int = 0,
             layers: list[int] | None = None) -> ShotCost:
    """Estimated seconds of GPU time to render one shot of `frames` frames at `fps`.

    `references`: VACE reference images of a single-pass VACE render. `layers`: for
    vace_layers, the reference images of each layer (one VACE pass each: the cost is the sum
    of the passes); None counts one layer per character (`layer_references`). A draft plan
    (few steps, guidance 1) costs its own steps at one forward each."""
    gpu_key = gpu or detect_gpu()[0]
    cls = model_class(plan.entry, production)
    recorded = recorded_runs(manifests or [], cls.name, gpu_key)
    if recorded:
        per_forward = median(recorded)
        sources = [f"median of {len(recorded)} recorded run(s) of this model on {gpu_key}"]
    else:
        per_forward, sources = _scaled_reference(cls, gpu_key)
    wan_frames = native_frames_for(frames, fps)
    if plan.quality == "keyframe":  # one Wan frame: one latent frame (final.quality)
        from render_engine.final.retime import Segment

        wan_frames, segments = 1, [Segment(0, 1, 0)]
    elif plan.mode.startswith("animate"):  # the pipeline's own segments + the reference slot
        from render_engine.final.conditioning import ANIMATE_PREV_FRAMES
        from render_engine.final.retime import animate_segments

        segments = animate_segments(wan_frames, max_frames, ANIMATE_PREV_FRAMES)
        references = 1
    else:
        segments = plan_segments(wan_frames, max_frames, overlap)
    steps = plan.denoise_steps  # the manifest's count too (v2v: int(steps × strength))
    forwards_step = forwards_per_step(plan.guidance)
    if plan.mode == "vace_layers":
        passes = layers if layers is not None else layer_references(plan, production)
    else:
        passes = [references if plan.mode.startswith(("vace", "animate"))
                  else 0]
    seconds = 0.0
    forwards = 0
    for refs in passes:
        for segment in segments:
            shape = latent_shape(plan.width, plan.height, segment.frames, reference_images=refs)
            tokens = shape[2] * (shape[3] // 2) * (shape[4] // 2)
            factor = token_factor(tokens, cls.alpha)
            forwards += steps * forwards_step
            seconds += steps * forwards_step * per_forward * factor * MODE_FACTOR[plan.mode]
            seconds += OVERHEAD_SECONDS * tokens / REFERENCE_TOKENS
    peak = planned_peak(plan.entry, Workload(plan.width, plan.height, segments[0].frames,
                                             max(passes, default=0)), gpu_key,
                        production.root if production is not None else None)
    profile = peak.profile  # `auto` resolved for this card (final.memory)
    seconds *= PROFILE_FACTOR[profile]
    sources.append(f"{profile} profile ×{PROFILE_FACTOR[profile]}, {plan.mode} "
                   f"×{MODE_FACTOR[plan.mode]} (assumed)")
    if plan.mode == "vace_layers":
        sources.append("vace_layers: one VACE pass per layer (character or touching group)")
    if plan.quality == "draft":
        sources.append("draft: step-distilled LoRA, guidance 1 (one forward per step)")
    if plan.quality == "keyframe":
        sources.append("keyframe: the final's render for one Wan frame (one latent frame); "
                       "the edit's keyframes render as one batch, one model load")
    return ShotCost(frames=frames, wan_frames=wan_frames, segments=len(segments), steps=steps,
                    width=plan.width, height=plan.height, mode=plan.mode, model=plan.model,
                    model_class=cls.name, gpu=gpu_key, forwards=forwards, seconds=seconds,
                    sources=sources, layers=len(passes), quality=plan.quality,
                    guidance=plan.guidance, peak_gib=peak.gib, profile=profile)


def cost_record(plan: FinalPlan, cls: ModelClass, gpu: str, tokens: int, forwards: int,
                denoise_seconds: float) -> dict[str, Any]:
    """The `cost` block of a final manifest, read back by `recorded_runs`."""
    return {"model_class": cls.name, "alpha": cls.alpha, "gpu": gpu, "tokens": tokens,
            "forwards": forwards, "denoise_seconds": round(denoise_seconds, 4),
            "mode": plan.mode, "steps": plan.denoise_steps, "size": [plan.width, plan.height],
            "quality": plan.quality}


def reference_count(member: Any) -> int:
    """Reference images a vace_layers layer gets for one cast member (`layers._references`:
    every reference image, else its first view)."""
    return len(member.reference_images) or min(1, len(member.views))


def shot_estimate(shot: Any, production: Production, manifests: list[dict[str, Any]],
                  gpu: str | None = None) -> ShotCost:
    """The estimate of one planned shot (a `render.ShotPlan`) as the renderer will do it:
    the plan `plan_final` makes (a draft's steps and guidance included), and for vace_layers
    the real layer grouping — from the proxy's poses when the proxy is cached, else from the
    drawn ones — with each layer's reference images. No torch, no model."""
    from render_engine.final.conditioning import (
        max_frames_setting,
        reference_files,
        segment_overlap,
    )
    from render_engine.final.inputs import proxy_entry
    from render_engine.final.layers import layer_groups
    from render_engine.final.plan import model_folder_problem, plan_final
    from render_engine.render import RenderJob

    plan = plan_final(shot.spec, production)
    missing = model_folder_problem(production, plan.model)
    if missing:  # a model folder that is not there fails the render: say so now
        raise SoloreelError(missing)
    fps = production.settings.production.fps
    layers: list[int] | None = None
    references = 0
    if plan.mode == "vace_layers":
        tier = production.settings.tier("final")
        job = RenderJob(spec=shot.spec, production=production, tier="final", first=shot.first,
                        end=shot.end, fps=fps, width=tier.width, height=tier.height,
                        out_path=Path(os.devnull), label=shot.ref.label, shown=shot.shown)
        groups = layer_groups(job, plan, proxy_entry(job))
        layers = [sum(reference_count(production.member(name)) for name in group)
                  for group in groups]
    elif plan.mode == "vace_inpaint":
        references = sum(len(files) for _name, files in
                         reference_files(shot.spec, production, plan))
    max_frames = max_frames_setting()
    return estimate(plan, shot.frames, fps, production, manifests, gpu=gpu,
                    max_frames=max_frames, overlap=segment_overlap(max_frames),
                    references=references, layers=layers)


def model_problem(production: Production) -> str | None:
    """What to set when the final tier names no usable model (None when it does): the one
    message every estimate shows instead of a meaningless 0.0 GPU-min."""
    settings = production.settings
    name = settings.tier("final").model
    known = ", ".join(sorted(settings.models)) or "none"
    toml = production.root / "soloreel.toml"
    if not name:
        return (f'no model for the final tier, so no GPU estimate: set [tiers.final] model = '
                f'"NAME" in {toml} and describe it in a [models.NAME] table (source = a local '
                'folder or hub id, kind = "t2v" | "i2v" | "v2v" | "vace", memory_profile = '
                f'"12gb" | "24gb" | "80gb"), or render.final.model on each shot; models '
                f"defined: {known}")
    if name not in settings.models:
        return (f'[tiers.final] model = "{name}" in {toml} has no [models.{name}] table; add '
                f"one (source, kind, memory_profile) or name a defined model: {known}")
    return None


@dataclass
class FinalRow:
    """One shot's line of the final estimate: its state, its cost or why there is none."""

    state: TierState
    cost: ShotCost | None = None
    error: str | None = None

    @property
    def minutes(self) -> float:
        """GPU minutes still to spend on this shot (0 when the render is cached)."""
        return self.cost.minutes if self.cost is not None and self.state.to_render else 0.0


@dataclass
class FinalEstimates:
    """The final tier's GPU estimate of an edit: what `render --dry-run`, the storyboard,
    the contact sheet and the status plot all print."""

    gpu: str
    found: str
    """How the GPU was chosen (`detect_gpu`)."""
    rows: list[FinalRow]
    sources: list[str]
    problem: str | None = None
    """Set when shots cannot be estimated because the final tier has no model (the key to
    set); the totals then leave those shots out."""

    @property
    def total_minutes(self) -> float:
        """GPU minutes to render every final not yet cached."""
        return sum(row.minutes for row in self.rows)

    @property
    def unestimated(self) -> list[FinalRow]:
        """Shots that would render but could not be estimated."""
        return [r for r in self.rows if r.cost is None and r.state.to_render]

    def minutes_of(self, state: TierState) -> float | None:
        """A shot's GPU minutes (None when it could not be estimated)."""
        for row in self.rows:
            if row.state is state:
                return None if row.cost is None and state.to_render else row.minutes
        return None

    def total_text(self) -> str:
        """"30.7 min", or with the shots left out of it."""
        text = f"{self.total_minutes:.1f} min"
        if self.unestimated:
            text += f" (+{len(self.unestimated)} shot(s) not estimated)"
        return text


def final_estimates(states: Sequence[TierState], production: Production, cache: RenderCache,
                    gpu: str | None = None) -> FinalEstimates:
    """The one GPU estimate of the final tier: `shot_estimate` per valid shot (the plan the
    renderer will make), each counted when `render --tier final` would render it
    (`TierState.to_render`). Failures are kept per row (`error`)."""
    from render_engine.estimate import final_manifests

    gpu_key, found = (gpu, "given") if gpu else detect_gpu()
    manifests = final_manifests(cache)
    rows: list[FinalRow] = []
    sources: list[str] = []
    for state in states:
        row = FinalRow(state)
        rows.append(row)
        plan = state.plan
        if plan is None or plan.problem or plan.spec is None:
            row.error = state.reason or "invalid"
            continue
        try:
            row.cost = shot_estimate(plan, production, manifests, gpu_key)
        except SoloreelError as exc:
            row.error = str(exc)
            continue
        sources += [s for s in row.cost.sources if s not in sources]
    problem = model_problem(production)
    if problem is not None and not any(r.error and r.state.to_render for r in rows):
        problem = None  # every shot names its own model
    return FinalEstimates(gpu_key, found, rows, sources, problem)
