"""What a final is conditioned on, as content-hash inputs: the key follows the approved proxy.

A final render reads more than its spec and bible entries: VACE modes follow the proxy's pose
track (or skeletons drawn from the spec when no proxy is rendered), `i2v` starts from the
proxy's first frame (else the plate), `v2v_refine` and `vace_inpaint` re-render the proxy
movie, VACE gets the cast's sheets as reference images, the control video carries faces
driven by the dialog's mouth shapes, and a long take renders as segments that each continue
from the previous one. `final_conditioning` lists all of that as plain JSON for
`render_engine.hashing` (tier "final"), so a changed animatic, a proxy rendered after the
final or a change of the segmenting makes the final stale — and `inputs.proxy_entry` picks the
proxy render with the *same* function (`proxy_renders` + `pick_proxy`), so what the key says
and what the render reads agree.

The proxy enters the key by its content address (the proxy tier's `shot_hash`: every input of
the animatic, the proxy renderer version and settings included) and whether a render of it
exists — not by the bytes of its movie, which differ between encoders while showing the same
animatic. Cheap: file digests are memoised, and the cache is asked for one folder.
No torch here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.final.latents import WAN_MAX_FRAMES

if TYPE_CHECKING:
    from render_engine.bible import Production
    from render_engine.spec import ShotSpec

CONDITIONING_VERSION = 2
"""Bump when what a mode reads (or how it draws its control video) changes."""
SEGMENT_OVERLAP = 9
"""Native frames shared by consecutive segments of a long take (≈0.5 s at 16 fps): the
previous segment's last frames the next one continues from, and the colour-match window."""
PROXY_MODES = frozenset({"i2v", "v2v_refine", "vace_layers", "vace_inpaint", "animate",
                         "animate_replace"})
"""Modes that read the proxy render when it exists (t2v reads only text and seed)."""
CONTINUATION = {
    "vace_layers": "vace_extend", "vace_inpaint": "vace_extend", "i2v": "i2v_last_frame",
    "v2v_refine": "source+latent_overlap", "t2v": "latent_overlap",
    "animate": "animate_prev_frames", "animate_replace": "animate_prev_frames",
}
"""How a segment of a long take continues from the one before, per mode: VACE keeps the
previous segment's last frames (mask black), i2v starts from its last frame, t2v and v2v pin
their first latent frames to the previous segment's last frames (`modes.pin_overlap`; v2v's
source starts with them too), animate is segmented by its pipeline; every join is
colour-matched (see `final.shot`)."""
ANIMATE_PREV_FRAMES = 5
"""animate: frames of the previous segment a long take's next segment is conditioned on
(diffusers' `prev_segment_conditioning_frames`; 1 or 5 recommended there)."""
ANIMATE_FACE = "lead-face-crop-1"
"""animate's face video: square crops around the lead's face (`inputs.face_crops`)."""
FACE_CONTROL = "dwpose-face68-visemes-1"
"""The faces in the control video (68 landmarks from the dialog's mouth shapes, `pose.face`)."""


def max_frames_setting() -> int:
    """Wan frames per render (`SOLOREEL_WAN_MAX_FRAMES`, default 81): segments of long takes."""
    text = os.environ.get("SOLOREEL_WAN_MAX_FRAMES", "").strip()
    try:
        value = int(text) if text else WAN_MAX_FRAMES
    except ValueError as exc:
        raise SoloreelError(f"SOLOREEL_WAN_MAX_FRAMES={text!r} is not a whole number; set it "
                            "to 4k+1 frames (e.g. 81) or unset it") from exc
    if value < 5 or (value - 1) % 4:
        raise SoloreelError(f"SOLOREEL_WAN_MAX_FRAMES={value} must be 4k+1 and at least 5 "
                            "(e.g. 81); fix or unset it")
    return value


def retime_setting() -> str:
    """How Wan's 16 fps becomes the timeline's rate (`SOLOREEL_RETIME`: flow | blend |
    nearest; default flow)."""
    value = os.environ.get("SOLOREEL_RETIME", "").strip() or "flow"
    if value not in ("flow", "blend", "nearest"):
        raise SoloreelError(f"SOLOREEL_RETIME={value!r} is not flow, blend or nearest; fix or "
                            "unset it")
    return value


def segment_overlap(max_frames: int) -> int:
    """Frames shared by consecutive segments at a given render length."""
    return min(SEGMENT_OVERLAP, max(1, (max_frames - 1) // 2))


def proxy_hash(spec: ShotSpec, production: Production) -> str | None:
    """The proxy tier's content address of the shot (None when it cannot be hashed)."""
    from render_engine.hashing import shot_hash

    try:
        return shot_hash(spec, production, "proxy")
    except SoloreelError:
        return None


def proxy_renders(production: Production, content: str | None) -> list[CacheEntry]:
    """Complete proxy renders of one content address (smallest first)."""
    if content is None:
        return []
    return RenderCache(production.renders_dir()).entries("proxy", content)


def pick_proxy(entries: list[CacheEntry], first: int, end: int) -> CacheEntry | None:
    """The proxy render a final of frames [first, end) reads: the smallest one covering them,
    else the one overlapping them most (the same content: its frames are the animatic's at
    those times; frames it lacks hold its nearest), else None."""
    covering = [e for e in entries if e.covers(first, end)]
    if covering:
        return covering[0]
    if not entries:
        return None
    return max(entries, key=lambda e: (min(end, e.end) - max(first, e.first), -e.first))


def final_conditioning(spec: ShotSpec, production: Production) -> dict[str, Any]:
    """Everything beyond the spec, bible and model entry that a final of `spec` conditions
    on, as JSON for the content hash (see the module docstring)."""
    from render_engine.final.plan import FinalSpecProblem, plan_final

    info: dict[str, Any] = {"version": CONDITIONING_VERSION}
    try:
        plan = plan_final(spec, production)
    except FinalSpecProblem:
        raise  # the shot's final contradicts the bible: invalid everywhere, said the same way
    except SoloreelError:  # no model (yet), no draft LoRA: the render itself says what to set
        info["mode"] = None
        return info
    mode = plan.mode
    from render_engine.final.weights import weights_identity

    info["weights"] = weights_identity(production, plan.model)  # hub commit / folder bytes
    max_frames = max_frames_setting()
    info.update(mode=mode, retime=retime_setting(), segments={
        "max_frames": max_frames, "overlap": segment_overlap(max_frames),
        "continuation": CONTINUATION[mode]})
    if mode in PROXY_MODES:
        content = proxy_hash(spec, production)
        info["proxy"] = {"hash": content,
                         "rendered": bool(proxy_renders(production, content))}
    if mode.startswith("vace"):
        info["control"] = {"body": "proxy" if info["proxy"]["rendered"] else "drawn",
                           "face": FACE_CONTROL}
        info["references"] = [[name, files] for name, files in
                              reference_files(spec, production, plan)]
        info["conditioning_scale"] = plan.conditioning_scale
    if mode.startswith("animate"):
        from render_engine.final.plan import shot_characters

        lead = shot_characters(spec, production)[0]
        rendered = info["proxy"]["rendered"]
        info["control"] = {"body": "proxy" if rendered else "drawn", "face": FACE_CONTROL,
                           "face_video": f"{'proxy' if rendered else 'control'}:{ANIMATE_FACE}",
                           "lead": lead.name}
        info["references"] = [[lead.name, member_references(lead)[:1]]]
        info["segments"]["prev_frames"] = ANIMATE_PREV_FRAMES
        if mode == "animate_replace":  # the lead replaced inside the animatic (or plate)
            info["control"]["background"] = "proxy" if rendered else "plate"
    return info


def member_references(member: Any) -> list[str]:
    """The sheet images a VACE pass gets for one cast member (relative to cast/): every
    reference image, else its first view."""
    return list(member.reference_images) or [v.image for v in member.views.values()][:1]


def reference_files(spec: ShotSpec, production: Production, plan: Any
                    ) -> list[tuple[str, list[str]]]:
    """(member name, files) of the reference images a VACE final of `spec` reads, spec order:
    vace_layers gives each layer its members' `member_references`; vace_inpaint (one pass for
    the whole shot) the first of them for every character whose LoRA does not carry them."""
    from render_engine.final.plan import shot_characters

    with_lora = {use.name for use in plan.loras}
    found = []
    for member in shot_characters(spec, production):
        files = member_references(member)
        if plan.mode != "vace_layers":
            if member.name in with_lora:
                continue
            files = files[:1]
        if files:
            found.append((member.name, files))
    return found
