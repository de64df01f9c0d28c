"""`soloreel init`: a new, empty production folder that validates cleanly; and the bible stubs
`script2edit --stubs` writes for a screenplay's new characters and locations."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from render_engine.atomic import write_text_atomic
from render_engine.bible import SETTINGS_FILE, CastMember, SetSpec
from render_engine.errors import SoloreelError
from render_engine.standin import HFOV_DEG as STANDIN_HFOV
from render_engine.standin import figure_views, lighting_for_time, standin_files

FOLDERS = ("cast", "sets", "scripts", "timelines", "renders")

SETTINGS_TEMPLATE = """\
# soloreel production settings. Every key is optional; these are the defaults.

[production]
name = "{name}"
fps = 24
handles = 12          # extra frames rendered before/after each shot, so trims re-use renders

[tiers.placeholder]   # slate + skeletons over the plate, instant
width = 640
height = 360

[tiers.proxy]         # 2.5D animatic on the CPU
width = 1280
height = 720

[tiers.final]         # Wan 2.1 on the GPU
width = 832
height = 480
steps = 30
# model = "wan-vace-1.3b"   # VACE follows the approved proxy: see [models] below

[encode]
profile = "web"       # web (H.264/AAC) | kdenlive (H.264/AAC) | resolve (DNxHR + PCM)

[executor]
kind = "local"        # local | ray

# Models: a local folder (relative to this file, or absolute) or a hub id.
# A VACE model renders what you approved in the proxy: each character from the proxy's pose
# video (faces follow the dialog), with its sheet as reference image (and its LoRA), keyed
# over the set's plate (mode vace_layers). A t2v model ignores the blocking.
# [models.wan-vace-1.3b]
# source = "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
# kind = "vace"                       # t2v | i2v | v2v | vace
# dtype = "bfloat16"
# memory_profile = "24gb"
# conditioning_scale = 1.0            # how strongly the pose video steers (VACE)
"""

CAST_EXAMPLE = """\
# A cast member. Copy to cast/<name>.toml; `name` must match the file name.
# name = "jane"
# display_name = "Jane"
# role = "lead"                       # lead (LoRA) | extra (reference image only)
# trigger = "JaneSunflowerDress"      # unique word that summons the character's LoRA
# description = "a woman in her thirties, long auburn hair, yellow sunflower sundress"
# height_m = 1.68
# reference_images = ["jane/face.png"]
#
# [views.front]                       # cut-outs with alpha, paths relative to cast/
# image = "jane/front.png"
#
# [lora]
# path = "jane/lora/v1.safetensors"
# weight = 0.8
#
# [voice]
# engine = "espeak"                   # espeak | piper | coqui
# variant = "en-us+f3"
# pitch = 60
# speed = 1.0
"""

SET_EXAMPLE = """\
# A set. Copy to sets/<name>.toml; `name` must match the file name.
# name = "patio"
# default_lighting = "morning"
#
# [plate]
# kind = "flat"                       # flat | wide (panorama strip) | 360 (equirectangular)
# image = "patio/plate.png"           # paths relative to sets/
# depth = "patio/depth.png"           # optional, 16-bit PNG in millimetres
# hfov_deg = 70
# camera_height_m = 1.5
#
# [[masks]]                           # foreground objects characters can stand behind
# name = "table"
# image = "patio/fg_table.png"
# depth_m = 2.8
#
# [lighting.morning]
# key_azimuth_deg = -60
# key_color = [255, 236, 200]
# ambient_color = [150, 170, 200]
"""


def init_production(folder: Path, name: str | None = None, force: bool = False) -> list[Path]:
    """Create the production layout in `folder`; refuses to overwrite an existing production."""
    folder = Path(folder)
    settings = folder / SETTINGS_FILE
    if settings.exists() and not force:
        raise SoloreelError(
            f"{settings} already exists; this is a production already (use --force to reset "
            "its settings file)")
    if folder.exists() and not folder.is_dir():
        raise SoloreelError(f"{folder} exists and is not a folder; choose another path")
    created = []
    for sub in FOLDERS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
        created.append(folder / sub)
    title = name or folder.resolve().name.replace("-", " ").replace("_", " ").title()
    write_text_atomic(settings, SETTINGS_TEMPLATE.format(name=title.replace('"', "'")))
    created.append(settings)
    for rel, text in (("cast/EXAMPLE.toml.txt", CAST_EXAMPLE),
                      ("sets/EXAMPLE.toml.txt", SET_EXAMPLE),
                      ("renders/.gitignore", "*\n")):
        target = folder / rel
        if not target.exists():
            write_text_atomic(target, text)
            created.append(target)
    return created


# --------------------------------------------------------------------------- bible stubs

CAST_STUB_HEADER = """\
# cast/{name}.toml: a stub written by `soloreel script2edit --stubs` for {written} in the script.
# Give the character a picture (a figure on a plain background, or a PNG with transparency):
#   soloreel cast new {name} --from PICTURE.png     a lead: keyed cut-out view with anchors
#   soloreel cast extra {name} --from PICTURE.png   an extra: the same cut-out, no LoRA
# Until then its views are a STAND-IN figure soloreel draws itself (a mannequin in a colour of
# its own with the name on its torso, standing and seated), redrawn whenever it is missing;
# `soloreel cast new {name} --from PICTURE` replaces both stand-in views with the real ones.
"""

SET_STUB_HEADER = """\
# sets/{name}.toml: a stub written by `soloreel script2edit --stubs` for the location {written}.
# Its plate is a STAND-IN soloreel draws itself (the location's name, a sky in the colours of
# the time of day, a floor grid in perspective and a matching depth map), redrawn whenever it
# is missing or [plate] changes. To use your own picture, replace the two stand-in paths
# and describe its camera (hfov_deg, camera_height_m; horizon_row if not the middle row):
#   image = "{name}/plate.png"    # your plate, relative to sets/
#   depth = "{name}/depth.png"    # a 16-bit PNG in millimetres (65535 = sky), or remove it
"""


def cast_stub(entry: dict[str, Any]) -> dict[str, Any]:
    """A cast stub from a screenplay suggestion (name, display name, role, description), its
    views the generated stand-in figure (`render_engine.standin.figure_views`)."""
    order = ("name", "display_name", "role", "description")
    stub = {key: entry[key] for key in order if key in entry} | {
        key: value for key, value in entry.items() if key not in order}
    if not stub.get("views"):
        stub["views"] = figure_views(entry["name"])[2]
    return stub


def set_stub(entry: dict[str, Any]) -> dict[str, Any]:
    """A set stub from a screenplay suggestion: its plate becomes the generated stand-in and
    every lighting preset the script asked for gets light matching its time of day."""
    name = entry["name"]
    image, depth = standin_files(name)
    plate = {**entry.get("plate", {}), "image": image, "depth": depth}
    plate.setdefault("kind", "flat")
    plate.setdefault("hfov_deg", STANDIN_HFOV)
    plate.setdefault("camera_height_m", 1.5)
    stub: dict[str, Any] = {"name": name, "description": entry.get("description", "")}
    lighting = {preset: {**lighting_for_time(preset), **(values or {})}
                for preset, values in (entry.get("lighting") or {}).items()}
    if entry.get("default_lighting"):
        stub["default_lighting"] = entry["default_lighting"]
    stub["plate"] = plate
    if lighting:
        stub["lighting"] = lighting
    return stub


def _write_new(target: Path, text: str) -> bool:
    """Write `text` to `target` atomically unless `target` exists; False when it does.

    Like `render_engine.atomic` the text goes to a temporary file beside the target first
    (flushed to disk), but it is then hard-linked into place, which fails rather than replace
    a file another writer made meanwhile (a rename would silently replace it).
    """
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the bible is an ordinary shared file
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system: the check above has to do
            if target.exists():
                return False
            os.replace(tmp, target)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_stubs(root: Path, suggestions: dict[str, dict[str, dict[str, Any]]],
                written_as: dict[str, str] | None = None) -> list[tuple[Path, bool]]:
    """Write cast/NAME.toml and sets/NAME.toml for a screenplay's suggestions (see
    `render_engine.screenplay.casting`): atomically, never replacing a file already there.

    `written_as` maps a name to how the script spells it (for the header comment). Returns
    (path, written) per suggestion: False where a file of that name was there already.
    """
    written_as = written_as or {}
    results: list[tuple[Path, bool]] = []
    for kind, model, make, header in (("cast", CastMember, cast_stub, CAST_STUB_HEADER),
                                      ("sets", SetSpec, set_stub, SET_STUB_HEADER)):
        for name, entry in sorted(suggestions.get(kind, {}).items()):
            stub = make({**entry, "name": name})
            try:
                model.model_validate(stub)
            except ValidationError as exc:  # a bug here, not the user's: say which stub
                raise SoloreelError(f"{kind}/{name}.toml: the stub would not validate "
                                    f"({exc.errors()[0]['msg']}); write it by hand") from exc
            spelled = written_as.get(name) or entry.get("display_name") or \
                entry.get("description") or name
            text = header.format(name=name, written=json.dumps(str(spelled).upper()
                                                               if kind == "sets" else spelled,
                                                               ensure_ascii=False))
            target = Path(root) / kind / f"{name}.toml"
            results.append((target, _write_new(target, text + tomli_w.dumps(stub))))
    return results
