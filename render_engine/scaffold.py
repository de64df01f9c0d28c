"""`soloreel init`: a new, empty production folder that validates cleanly."""

from __future__ import annotations

from pathlib import Path

from render_engine.atomic import write_text_atomic
from render_engine.bible import SETTINGS_FILE
from render_engine.errors import SoloreelError

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
# model = "wan-t2v-1.3b"

[encode]
profile = "web"       # web (H.264/AAC) | kdenlive (H.264/AAC) | resolve (DNxHR + PCM)

[executor]
kind = "local"        # local | ray

# Models: a local folder (relative to this file, or absolute) or a hub id.
# [models.wan-t2v-1.3b]
# source = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
# kind = "t2v"
# dtype = "bfloat16"
# memory_profile = "24gb"
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
