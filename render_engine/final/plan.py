"""What one shot's final render will be, decided without torch: model, mode, steps, sizes.

Shared by the renderer, the batch grouping and the dry-run estimate so all three agree. The
mode defaults from the model's kind (a VACE model renders `vace_layers`, an i2v model `i2v`,
a v2v model `v2v_refine`, a t2v model `t2v`); a spec may ask for any mode its model can do.
A production seen through `quality.with_quality(…, "draft")` plans drafts: the model's
step-distilled LoRA as one more adapter, its `draft_steps`, guidance 1; one seen through
`with_quality(…, "keyframe")` plans the full final's render for one frame (`quality`
"keyframe"). A shot with an approved keyframe plans its final anchored on it (`anchor`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from render_engine.bible import ModelEntry, Production, normalise_name
from render_engine.errors import SoloreelError
from render_engine.final.latents import native_frames_for, render_size
from render_engine.final.quality import (
    DRAFT_ADAPTER,
    DRAFT_GUIDANCE,
    draft_lora_path,
    quality_of,
)
from render_engine.spec import ShotSpec

DEFAULT_STEPS = 30
DEFAULT_GUIDANCE = 5.0
DEFAULT_STRENGTH = 0.5
"""v2v_refine: how far from the approved proxy the final may move (≈0.3–0.6)."""

DEFAULT_MODE = {"t2v": "t2v", "i2v": "i2v", "v2v": "v2v_refine", "vace": "vace_layers",
                "animate": "animate"}
ANIMATE_GUIDANCE = 1.0
"""animate's guidance when the shot sets none: Wan 2.2 Animate runs without CFG by default
(diffusers' WanAnimatePipeline `guidance_scale` default, the face is blanked for the
unconditional pass when CFG is used)."""
DEFAULT_CONDITIONING_SCALE = 1.0
"""VACE's control strength when the model entry sets none (the scale it was trained at)."""
MODE_KINDS: dict[str, tuple[str, ...]] = {
    "t2v": ("t2v", "v2v"),
    "v2v_refine": ("v2v", "t2v"),
    "i2v": ("i2v",),
    "vace_layers": ("vace",),
    "vace_inpaint": ("vace",),
    "animate": ("animate",),
    "animate_replace": ("animate",),
}
"""Which model kinds can render each mode (t2v and v2v share one set of weights)."""


class FinalSpecProblem(SoloreelError):
    """A shot whose final settings contradict the bible (a mode its model cannot render, a
    layered shot with a character that has no cut-out): the final cannot be keyed or
    rendered, so `status`, `plan`, the dry run and `render` all report the shot invalid with
    this message, before any GPU work."""


@dataclass(frozen=True)
class LoraUse:
    """A character LoRA a shot uses: adapter name (the character), file, weight."""

    name: str
    path: str
    weight: float


@dataclass
class FinalPlan:
    """The resolved final-tier settings of one shot."""

    model: str
    entry: ModelEntry
    mode: str
    steps: int
    guidance: float
    strength: float
    seed: int
    width: int
    height: int
    """Render size (/16); the media is resized to the tier's size if that differs."""
    loras: tuple[LoraUse, ...] = field(default_factory=tuple)
    """Character LoRAs (leads of the shot), by name."""
    triggers: tuple[str, ...] = field(default_factory=tuple)
    quality: str = "full"
    """"full", "draft" (step-distilled LoRA, few steps, guidance 1) or "keyframe" (one
    frame)."""
    draft_lora: LoraUse | None = None
    """The step-distilled LoRA of a draft (adapter `quality.DRAFT_ADAPTER`)."""
    characters: tuple[str, ...] = field(default_factory=tuple)
    """The shot's known characters (normalised names, spec order): vace_layers renders one
    layer per character or touching group."""
    conditioning_scale: float = DEFAULT_CONDITIONING_SCALE
    """VACE modes: diffusers' `conditioning_scale` (how strongly the control video steers)."""
    anchor: str | None = None
    """SHA-256 of the approved keyframe a full final or draft starts from
    (`render.final.keyframe.sha256`; never set for a keyframe render itself)."""

    @property
    def denoise_steps(self) -> int:
        """Denoising steps the pipeline really runs: v2v_refine skips the first
        (1 − strength) of its schedule, as diffusers' WanVideoToVideoPipeline does
        (`get_timesteps`: int(steps × strength)); the dry run and the manifest both count
        these."""
        if self.mode == "v2v_refine":
            return max(1, min(self.steps, int(self.steps * self.strength)))
        return self.steps

    @property
    def adapters(self) -> tuple[LoraUse, ...]:
        """Every adapter this render needs active: the character LoRAs and a draft's LoRA."""
        return self.loras + ((self.draft_lora,) if self.draft_lora else ())

    @property
    def lora_key(self) -> tuple[tuple[str, str, float], ...]:
        """The adapter set as a hashable key (jobs with equal keys share loaded adapters)."""
        return tuple((u.name, u.path, u.weight) for u in self.adapters)

    def wan_frames(self, frame_count: int, fps: float) -> int:
        """Native 16 fps frames (4k+1) spanning `frame_count` frames at `fps`."""
        return native_frames_for(frame_count, fps)


def model_folder_problem(production: Production, name: str) -> str | None:
    """What is wrong with a model's local folder (None when it is a diffusers pipeline folder,
    or the source is a hub id): the check `registry.resolve_source` makes before loading,
    for `validate` and the dry run, which load nothing."""
    from pathlib import Path

    from render_engine.final.registry import _looks_local

    entry = production.settings.models.get(name)
    if entry is None:
        return None
    if entry.backend == "comfyui":  # no folder: its workflow checked against its server
        from render_engine.comfyui.backend import model_problem

        return model_problem(production, name)
    candidate = Path(entry.source).expanduser()
    if not candidate.is_absolute():
        candidate = production.root / candidate
    if not (candidate.exists() or _looks_local(entry.source, production.root)):
        return None
    if candidate.is_dir() and (candidate / "model_index.json").is_file():
        return None
    what = "does not exist" if not candidate.exists() else (
        "is not a diffusers pipeline folder (no model_index.json)")
    return (f'model "{name}": folder {candidate} {what}; download or convert the weights there '
            f"(diffusers format, safetensors), or fix models.{name}.source in soloreel.toml")


def shot_characters(spec: ShotSpec, production: Production) -> list:
    """The cast members a shot shows, in spec order, unknown names skipped (validate flags
    them)."""
    members = []
    for char in spec.characters:
        try:
            members.append(production.member(char.name))
        except SoloreelError:
            continue
    return members


def plan_final(spec: ShotSpec, production: Production) -> FinalPlan:
    """Resolve the final-tier settings of a shot; raises SoloreelError naming what to fix."""
    settings = production.settings
    tier = settings.tier("final")
    wanted = spec.render.final
    name = wanted.model or tier.model
    if not name:
        known = ", ".join(sorted(settings.models)) or "none"
        raise SoloreelError(
            "no model for the final tier: set tiers.final.model in soloreel.toml or "
            f"render.final.model in the shot (models defined: {known})")
    entry = settings.models.get(name)
    if entry is None:
        known = ", ".join(sorted(settings.models)) or "none"
        raise SoloreelError(f'model "{name}" is not in [models] of soloreel.toml; known: {known}')
    mode = wanted.mode or DEFAULT_MODE[entry.kind]
    if entry.kind not in MODE_KINDS[mode]:
        able = sorted(n for n, e in settings.models.items() if e.kind in MODE_KINDS[mode])
        raise FinalSpecProblem(
            f'render.final.mode: {mode} needs a model of kind {" or ".join(MODE_KINDS[mode])}, '
            f'but model "{name}" is of kind {entry.kind}; set render.final.mode to '
            f"{DEFAULT_MODE[entry.kind]} (what {entry.kind} models render) or "
            + (f"render.final.model to one of: {', '.join(able)}" if able else
               f'add a [models.NAME] of kind "{MODE_KINDS[mode][0]}" to soloreel.toml'))
    if mode == "vace_layers":
        for member in shot_characters(spec, production):
            if not member.views:
                raise FinalSpecProblem(
                    f'render.final.mode: vace_layers composites each character like the '
                    f'proxy, but character "{member.name}" has no views; add [views.front] '
                    f"to cast/{member.name}.toml (soloreel cast new {member.name} --from "
                    "PICTURE) or render this shot with mode vace_inpaint")
    if mode.startswith("animate"):
        lead = next(iter(shot_characters(spec, production)), None)
        if lead is None:
            raise FinalSpecProblem(
                "render.final.mode: animate moves one character from its sheet image, but "
                "this shot shows no known character; add one to the shot or use t2v")
        if not (lead.reference_images or lead.views):
            raise FinalSpecProblem(
                f'render.final.mode: animate starts from the sheet image of "{lead.name}", '
                f"which has neither reference_images nor views; add one to "
                f"cast/{lead.name}.toml (soloreel cast new {lead.name} --from PICTURE)")
    loras: list[LoraUse] = []
    triggers: list[str] = []
    for member in shot_characters(spec, production):
        if member.trigger and member.trigger not in triggers:
            triggers.append(member.trigger)
        if member.lora is not None and member.role == "lead":
            path = production.cast_file(member, member.lora.path)
            loras.append(LoraUse(normalise_name(member.name), str(path), member.lora.weight))
    width, height = render_size(tier.width, tier.height)
    steps = wanted.steps or tier.steps or DEFAULT_STEPS
    guidance = ((ANIMATE_GUIDANCE if mode.startswith("animate") else DEFAULT_GUIDANCE)
                if wanted.guidance is None else wanted.guidance)
    quality, draft = quality_of(entry), None
    if quality == "draft":
        path = draft_lora_path(production, entry)
        if path is None:
            raise SoloreelError(
                f'--quality draft needs a step-distilled LoRA for model "{name}": set '
                f'models.{name}.draft_lora = "models/<lightx2v-or-causvid>.safetensors" in '
                "soloreel.toml (a Wan 2.1 LoRA matching this model), or render --quality full")
        if not path.is_file():
            raise SoloreelError(
                f'draft LoRA of model "{name}" ({path}) does not exist; put the file there or '
                f"fix models.{name}.draft_lora in soloreel.toml")
        draft = LoraUse(DRAFT_ADAPTER, str(path), 1.0)
        steps, guidance = entry.draft_steps, DRAFT_GUIDANCE
    approved = wanted.keyframe.sha256 if wanted.keyframe is not None else None
    if mode.startswith("animate") and (quality == "keyframe" or approved):
        raise SoloreelError(
            f"{'--quality keyframe' if quality == 'keyframe' else 'render.final.keyframe'}: "
            f"mode {mode} renders whole takes from the character's sheet and cannot "
            + ("render a single keyframe" if quality == "keyframe" else
               "start from an approved keyframe")
            + "; render this shot with mode vace_layers, vace_inpaint, i2v or t2v, or "
            "clear its approval (soloreel approve EDIT --shots N --clear)")
    return FinalPlan(
        model=name, entry=entry, mode=mode, steps=steps, guidance=guidance,
        strength=wanted.strength or DEFAULT_STRENGTH, seed=spec.seed, width=width,
        height=height, loras=tuple(sorted(loras, key=lambda u: u.name)),
        triggers=tuple(triggers), quality=quality, draft_lora=draft,
        characters=tuple(normalise_name(m.name) for m in shot_characters(spec, production)),
        conditioning_scale=(DEFAULT_CONDITIONING_SCALE if entry.conditioning_scale is None
                            else entry.conditioning_scale),
        anchor=None if quality == "keyframe" else approved)
