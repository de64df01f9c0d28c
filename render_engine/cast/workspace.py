"""A character's workspace and cast file: registration, trigger words, atomic cast-file edits.

Trigger words are CamelCase name + outfit (`jane` + "sunflower dress" → `JaneSunflowerDress`):
one token-ish word a LoRA learns to bind to the character, unique in the production so a prompt
naming one character never summons another. Cast files are rewritten atomically and validated
before writing, so a crash or a bad value never leaves a half-written or invalid bible.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from render_engine.atomic import atomic_path, write_text_atomic
from render_engine.bible import NAME_PATTERN, CastMember, Production, pydantic_problems
from render_engine.errors import SoloreelError

SUBFOLDERS = ("source", "candidates", "picks", "dataset", "lora")
WORKSPACE_FILE = "workspace.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class Workspace:
    """Paths of one character's workspace (nothing is created by constructing it)."""

    production: Production
    name: str

    @property
    def root(self) -> Path:
        return self.production.cast_dir() / self.name

    @property
    def cast_toml(self) -> Path:
        return self.production.cast_dir() / f"{self.name}.toml"

    def folder(self, sub: str) -> Path:
        """One of SUBFOLDERS."""
        return self.root / sub

    def relative(self, path: Path) -> str:
        """A path as the cast file writes it (relative to cast/)."""
        return Path(path).resolve().relative_to(self.production.cast_dir().resolve()).as_posix()

    def info(self) -> dict[str, Any]:
        """workspace.json: outfit, source, creation details (empty when absent)."""
        path = self.root / WORKSPACE_FILE
        if not path.is_file():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def write_info(self, data: dict[str, Any]) -> None:
        write_text_atomic(self.root / WORKSPACE_FILE, json.dumps(data, indent=2) + "\n")

    def ensure(self) -> None:
        """Create the workspace folders (idempotent)."""
        for sub in SUBFOLDERS:
            self.folder(sub).mkdir(parents=True, exist_ok=True)


def camel(text: str) -> str:
    """"sunflower dress" → "SunflowerDress" (letters and digits only)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text)
                   if part)


def make_trigger(name: str, outfit: str | None, taken: set[str]) -> str:
    """CamelCase name + outfit, with a number appended when another character has it."""
    base = camel(name) + camel(outfit or "")
    taken_lower = {t.lower() for t in taken}
    trigger, number = base, 2
    while trigger.lower() in taken_lower:
        trigger, number = f"{base}{number}", number + 1
    return trigger


def read_cast_raw(workspace: Workspace) -> dict[str, Any]:
    """The raw TOML of a cast file; SoloreelError when missing or unreadable."""
    path = workspace.cast_toml
    if not path.is_file():
        known = ", ".join(sorted(workspace.production.cast)) or "none"
        raise SoloreelError(f'unknown character "{workspace.name}" (no {path.name}); known: '
                            f"{known}; start one with `soloreel cast new {workspace.name} "
                            "--from IMAGE`")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SoloreelError(f"{path}: cannot be read ({exc}); fix it first") from exc


def write_cast(workspace: Workspace, raw: dict[str, Any]) -> CastMember:
    """Validate `raw` as a CastMember and rewrite cast/NAME.toml atomically."""
    try:
        member = CastMember.model_validate({"name": workspace.name, **raw})
    except ValidationError as exc:
        problems = "; ".join(p.line() for p in pydantic_problems(
            f"cast/{workspace.name}.toml", exc))
        raise SoloreelError(problems) from exc
    write_text_atomic(workspace.cast_toml, tomli_w.dumps(raw))
    return member


def update_cast(workspace: Workspace, **fields: Any) -> CastMember:
    """Set top-level fields of a cast file (others kept); None removes a field."""
    raw = read_cast_raw(workspace)
    for key, value in fields.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return write_cast(workspace, raw)


def copy_in(source: Path, target: Path) -> Path:
    """Copy a file atomically (the target's folder is created)."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def check_image(path: Path) -> None:
    """Raise a SoloreelError unless `path` is an image Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise SoloreelError(f"{path} does not exist")
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError) as exc:
        raise SoloreelError(f"{path} is not a readable image ({exc})") from exc


def _own_views(raw: dict[str, Any]) -> dict[str, Any]:
    """A raw cast file's views less the generated stand-in figures (`render_engine.standin`)."""
    from render_engine.standin import is_standin_view

    return {key: view for key, view in (raw.get("views") or {}).items()
            if not (isinstance(view, dict) and is_standin_view(view.get("image")))}


def is_stub(raw: dict[str, Any]) -> bool:
    """A cast file with no picture yet (no views but stand-in figures, no reference images or
    LoRA): what `script2edit --stubs` writes; `cast new` / `cast extra` fill it in instead of
    refusing."""
    return not _own_views(raw) and not raw.get("reference_images") and not raw.get("lora")


def registrable(production: Production, name: str) -> dict[str, Any]:
    """The stub to fill in for a new character ({} when there is no cast file); raises a
    SoloreelError for an invalid name or a character that has pictures already."""
    if not re.match(NAME_PATTERN, name):
        raise SoloreelError(f'"{name}" is not a valid character name: lower-case letters, '
                            "digits, - and _, starting with a letter or digit")
    workspace = Workspace(production, name)
    if not workspace.cast_toml.exists():
        return {}
    raw = read_cast_raw(workspace)
    if not is_stub(raw):
        raise SoloreelError(f"cast/{name}.toml already exists with pictures; pick another name, "
                            f"or correct its anchors with `soloreel cast anchors {name} "
                            "--anchor NAME=X,Y`")
    return raw


def new_character(production: Production, name: str, source: Path, outfit: str | None = None,
                  trigger: str | None = None, description: str = "",
                  role: str = "lead") -> tuple[Workspace, CastMember]:
    """Register a character: cast/NAME.toml (role, unique trigger, reference image) and its
    workspace folders, with the source image copied into cast/NAME/source/. A stub cast file
    (see `is_stub`) is filled in, keeping its display name, description, height and voice;
    its stand-in figure views are dropped (the caller records the real views)."""
    stub = registrable(production, name)
    workspace = Workspace(production, name)
    check_image(Path(source))
    taken = {m.trigger for m in production.cast.values() if m.trigger and m.name != name}
    if trigger:
        if trigger.lower() in {t.lower() for t in taken}:
            raise SoloreelError(f'trigger "{trigger}" is already used by another character')
    elif role == "lead":
        trigger = make_trigger(name, outfit, taken)
    workspace.ensure()
    target = workspace.folder("source") / f"source{Path(source).suffix.lower() or '.png'}"
    copy_in(Path(source), target)
    stub = {key: value for key, value in stub.items() if key != "views"} | (
        {"views": _own_views(stub)} if _own_views(stub) else {})
    raw: dict[str, Any] = {**stub, "name": name, "role": role, "trigger": trigger or "",
                           "description": description or (f"wearing {outfit}" if outfit else "")
                           or stub.get("description", ""),
                           "reference_images": [workspace.relative(target)]}
    workspace.write_info({"name": name, "outfit": outfit or "", "source": str(source),
                          "source_copy": workspace.relative(target)})
    member = write_cast(workspace, raw)
    production.cast[name] = member
    return workspace, member


def next_lora_path(workspace: Workspace) -> Path:
    """cast/NAME/lora/vN.safetensors with N one more than the highest version present."""
    folder = workspace.folder("lora")
    versions = [int(m.group(1)) for p in folder.glob("v*.safetensors")
                if (m := re.fullmatch(r"v(\d+)", p.stem))] if folder.is_dir() else []
    return folder / f"v{max(versions, default=0) + 1}.safetensors"


def register_lora(workspace: Workspace, path: Path, weight: float = 1.0) -> CastMember:
    """Point cast/NAME.toml's `lora` at `path` (atomic rewrite)."""
    return update_cast(workspace, lora={"path": workspace.relative(path), "weight": weight})
