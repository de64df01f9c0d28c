"""Approved keyframes: one real frame per shot, pinned into its spec, that its final starts from.

`soloreel render EDIT --tier final --quality keyframe` renders each shot's first frame with
everything its final uses (`final.quality`); the cache entry holds `keyframe.png` (the frame at
the tier's size) beside a still movie of the shot's length. Approving a shot
(`soloreel approve`, or an `approve` marker from the NLE: `nle.orders`) copies that PNG into
the production's keyframe store, `keyframes/<sha256>.png` (content-addressed, outside
`renders/`, so `gc` never takes an approved frame), and writes
`render.final.keyframe = {sha256, seed}` into the shot's spec. The final's content hash covers
the approved SHA-256 (`hashing.hash_inputs`), and its render is anchored on the image
(`final.shot`): i2v starts from it, VACE gets it as the first control frame with mask 0 (keep
it: diffusers' pipeline_wan_vace.py, black = keep), t2v / v2v pin their first latent frame to
its VAE latent (the RePaint-style replacement `modes.pin_overlap` does for long takes), and
the exact approved pixels are Wan frame 0, so the final opens on what was approved.

A retake of a keyframe draws a new seed (`nle.orders.new_seed`) and keeps the keyframe it had
(and any approved one) as an alternate, `render.final.keyframe.alternates`, each re-approvable
by number (`soloreel approve EDIT --shots N --alternate 1`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from render_engine.atomic import write_bytes_atomic
from render_engine.bible import Production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.hashing import UnreadableFile, file_digest
from render_engine.spec import KeyframeSpec, KeyframeTake, ShotSpec

STORE = "keyframes"
"""The production's folder of approved (and alternate) keyframes, by SHA-256."""
KEYFRAME_PNG = "keyframe.png"
"""A keyframe cache entry's still, beside its movie."""


def store_dir(production: Production) -> Path:
    """The production's keyframe store."""
    return production.root / STORE


def entry_png(entry: CacheEntry) -> Path:
    """The still of a keyframe cache entry."""
    return entry.folder / str(entry.manifest.get("keyframe_png") or KEYFRAME_PNG)


def keep(production: Production, png: Path, store: bool = True) -> str:
    """Copy a keyframe PNG into the store (atomically, once; not when `store` is False: a
    dry run) and return its SHA-256."""
    sha = file_digest(png)
    target = store_dir(production) / f"{sha}.png"
    if store and (not target.is_file() or file_digest(target) != sha):
        write_bytes_atomic(target, png.read_bytes())
    return sha


def stored_png(production: Production, sha: str, label: str) -> Path:
    """The stored keyframe with this SHA-256; a SoloreelError naming the shot, the field and
    the fix when it is missing or its bytes changed."""
    path = store_dir(production) / f"{sha}.png"
    try:
        found = file_digest(path)
    except UnreadableFile as exc:
        found, reason = "", exc.reason
    else:
        reason = "its bytes changed"
    if found != sha:
        raise SoloreelError(
            f"{label}: render.final.keyframe.sha256 {sha[:12]}… names {STORE}/{sha}.png, "
            f"which cannot be used ({reason}); render its keyframe again (soloreel render "
            "EDIT --tier final --quality keyframe) and approve it, or clear the approval "
            "(soloreel approve EDIT --shots N --clear)")
    return path


def anchor_image(production: Production, sha: str, width: int, height: int,
                 label: str) -> np.ndarray:
    """The approved keyframe as an RGB uint8 frame at the render size (width × height, the
    multiple of 16 at or above the tier's size): the PNG (tier size) centred, its border
    pixels repeated into the margin `retime.crop_frames` cuts away again."""
    import cv2
    from PIL import Image

    with Image.open(stored_png(production, sha, label)) as image:
        frame = np.asarray(image.convert("RGB"))
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    if w > width or h > height:
        raise SoloreelError(
            f"{label}: the approved keyframe is {w}x{h}, larger than the final's render size "
            f"{width}x{height} (tiers.final changed since it was approved); render its "
            "keyframe again and approve it, or clear the approval")
    left, top = (width - w) // 2, (height - h) // 2
    return cv2.copyMakeBorder(frame, top, height - h - top, left, width - w - left,
                              cv2.BORDER_REPLICATE)


@dataclass
class Approval:
    """What one approve / retake / clear did to a shot."""

    spec: ShotSpec
    detail: str


def _state(spec: ShotSpec) -> KeyframeSpec:
    return spec.render.final.keyframe or KeyframeSpec()


def _with(spec: ShotSpec, state: KeyframeSpec | None, seed: int | None = None) -> ShotSpec:
    if state is not None and state.sha256 is None and not state.alternates:
        state = None
    final = spec.render.final.model_copy(update={"keyframe": state})
    update: dict = {"render": spec.render.model_copy(update={"final": final})}
    if seed is not None:
        update["seed"] = seed
    return spec.model_copy(update=update)


def _add(takes: list[KeyframeTake], *new: KeyframeTake | None) -> list[KeyframeTake]:
    out = list(takes)
    for take in new:
        if take is not None and all(t.sha256 != take.sha256 for t in out):
            out.append(take)
    return out


def current_keyframe(spec: ShotSpec, production: Production, cache: RenderCache,
                     shown: tuple[int, int]) -> CacheEntry | None:
    """The cached keyframe of the shot's current content (its seed, prompt, conditioning)."""
    from render_engine.final.quality import cached_keyframe

    entry = cached_keyframe(spec, production, cache, shown)
    return entry if entry is not None and entry_png(entry).is_file() else None


def approve(spec: ShotSpec, production: Production, cache: RenderCache,
            shown: tuple[int, int], label: str, alternate: int | None = None,
            store: bool = True) -> Approval:
    """Pin the shot's current keyframe (or alternate number `alternate`, 1-based, which
    also brings back its seed) as `render.final.keyframe`; a keyframe approved before goes to
    the alternates."""
    state = _state(spec)
    previous = (KeyframeTake(sha256=state.sha256, seed=state.seed if state.seed is not None
                             else spec.seed) if state.sha256 else None)
    if alternate is not None:
        if not 1 <= alternate <= len(state.alternates):
            raise SoloreelError(
                f"{label}: --alternate {alternate}: the shot has "
                f"{len(state.alternates)} alternate keyframe(s); `soloreel approve EDIT "
                "--list` lists them")
        take = state.alternates[alternate - 1]
        stored_png(production, take.sha256, label)
        rest = [t for t in state.alternates if t.sha256 != take.sha256]
        new = KeyframeSpec(sha256=take.sha256, seed=take.seed, alternates=_add(rest, previous))
        return Approval(_with(spec, new, take.seed),
                        f"approved alternate {alternate} ({take.sha256[:12]}, seed {take.seed})")
    entry = current_keyframe(spec, production, cache, shown)
    if entry is None:
        raise SoloreelError(
            f"{label}: no keyframe is rendered for the shot as it is now (seed {spec.seed}); "
            "render it first: soloreel render EDIT --tier final --quality keyframe --shots N")
    sha = keep(production, entry_png(entry), store)
    if state.sha256 == sha:
        return Approval(spec, f"already approved ({sha[:12]}, seed {spec.seed})")
    rest = [t for t in state.alternates if t.sha256 != sha]
    new = KeyframeSpec(sha256=sha, seed=spec.seed, alternates=_add(rest, previous))
    return Approval(_with(spec, new), f"approved {sha[:12]} (seed {spec.seed})")


def retake(spec: ShotSpec, production: Production | None, cache: RenderCache | None,
           shown: tuple[int, int], seed: int | None = None, store: bool = True) -> Approval:
    """A new seed (`seed`, else drawn by `nle.orders.new_seed`) for the shot's keyframe; its
    current keyframe (when rendered) and its approved one are kept as alternates, and the
    approval is lifted (the final no longer starts from a frame of the old seed)."""
    from render_engine.nle.orders import new_seed

    state = _state(spec)
    current = None
    if production is not None and cache is not None:
        entry = current_keyframe(spec, production, cache, shown)
        if entry is not None:
            current = KeyframeTake(sha256=keep(production, entry_png(entry), store),
                                   seed=spec.seed)
    approved = (KeyframeTake(sha256=state.sha256, seed=state.seed if state.seed is not None
                             else spec.seed) if state.sha256 else None)
    alternates = _add(state.alternates, approved, current)
    if seed is None:
        seed = new_seed(spec.shot.id, spec.seed, len(alternates) + 1)
    kept = f", keyframe kept as alternate {len(alternates)}" if current or approved else ""
    return Approval(_with(spec, KeyframeSpec(alternates=alternates), seed),
                    f"seed {spec.seed} → {seed}{kept}")


def clear(spec: ShotSpec) -> Approval:
    """Lift the approval (the approved frame stays listed as an alternate)."""
    state = _state(spec)
    if not state.sha256:
        return Approval(spec, "nothing approved")
    approved = KeyframeTake(sha256=state.sha256,
                            seed=state.seed if state.seed is not None else spec.seed)
    return Approval(_with(spec, KeyframeSpec(alternates=_add(state.alternates, approved))),
                    f"approval of {state.sha256[:12]} lifted (kept as an alternate)")


def approval_state(spec: ShotSpec | None) -> str:
    """"approved" when the shot has an approved keyframe, else "" (storyboard, status)."""
    if spec is None or spec.render.final.keyframe is None:
        return ""
    return "approved" if spec.render.final.keyframe.sha256 else ""


def clip_context(production_root: Path, clip) -> tuple[Production, RenderCache,
                                                        tuple[int, int]]:
    """The production, cache and shown frames an NLE order on `clip` approves against
    (`nle.orders`: `approve` and `retake` markers)."""
    from render_engine.bible import load_production
    from render_engine.render import source_frames

    production = load_production(production_root)
    shown = source_frames(clip, production.settings.production.fps, clip.name)
    return production, RenderCache(production.renders_dir()), shown
