"""The production bible: settings (soloreel.toml), cast members (cast/*.toml), sets (sets/*.toml).

A production is a folder the user owns. Everything in a timeline refers to the bible by name
("jane", "campfire"); this module loads and validates it, and resolves every file it names
inside the production folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from render_engine.errors import Problem, SoloreelError
from render_engine.paths import resolve_inside

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
SETTINGS_FILE = "soloreel.toml"
TIERS = ("placeholder", "proxy", "final")

Color = tuple[Annotated[int, Field(ge=0, le=255)], ...]
Point = tuple[float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- settings


FPS_RANGE = (1, 120)
"""Frame rates soloreel renders (whole frames per second)."""
WIDTH_RANGE = (16, 7680)
HEIGHT_RANGE = (16, 4320)
"""Tier resolutions: at least 16 px, at most 8K UHD (7680x4320), and even (H.264/HEVC 4:2:0
and DNxHR need even sizes)."""


class ProductionInfo(_Strict):
    name: str = "Untitled"
    fps: Annotated[int, Field(ge=FPS_RANGE[0], le=FPS_RANGE[1])] = 24
    handles: Annotated[int, Field(ge=0, le=240)] = 12
    """Extra frames rendered before and after each shot so trims inside them re-use the render."""


class TierSettings(_Strict):
    width: Annotated[int, Field(ge=WIDTH_RANGE[0], le=WIDTH_RANGE[1])]
    height: Annotated[int, Field(ge=HEIGHT_RANGE[0], le=HEIGHT_RANGE[1])]
    model: str | None = None
    steps: Annotated[int, Field(ge=1, le=1000)] | None = None
    parallax: Literal["auto", "sharp", "fast"] | None = None
    """Proxy plates under a moved camera: "sharp" resolves depth edges per pixel (thin props
    stay whole), "fast" interpolates a node grid (about half the plate cost; thin props may
    break up while the camera moves); "auto" (the default) is sharp for still cameras and fast
    for moving ones."""

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even (video encoders need even sizes)")
        return value


class EncodeSettings(_Strict):
    profile: Literal["web", "kdenlive", "resolve"] = "web"


HUB_SUFFIX = "_hub"
"""diffusers attention backends ending in this fetch their kernels from the Hub at run time."""


class ModelEntry(_Strict):
    """`[models.NAME]` of soloreel.toml: where a Wan model's weights are, how to place them on
    the GPU, optional speed-ups and an optional step-distilled LoRA for draft finals.

    Its dump (`model_dump`) is what the final tier's content hash covers (render_engine.hashing
    puts it under `model`), so the serializer keeps exactly what changes a full final's
    pixels: the speed options only when set (an entry that does not use them hashes as it
    always did), `compile_blocks` never (the same maths, fused) and the draft settings never
    (they key *draft* renders instead: `render_engine.final.quality`).
    """

    source: str = ""
    """A local folder (relative to the production or absolute) or a hub id (diffusers)."""
    kind: Literal["t2v", "i2v", "v2v", "vace", "animate"] = "t2v"
    revision: str | None = None
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    memory_profile: Literal["12gb", "24gb", "80gb", "auto"] = "24gb"
    attention_backend: str | None = None
    """A diffusers attention backend for the transformer (native, flash, sage, xformers,
    _native_cudnn…); unset keeps diffusers' default. `*_hub` backends are refused."""
    first_block_cache: Annotated[float, Field(gt=0, lt=1)] | None = None
    """diffusers' first-block cache threshold (≈0.05–0.2): a step whose first transformer
    block changes less than this re-uses the previous step's residual (faster; the pixels
    change slightly, so it is part of the content hash)."""
    compile_blocks: bool = False
    """Regional torch.compile of the repeated transformer blocks (`compile_repeated_blocks`):
    a short warm-up once per model load, faster steps after it."""
    draft_lora: str | None = None
    """A step-distilled LoRA for this model (lightx2v / CausVid style, .safetensors; relative
    to the production or absolute) that `--quality draft` renders with."""
    draft_steps: Annotated[int, Field(ge=4, le=8)] = 4
    """Denoising steps of a draft (the distilled LoRAs are made for 4–8 steps, guidance 1)."""
    conditioning_scale: Annotated[float, Field(ge=0.0, le=4.0)] | None = None
    """VACE models: how strongly the control video steers each pass (diffusers'
    `conditioning_scale`; unset: 1.0, the scale VACE was trained at)."""

    backend: Literal["diffusers", "comfyui"] = "diffusers"
    """`diffusers` (in-process) or `comfyui`: the creator's ComfyUI server at `url` runs the
    API-format `workflow` (render_engine.comfyui)."""
    url: str | None = None
    workflow: Annotated[str | None, Field(validate_default=True)] = None

    @field_validator("workflow")
    @classmethod
    def _backend_fields(cls, value: str | None, info: Any) -> str | None:
        data = info.data
        if data.get("backend") == "comfyui" and not (value and data.get("url")):
            raise ValueError('backend "comfyui" needs url (e.g. "http://127.0.0.1:8188") and '
                             'workflow (an API-format export, e.g. "workflows/vace.json")')
        if data.get("backend", "diffusers") == "diffusers" and not data.get("source"):
            raise ValueError("source is required (a diffusers folder or hub id)")
        return value

    @field_validator("attention_backend")
    @classmethod
    def _local_backend(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().lower()
        if value.endswith(HUB_SUFFIX):
            raise ValueError(
                f'"{value}" downloads its attention kernels from the Hub at run time, which '
                "soloreel never does; use a local backend (native, flash, sage, xformers, "
                "_native_cudnn …) or leave attention_backend out")
        return value

    @field_validator("draft_lora")
    @classmethod
    def _safetensors(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith(".safetensors"):
            raise ValueError("must be a .safetensors file (soloreel loads safetensors only; "
                             "convert the LoRA)")
        return value

    @model_serializer(mode="wrap")
    def _hashed(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in ("attention_backend", "first_block_cache", "conditioning_scale"):
            if data.get(key) is None:
                data.pop(key, None)
        for key in ("compile_blocks", "draft_lora", "draft_steps", "url"):
            data.pop(key, None)
        if data.get("backend") == "diffusers":  # comfyui: render_engine.comfyui.cache_inputs
            data.pop("backend")
            data.pop("workflow", None)
        return data

    def options(self) -> dict[str, Any]:
        """Every field by name, as written or defaulted (the dump leaves some out)."""
        return {name: getattr(self, name) for name in ModelEntry.model_fields}


MODEL_ENVIRONMENT = {
    "SOLOREEL_ATTENTION_BACKEND": "attention_backend",
    "SOLOREEL_FIRST_BLOCK_CACHE": "first_block_cache",
    "SOLOREEL_COMPILE": "compile_blocks",
}
"""Environment variables that override these ModelEntry fields of every model."""


def model_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ModelEntry overrides the environment asks for (unset or empty variables ask for
    nothing; SOLOREEL_FIRST_BLOCK_CACHE=0 turns the cache off, SOLOREEL_COMPILE=0 compiling)."""
    found: dict[str, Any] = {}
    for variable, field in MODEL_ENVIRONMENT.items():
        text = environ.get(variable, "").strip()
        if not text:
            continue
        if field == "compile_blocks":
            found[field] = text.lower() in {"1", "true", "yes", "on"}
        elif field == "first_block_cache":
            try:
                number = float(text)
            except ValueError:
                number = text  # type: ignore[assignment]  # validation reports it
            found[field] = None if number == 0 else number
        else:
            found[field] = text
    return found


class ExecutorSettings(_Strict):
    kind: Literal["local", "ray"] = "local"
    address: str | None = None


def _default_tiers() -> dict[str, TierSettings]:
    return {
        "placeholder": TierSettings(width=640, height=360),
        "proxy": TierSettings(width=1280, height=720),
        "final": TierSettings(width=832, height=480, steps=30),
    }


class Settings(_Strict):
    production: ProductionInfo = ProductionInfo()
    tiers: dict[Literal["placeholder", "proxy", "final"], TierSettings] = Field(
        default_factory=_default_tiers
    )
    encode: EncodeSettings = EncodeSettings()
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    executor: ExecutorSettings = ExecutorSettings()

    def tier(self, name: str) -> TierSettings:
        """Settings of one tier, falling back to the built-in default for tiers not written."""
        return self.tiers.get(name) or _default_tiers()[name]  # type: ignore[index]


# --------------------------------------------------------------------------- cast


class ViewImage(_Strict):
    image: str
    feet: Point | None = None
    eyes: Point | None = None
    mouth: Point | None = None
    mouth_width: float | None = None
    head_top: Point | None = None


class LoraRef(_Strict):
    path: str
    weight: Annotated[float, Field(ge=-4.0, le=4.0)] = 1.0


class VoiceSettings(_Strict):
    engine: Literal["espeak", "piper", "coqui"] = "espeak"
    variant: str = ""
    """espeak voice+variant (en-us+f3), piper voice, or coqui model name/folder."""
    speaker: str | None = None
    reference: str | None = None
    """A WAV of the character for voice cloning (coqui XTTS)."""
    pitch: Annotated[float, Field(ge=0, le=100)] = 50
    speed: Annotated[float, Field(ge=0.25, le=4.0)] = 1.0
    formant_shift: Annotated[float, Field(ge=0.5, le=2.0)] = 1.0


class CastMember(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    display_name: str = ""
    role: Literal["lead", "extra"] = "lead"
    trigger: str = ""
    description: str = ""
    height_m: Annotated[float, Field(gt=0.3, lt=3.0)] = 1.75
    views: dict[str, ViewImage] = Field(default_factory=dict)
    reference_images: list[str] = Field(default_factory=list)
    lora: LoraRef | None = None
    voice: VoiceSettings = VoiceSettings()

    @property
    def label(self) -> str:
        return self.display_name or self.name.title()


# --------------------------------------------------------------------------- sets


class Plate(_Strict):
    kind: Literal["flat", "wide", "360"] = "flat"
    image: str
    depth: str | None = None
    hfov_deg: Annotated[float, Field(gt=1, le=360)] = 70.0
    horizon_row: int | None = None
    camera_height_m: Annotated[float, Field(gt=0, lt=100)] = 1.5


class ForegroundMask(_Strict):
    name: str
    image: str
    depth_m: Annotated[float, Field(gt=0)]


class LightingPreset(_Strict):
    key_azimuth_deg: float = 0.0
    key_elevation_deg: float = 30.0
    key_color: tuple[int, int, int] = (255, 244, 229)
    intensity: Annotated[float, Field(ge=0, le=4)] = 1.0
    ambient_color: tuple[int, int, int] = (128, 128, 128)
    rim_color: tuple[int, int, int] | None = None
    flicker: Annotated[float, Field(ge=0, le=1)] = 0.0


class LivingRegion(_Strict):
    """A masked region of the plate that moves in the proxy (`[[living]]` in a set's TOML):
    flames and candles flicker with the lighting's fire signal and glow on the ground around
    them, screens flicker faintly, water shimmers, trees and grass sway."""

    name: str
    image: str
    """8-bit greyscale mask at the plate's size (white = the region)."""
    preset: Literal["fire", "candle", "screen", "water", "sway"]
    amount: Annotated[float, Field(ge=0, le=1)] = 0.5
    """How strongly it moves (0 still, 1 the preset's most)."""


_Metres = Annotated[float, Field(ge=-1000, le=1000)]
FloorXZ = tuple[_Metres, _Metres]
"""A point on the set's floor in metres: x to the right of the set camera, z away from it."""
Extent = tuple[Annotated[float, Field(gt=0, le=50)], Annotated[float, Field(gt=0, le=50)]]
"""A footprint in metres: (width along x, depth along z), centred on the item's position."""


class Furniture(_Strict):
    """Something on the set's floor that characters use: its footprint, the height of its top,
    and the foreground mask (`masks[].name`) that draws it in front of characters behind it
    (`mask` unset: the plate itself paints it, so it is never drawn over anyone)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    position: FloorXZ
    """Centre of the footprint on the floor (set metres)."""
    height_m: Annotated[float, Field(ge=0, le=3)]
    """Height of the top (a seat's sitting surface, a table's top) above the floor."""
    extent: Extent = (0.5, 0.5)
    mask: str | None = None

    def contains(self, x: float, z: float, margin: float = 0.0) -> bool:
        """Whether the floor point lies on the footprint (grown by `margin` metres)."""
        return (abs(x - self.position[0]) <= self.extent[0] / 2 + margin
                and abs(z - self.position[1]) <= self.extent[1] / 2 + margin)

    def clamp(self, x: float, z: float) -> tuple[float, float]:
        """The footprint point nearest a floor point."""
        half_w, half_d = self.extent[0] / 2, self.extent[1] / 2
        return (min(max(x, self.position[0] - half_w), self.position[0] + half_w),
                min(max(z, self.position[1] - half_d), self.position[1] + half_d))


class Seat(Furniture):
    """`[[seats]]` of a set: a log, a chair, a bench. A character seated on it has its hips at
    `height_m` above the floor over the footprint; `places` characters fit side by side."""

    height_m: Annotated[float, Field(ge=0, le=3)] = 0.45
    places: Annotated[int, Field(ge=1, le=20)] = 1
    facing_deg: Annotated[float, Field(ge=-3600, le=3600)] | None = None
    """Which way a sitter faces (a chair's front); unset: as the shot's spec says."""


class Surface(Furniture):
    """`[[surfaces]]` of a set: a table top, a counter, a car's dashboard. A character leaning
    on it (`lean = "table"`) rests forearms and hands on its top at `height_m`."""

    height_m: Annotated[float, Field(ge=0, le=3)] = 0.75
    extent: Extent = (1.2, 0.8)


class Prop(_Strict):
    """`[[props]]` of a set: a named point characters can point or reach at (`point = "fire"`)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    position: FloorXZ
    height_m: Annotated[float, Field(ge=0, le=100)] = 0.0


FURNITURE_FIELDS = ("seats", "surfaces", "props")
"""SetSpec fields left out of its dump when empty, so sets without furniture hash as before."""


class SetSpec(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = ""
    plate: Plate
    masks: list[ForegroundMask] = Field(default_factory=list)
    living: list[LivingRegion] = Field(default_factory=list)
    lighting: dict[str, LightingPreset] = Field(default_factory=dict)
    default_lighting: str | None = None
    seats: list[Seat] = Field(default_factory=list)
    surfaces: list[Surface] = Field(default_factory=list)
    props: list[Prop] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _hashed(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in FURNITURE_FIELDS:
            if not data.get(key):
                data.pop(key, None)
        return data

    def seat(self, name: str) -> Seat | None:
        """The seat of that name (case-insensitive), or None."""
        return next((s for s in self.seats if s.name == normalise_name(name)), None)

    def surface(self, name: str) -> Surface | None:
        """The surface of that name (case-insensitive), or None."""
        return next((s for s in self.surfaces if s.name == normalise_name(name)), None)

    def prop(self, name: str) -> Prop | None:
        """The prop of that name (case-insensitive), or None."""
        return next((s for s in self.props if s.name == normalise_name(name)), None)

    def lighting_name(self, requested: str | None) -> str | None:
        """The preset a shot uses: the one it asks for, else the set's default."""
        return requested or self.default_lighting or next(iter(self.lighting), None)


# --------------------------------------------------------------------------- loading


def pydantic_problems(where: str, error: ValidationError, prefix: str = "") -> list[Problem]:
    """Turn a pydantic error into one Problem per bad field, with a dotted/indexed field path."""
    problems = []
    for item in error.errors():
        parts: list[str] = []
        for loc in item["loc"]:
            if isinstance(loc, int):
                parts.append(f"[{loc}]")
            else:
                parts.append(("." if parts else "") + str(loc))
        field = prefix + "".join(parts)
        given = item.get("input")
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
            fix = "remove it or check its spelling"
        elif item["type"] == "missing":
            fix = "add it"
        else:
            shown = repr(given)
            fix = f"got {shown[:60]}" if not isinstance(given, dict) else ""
        problems.append(Problem(where, field, message, fix))
    return problems


class SettingsError(SoloreelError):
    """soloreel.toml (or an environment override of it) is invalid: every command but
    `validate` stops with the lines `validate` prints, instead of running on defaults."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(p.line() for p in self.problems))


def load_settings(root: Path | str) -> tuple[Settings, list[Problem]]:
    """The one reader of a production's soloreel.toml: its Settings, or the built-in defaults
    and the problems (as `validate` prints them) when the file cannot be read or is invalid.

    Commands do not call this directly: `load_production(root, strict=True)` does and refuses
    invalid settings; `validate` loads leniently to list every problem."""
    root = Path(root).resolve()
    problems: list[Problem] = []
    data = _read_toml(root / SETTINGS_FILE, root, problems)
    if data is None:
        return Settings(), problems
    try:
        return Settings.model_validate(data), problems
    except ValidationError as exc:
        return Settings(), problems + pydantic_problems(SETTINGS_FILE, exc)


class Production:
    """A loaded production folder: settings, cast and sets, with every problem found on the way."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.problems: list[Problem] = []
        self.settings = Settings()
        self.settings_problems: list[Problem] = []
        """Problems of soloreel.toml and its environment overrides (also in `problems`): the
        settings in use are then defaults, so `check_settings` refuses to go on."""
        self.cast: dict[str, CastMember] = {}
        self.sets: dict[str, SetSpec] = {}
        self.broken: dict[str, str] = {}
        """Names of cast/set files that failed to load → the file, so clips can point at it."""

    # -- files --------------------------------------------------------------------------

    def cast_dir(self) -> Path:
        return self.root / "cast"

    def sets_dir(self) -> Path:
        return self.root / "sets"

    def renders_dir(self) -> Path:
        return self.root / "renders"

    def resolve(self, relative: str, base: Path | None = None) -> Path:
        """A bible or spec path resolved inside the production (raises if it escapes)."""
        return resolve_inside(self.root, base or self.root, relative)

    def cast_file(self, member: CastMember, relative: str) -> Path:
        return self.resolve(relative, self.cast_dir())

    def set_file(self, set_spec: SetSpec, relative: str) -> Path:
        return self.resolve(relative, self.sets_dir())

    def set_files(self, set_spec: SetSpec) -> dict[str, str]:
        """Every file a set refers to, by field path → relative path."""
        files = {"plate.image": set_spec.plate.image}
        if set_spec.plate.depth:
            files["plate.depth"] = set_spec.plate.depth
        for index, mask in enumerate(set_spec.masks):
            files[f"masks[{index}].image"] = mask.image
        for index, region in enumerate(set_spec.living):
            files[f"living[{index}].image"] = region.image
        return files

    def cast_files(self, member: CastMember, include_lora: bool = True) -> dict[str, str]:
        """Every file a cast member refers to, by field path → relative path."""
        files = {f"views.{view}.image": v.image for view, v in member.views.items()}
        for index, ref in enumerate(member.reference_images):
            files[f"reference_images[{index}]"] = ref
        if member.voice.reference:
            files["voice.reference"] = member.voice.reference
        if include_lora and member.lora:
            files["lora.path"] = member.lora.path
        return files

    def check_settings(self) -> None:
        """Raise SettingsError (the lines `validate` prints) when soloreel.toml or an
        environment override of it is invalid, so no command renders on silent defaults."""
        if self.settings_problems:
            raise SettingsError(self.settings_problems)

    # -- lookups ------------------------------------------------------------------------

    def member(self, name: str) -> CastMember:
        """A cast member by name; raises a SoloreelError listing the known names."""
        key = normalise_name(name)
        if key in self.cast:
            return self.cast[key]
        if key in self.broken:
            raise SoloreelError(f'character "{name}": {self.broken[key]} failed to load')
        raise SoloreelError(
            f'unknown character "{name}"; known: {", ".join(sorted(self.cast)) or "none"}'
        )

    def set(self, name: str) -> SetSpec:
        """A set by name; raises a SoloreelError listing the known names."""
        key = normalise_name(name)
        if key in self.sets:
            return self.sets[key]
        if key in self.broken:
            raise SoloreelError(f'set "{name}": {self.broken[key]} failed to load')
        raise SoloreelError(
            f'unknown set "{name}"; known: {", ".join(sorted(self.sets)) or "none"}'
        )


def normalise_name(name: str) -> str:
    """Bible names are lower-case; timelines written by hand may not be."""
    return name.strip().lower()


def _read_toml(path: Path, root: Path, problems: list[Problem]) -> dict[str, Any] | None:
    rel = path.relative_to(root).as_posix()
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem(rel, "", f"not valid TOML ({exc})", "fix the syntax"))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(rel, "", f"cannot be read ({exc})", "check the file"))
    return None


def load_production(root: Path | str, strict: bool = False) -> Production:
    """Load a production folder, recording (not raising) problems in cast and set files.

    Raises SoloreelError when the folder is not a production at all, and with `strict`
    (every command but `validate`) SettingsError when soloreel.toml is invalid: running on
    default settings would render something other than what the file says.
    """
    root = Path(root)
    if not (root / SETTINGS_FILE).is_file():
        raise SoloreelError(
            f"{root} is not a soloreel production (no {SETTINGS_FILE}); "
            f"create one with `soloreel init {root}`"
        )
    prod = Production(root)
    prod.settings, prod.settings_problems = load_settings(prod.root)
    prod.problems += prod.settings_problems

    for _kind, folder, model, target in (
        ("cast", prod.cast_dir(), CastMember, prod.cast),
        ("sets", prod.sets_dir(), SetSpec, prod.sets),
    ):
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            rel = path.relative_to(prod.root).as_posix()
            raw = _read_toml(path, prod.root, prod.problems)
            stem = normalise_name(path.stem)
            if raw is None:
                prod.broken[stem] = rel
                continue
            raw.setdefault("name", stem)
            try:
                item = model.model_validate(raw)
            except ValidationError as exc:
                prod.problems += pydantic_problems(rel, exc)
                prod.broken[stem] = rel
                continue
            if item.name != stem:
                prod.problems.append(Problem(
                    rel, "name", f'"{item.name}" differs from the file name "{path.stem}"',
                    f"rename the file to {item.name}.toml or the name to {path.stem}"))
            target[item.name] = item  # type: ignore[index]
    _ensure_standins(prod)
    _check_bible_files(prod)
    _apply_model_environment(prod, os.environ)
    if strict:
        prod.check_settings()
    return prod


def _apply_model_environment(prod: Production, environ: Mapping[str, str]) -> None:
    """Apply SOLOREEL_ATTENTION_BACKEND / _FIRST_BLOCK_CACHE / _COMPILE on top of every
    model's soloreel.toml entry, before anything hashes or loads it (so the cache key always
    matches what renders); a bad value is a problem naming the variable."""
    overrides = model_environment(environ)
    if not overrides or not prod.settings.models:
        return
    models: dict[str, ModelEntry] = {}
    for name, entry in prod.settings.models.items():
        try:
            models[name] = ModelEntry.model_validate({**entry.options(), **overrides})
        except ValidationError as exc:
            for item in exc.errors():
                field = str(item["loc"][0]) if item["loc"] else ""
                variable = next((v for v, f in MODEL_ENVIRONMENT.items() if f == field), field)
                problem = Problem(
                    "environment", variable, f"{item['msg']} (overriding models.{name}.{field})",
                    f"unset {variable} or fix its value")
                prod.problems.append(problem)
                prod.settings_problems.append(problem)
            return
    prod.settings = prod.settings.model_copy(update={"models": models})


def _ensure_standins(prod: Production) -> None:
    """Draw the generated stand-in plates of sets that have no plate of their own yet, and the
    stand-in figures of cast stubs (`render_engine.standin`), when missing or out of date,
    before the files are checked: a stub renders from its first load, and a stand-in is an
    ordinary plate or view file to the rest."""
    if not prod.sets and not prod.cast:
        return
    from render_engine.standin import ensure_standins  # here: bible.py imports no numpy, Pillow

    prod.problems += ensure_standins(prod)[1]


def _check_bible_files(prod: Production) -> None:
    """Every file the bible names must exist inside the production."""
    for member in prod.cast.values():
        rel = f"cast/{member.name}.toml"
        for field, relative in prod.cast_files(member).items():
            _check_file(prod, rel, field, relative, prod.cast_dir())
        _check_trigger(prod, member)
    for set_spec in prod.sets.values():
        rel = f"sets/{set_spec.name}.toml"
        for field, relative in prod.set_files(set_spec).items():
            _check_file(prod, rel, field, relative, prod.sets_dir())
        _check_furniture(prod, set_spec, rel)
        if set_spec.default_lighting and set_spec.default_lighting not in set_spec.lighting:
            prod.problems.append(Problem(
                rel, "default_lighting", f'unknown preset "{set_spec.default_lighting}"',
                f"known: {', '.join(sorted(set_spec.lighting)) or 'none'}"))


def _check_furniture(prod: Production, set_spec: SetSpec, where: str) -> None:
    """Seats and surfaces name masks the set has, and names are unique across its furniture."""
    masks = {mask.name for mask in set_spec.masks}
    seen: set[str] = set()
    for kind, items in (("seats", set_spec.seats), ("surfaces", set_spec.surfaces),
                        ("props", set_spec.props)):
        for index, item in enumerate(items):
            if item.name in seen:
                prod.problems.append(Problem(
                    where, f"{kind}[{index}].name", f'"{item.name}" is used twice',
                    "give every seat, surface and prop of a set its own name"))
            seen.add(item.name)
            mask = getattr(item, "mask", None)
            if mask is not None and mask not in masks:
                prod.problems.append(Problem(
                    where, f"{kind}[{index}].mask", f'unknown mask "{mask}"',
                    f"known: {', '.join(sorted(masks)) or 'none'} (or leave mask out when the "
                    "plate paints it)"))


def _check_trigger(prod: Production, member: CastMember) -> None:
    if not member.trigger:
        return
    for other in prod.cast.values():
        if other.name < member.name and other.trigger.lower() == member.trigger.lower():
            prod.problems.append(Problem(
                f"cast/{member.name}.toml", "trigger",
                f'"{member.trigger}" is also the trigger of {other.name}',
                "trigger words must be unique so a LoRA prompt names one character"))


def _check_file(prod: Production, where: str, field: str, relative: str, base: Path) -> None:
    try:
        path = prod.resolve(relative, base)
    except SoloreelError as exc:
        prod.problems.append(Problem(where, field, str(exc)))
        return
    if not path.is_file():
        shown = path.relative_to(prod.root).as_posix()
        prod.problems.append(Problem(
            where, field, f"file {shown} does not exist",
            "create it, or fix the path (relative to the folder of this file)"))


def slugify(text: str) -> str:
    """A bible name from free text ("Jane's Patio" → "janes-patio")."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower().replace("'", "")).strip("-")
    return slug or "unnamed"
