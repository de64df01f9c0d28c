"""Opening the files the bible and the specs name: decodable, and depth maps and masks of the
mode and size the proxy tier reads.

Why: a file that exists can still be truncated, empty, not an image at all, or an 8-bit RGB
"depth map" that the renderer would read as something else and render wrong without a word.
`validate` decodes every referenced image and audio file here (without rendering); planning a
render runs the cheap header checks (`decode=False`: mode and size, no pixels), so a render
refuses an RGB depth map with the same message instead of rendering a different picture.
Results are cached per file version (path, size, mtime), so planning many shots that share a
set opens its files once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from render_engine.bible import CastMember, Production, SetSpec
from render_engine.errors import Problem, SoloreelError

DEPTH_MODES = frozenset({"L", "I", "I;16", "I;16L", "I;16B", "I;16N"})
"""Single-channel modes a depth map may have (16-bit greyscale PNG is the documented one)."""
MASK_MODES = frozenset({"L", "1"})
"""Single-channel modes a foreground mask may have (8-bit greyscale, or 1-bit)."""
DEPTH_FIX = "save it as a 16-bit greyscale PNG (one channel, millimetres, 65535 = sky)"
MASK_FIX = "save it as an 8-bit greyscale PNG (one channel, white = in front)"
IMAGE_FIX = "re-export it as a PNG (or JPEG), or fix the path"
AUDIO_FIX = "re-export it as a WAV"


@dataclass(frozen=True)
class FileProblem:
    """One bad file: the bible field that names it, what is wrong and the fix."""

    field: str
    message: str
    fix: str

    def problem(self, where: str) -> Problem:
        """As a validation Problem located at `where` (a bible file or a clip)."""
        return Problem(where, self.field, self.message, self.fix)


@dataclass(frozen=True)
class _Facts:
    mode: str
    size: tuple[int, int]
    error: str | None = None


def _version(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=512)
def _image_facts(version: tuple[str, int, int], decode: bool) -> _Facts:
    """Mode and size from the header; with `decode`, every pixel is decoded too."""
    path = version[0]
    if version[1] == 0:
        return _Facts("", (0, 0), "is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            facts = _Facts(image.mode, image.size)
            if decode:
                image.load()
    except Exception as exc:  # PIL raises many types for bad files; the user needs the reason
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return _Facts("", (0, 0), f"cannot be decoded as an image ({reason[:200]})")
    return facts


@functools.lru_cache(maxsize=128)
def _audio_error(version: tuple[str, int, int]) -> str | None:
    from render_engine.audio.wav import read_audio_any

    try:
        samples, _rate = read_audio_any(version[0])
    except SoloreelError as exc:
        return f"cannot be decoded as audio ({str(exc).split(': ', 1)[-1][:200]})"
    if samples.size == 0:
        return "holds no audio (0 samples)"
    return None


def _shown(production: Production, path: Path) -> str:
    try:
        return path.relative_to(production.root).as_posix()
    except ValueError:
        return str(path)


def image_problem(production: Production, field: str, path: Path, decode: bool = True
                  ) -> FileProblem | None:
    """A problem when `path` (an existing file) is not a decodable image."""
    facts = _image_facts(_version(path), decode)
    if facts.error:
        return FileProblem(field, f"{_shown(production, path)} {facts.error}", IMAGE_FIX)
    return None


def audio_problem(production: Production, field: str, path: Path) -> FileProblem | None:
    """A problem when `path` (an existing file) is not decodable audio with samples."""
    error = _audio_error(_version(path))
    if error:
        return FileProblem(field, f"{_shown(production, path)} {error}", AUDIO_FIX)
    return None


def layer_problem(production: Production, field: str, path: Path, kind: str,
                  plate_size: tuple[int, int] | None, decode: bool) -> FileProblem | None:
    """A depth map's (`kind` "depth") or a mask's ("mask") problem: decodable (with
    `decode`), one channel of an accepted mode, the plate's size."""
    facts = _image_facts(_version(path), decode)
    shown = _shown(production, path)
    what = "depth map" if kind == "depth" else "mask"
    fix = DEPTH_FIX if kind == "depth" else MASK_FIX
    if facts.error:
        return FileProblem(field, f"{what} {shown} {facts.error}", fix)
    modes = DEPTH_MODES if kind == "depth" else MASK_MODES
    if facts.mode not in modes:
        bands = Image.getmodebands(facts.mode) if facts.mode else 0
        detail = f"{facts.mode}, {bands} channels" if bands > 1 else facts.mode
        return FileProblem(field, f"{what} {shown} is {detail}; it must be one greyscale "
                           "channel" + (" of millimetres" if kind == "depth" else ""), fix)
    if plate_size is not None and facts.size != plate_size:
        return FileProblem(
            field, f"{what} {shown} is {facts.size[0]}x{facts.size[1]}, the plate "
            f"{plate_size[0]}x{plate_size[1]}; they must match",
            "resize it to the plate's size (or re-export both from the same canvas)")
    return None


def set_file_problems(production: Production, set_spec: SetSpec, decode: bool = True
                      ) -> list[FileProblem]:
    """Every problem of a set's existing files: the plate decodes (with `decode`), the depth
    map and masks are one channel at the plate's size. Missing files are reported elsewhere
    (`bible._check_bible_files`), so they are skipped here."""
    problems: list[FileProblem] = []
    plate_size: tuple[int, int] | None = None
    for field, relative in production.set_files(set_spec).items():
        try:
            path = production.set_file(set_spec, relative)
        except SoloreelError:
            continue  # reported by the bible checks
        if not path.is_file():
            continue
        if field == "plate.image":
            found = image_problem(production, field, path, decode)
            if found is None:
                plate_size = _image_facts(_version(path), decode).size
        else:
            kind = "depth" if field == "plate.depth" else "mask"
            found = layer_problem(production, field, path, kind, plate_size, decode)
        if found is not None:
            problems.append(found)
    return problems


def cast_file_problems(production: Production, member: CastMember) -> list[FileProblem]:
    """Every existing image of a cast member decodes, and its reference voice is audio."""
    problems: list[FileProblem] = []
    for field, relative in production.cast_files(member, include_lora=False).items():
        try:
            path = production.cast_file(member, relative)
        except SoloreelError:
            continue
        if not path.is_file():
            continue
        found = (audio_problem(production, field, path) if field == "voice.reference"
                 else image_problem(production, field, path))
        if found is not None:
            problems.append(found)
    return problems


def bible_file_problems(production: Production) -> list[Problem]:
    """Decode every file the bible names (sets and cast), as validation Problems located at
    their bible file."""
    problems: list[Problem] = []
    for set_spec in production.sets.values():
        where = f"sets/{set_spec.name}.toml"
        problems += [p.problem(where) for p in set_file_problems(production, set_spec)]
    for member in production.cast.values():
        where = f"cast/{member.name}.toml"
        problems += [p.problem(where) for p in cast_file_problems(production, member)]
    return problems
