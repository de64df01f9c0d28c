"""Content hashes of shots: everything that changes a tier's output, nothing cosmetic.

The hash of a shot at a tier covers the ShotSpec, the bible entries it uses (set, lighting,
cast members — a member's voice settings, voice file and voice engine only when they have lines
in the shot), the *contents* of every file those name (plate, depth, masks, reference images,
LoRA for finals), the renderer version, the tier's settings and the rendered frame range. A
final also covers what it is conditioned on (`render_engine.final.conditioning`): the proxy
render it follows (by the proxy's own content hash, and whether it is rendered), the control
video's source, the reference images and how long takes are segmented — so a final rendered
before the animatic changed is stale afterwards.
Clip names, colours and markers are not inputs, so renaming a clip never re-renders it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from render_engine.bible import Production, normalise_name
from render_engine.errors import SoloreelError
from render_engine.spec import ShotSpec
from render_engine.versions import RENDERER_VERSIONS, voice_engine_version

_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


class UnreadableFile(SoloreelError):
    """A file a content hash reads is missing or cannot be read (deleted, moved, replaced by
    a folder, no permission): the one shot that uses it fails, the rest of the run goes on."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"cannot read {path} ({reason})")
        self.path = Path(path)
        self.reason = reason


def _reason(error: OSError) -> str:
    """A short reason for an OSError ("no such file", "is a folder", …)."""
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or type(error).__name__


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, memoised by the file's identity and change times so relinks
    stay cheap (ctime changes on every write and cannot be set back by tools).

    Raises UnreadableFile (a SoloreelError) when the file is gone or unreadable: files may
    vanish between validation and rendering, and that must fail one shot, not the run.
    """
    try:
        stat = os.stat(path)
        key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        cached = _DIGESTS.get(key)
        if cached is None:
            sha = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(block)
            cached = _DIGESTS[key] = sha.hexdigest()
    except OSError as error:
        raise UnreadableFile(path, _reason(error)) from error
    except ValueError as error:  # a NUL byte in the name
        raise UnreadableFile(path, str(error)) from error
    return cached


def _field_digest(production: Production, field: str, resolve: Callable[[], Path],
                  where: str) -> str:
    """The digest of the file `field` names, resolved by `resolve`; a SoloreelError naming the
    field, the file and the fix (in `where`, the file that sets the field) otherwise."""
    try:
        path = resolve()
    except SoloreelError as exc:
        raise SoloreelError(f"{field}: {exc}; fix {where}") from exc
    try:
        return file_digest(path)
    except UnreadableFile as exc:
        try:
            shown = path.relative_to(production.root).as_posix()
        except ValueError:
            shown = str(path)
        raise SoloreelError(
            f"{field}: cannot read {shown} ({exc.reason}); restore the file or fix {where}, "
            "then render again") from exc


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, floats as Python repr."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_inputs(
    spec: ShotSpec, production: Production, tier: str, frame_range: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Everything that determines the output of `spec` at `tier`, as a JSON-compatible dict.

    Raises SoloreelError for unknown names or missing files (validate first for a full report).
    """
    set_spec = production.set(spec.set)
    files: dict[str, str] = {}
    for field, relative in production.set_files(set_spec).items():
        files[f"set.{field}"] = _field_digest(
            production, f"set.{field}",
            lambda relative=relative: production.set_file(set_spec, relative),
            f"{field} in sets/{set_spec.name}.toml")
    for field, relative in spec.files().items():
        files[field] = _field_digest(
            production, field, lambda relative=relative: production.resolve(relative),
            f"the clip's {field} (relative to the production folder)")

    cast: dict[str, Any] = {}
    speakers = {normalise_name(line.speaker) for line in spec.dialog}
    names = {normalise_name(c.name) for c in spec.characters} | speakers
    for name in sorted(names):
        member = production.member(name)
        include_lora = tier == "final"
        entry = member.model_dump(mode="json", exclude={"display_name"})
        if not include_lora:
            entry.pop("lora", None)
        if name in speakers:  # their lines are in the shot's audio and lip flap
            entry["voice_engine"] = voice_engine_version(member.voice.engine)
        else:  # a silent character's voice changes nothing in this shot
            entry.pop("voice", None)
        cast[name] = entry
        for field, relative in production.cast_files(member, include_lora).items():
            if name not in speakers and field.startswith("voice."):
                continue
            files[f"cast.{name}.{field}"] = _field_digest(
                production, f"cast.{name}.{field}",
                lambda member=member, relative=relative: production.cast_file(member, relative),
                f"{field} in cast/{member.name}.toml")

    spec_data = spec.to_metadata()
    if not spec_data["shot"].get("line"):
        spec_data["shot"].pop("line", None)  # unset: the keys shots had before it existed
    if tier != "final":
        spec_data.pop("render", None)  # final-only knobs do not touch CPU tiers
    else:  # the approved keyframe keys finals (not keyframes, nor alternates): absent if unset
        keyframe = spec_data["render"]["final"].pop("keyframe", None) or {}
        if keyframe.get("sha256") and not _keyframe_quality(production):
            spec_data["render"]["final"]["keyframe"] = {"sha256": keyframe["sha256"]}
    settings = production.settings
    inputs: dict[str, Any] = {
        "renderer": RENDERER_VERSIONS[tier],
        "tier": tier,
        "tier_settings": _tier_settings(settings.tier(tier), tier),
        "fps": settings.production.fps,
        "encode": settings.encode.model_dump(mode="json"),
        "spec": spec_data,
        "set": set_spec.model_dump(mode="json", exclude={"description"}),
        "cast": cast,
        "files": dict(sorted(files.items())),
        "frames": list(frame_range) if frame_range else None,
    }
    from render_engine.capture.store import captured_takes

    captured = captured_takes(spec, production)  # lines the creator acted (soloreel capture)
    if captured:
        inputs["captures"] = captured
    if tier == "final":
        model = spec.render.final.model or settings.tier("final").model
        entry = settings.models.get(model) if model else None
        inputs["model"] = {"name": model, **(entry.model_dump(mode="json") if entry else {})}
        if entry is not None and entry.backend == "comfyui":  # workflow bytes + node versions
            from render_engine.comfyui.backend import cache_inputs

            inputs["model"]["comfyui"] = cache_inputs(production.root, model, entry)
        from render_engine.final.conditioning import final_conditioning

        inputs["conditioning"] = final_conditioning(spec, production)
    return inputs


def _keyframe_quality(production: Production) -> bool:
    """Whether `production` is the keyframe view (`final.quality.with_quality`)."""
    from render_engine.final.quality import production_quality

    return production_quality(production) == "keyframe"


def _tier_settings(tier_settings: Any, tier: str) -> dict[str, Any]:
    """A tier's settings as hashed: the proxy's parallax only when it is forced (the default,
    "auto", keeps the keys the tier had before the option existed)."""
    data = tier_settings.model_dump(mode="json")
    if tier != "proxy" or data.get("parallax") in (None, "auto"):
        data.pop("parallax", None)
    return data


def shot_hash(
    spec: ShotSpec, production: Production, tier: str, frame_range: tuple[int, int] | None = None
) -> str:
    """The content address of a shot's render at a tier (hex SHA-256, 64 chars)."""
    return inputs_hash(hash_inputs(spec, production, tier, frame_range))


def inputs_hash(inputs: dict[str, Any]) -> str:
    """The content address of `hash_inputs`' answer (hex SHA-256, 64 chars)."""
    return hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()
