"""Candidates, picking, captions and the dataset checks that gate LoRA training.

Candidates are `candidates/cNNN.png` with a `cNNN.json` provenance (origin, view, expression,
seed, model…). Picking marks ids with flag files in `picks/` — either by `soloreel cast pick
NAME c001 c004`, or by hand in a file browser (copy or link a candidate into picks/, or create
an empty file named after its id) — and then copies the picked images into `dataset/` with a
caption `.txt` beside each (trigger, view, expression, outfit). Captions already there are kept,
so hand edits survive a re-pick.

Checks (exact rules, tested on planted cases):
- count: an error under MIN_IMAGES (4), a warning under RECOMMENDED_IMAGES (10);
- resolution: an error when an image's short side is under `min_side`, a warning under
  `recommended_side`;
- near-duplicates: a warning for every pair whose 64-bit perceptual hashes (DCT pHash) differ in
  at most DUPLICATE_BITS bits — they weigh one pose double and teach nothing new;
- view coverage: a warning naming each of front / three_quarter / side / back with no image.
Training refuses a dataset with errors and prints the warnings.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from render_engine.atomic import atomic_path, write_text_atomic
from render_engine.cast.workspace import IMAGE_SUFFIXES, Workspace, check_image
from render_engine.errors import SoloreelError

MIN_IMAGES = 4
RECOMMENDED_IMAGES = 10
MIN_SIDE = 256
RECOMMENDED_SIDE = 512
DUPLICATE_BITS = 6
CORE_VIEWS = ("front", "three_quarter", "side", "back")
VIEWS = (*CORE_VIEWS, "sitting", "closeup")
VIEW_PHRASES = {"front": "front view", "three_quarter": "three-quarter view",
                "side": "side view", "back": "back view", "sitting": "sitting",
                "closeup": "close-up portrait"}
CANDIDATE_ID = re.compile(r"c\d{3,}")


# --------------------------------------------------------------------------- candidates


def candidate_ids(workspace: Workspace) -> list[str]:
    """Ids of the candidates present, sorted."""
    folder = workspace.folder("candidates")
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("c*.png") if CANDIDATE_ID.fullmatch(p.stem))


def next_candidate_id(workspace: Workspace) -> str:
    """The id after the highest present (c001 for an empty folder)."""
    numbers = [int(i[1:]) for i in candidate_ids(workspace)]
    return f"c{max(numbers, default=0) + 1:03d}"


def provenance(workspace: Workspace, cid: str) -> dict[str, Any]:
    """A candidate's provenance json (empty when missing)."""
    path = workspace.folder("candidates") / f"{cid}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def add_candidate(workspace: Workspace, image: Image.Image, meta: dict[str, Any]) -> str:
    """Save one candidate (PNG + provenance json) under the next id; returns the id."""
    cid = next_candidate_id(workspace)
    folder = workspace.folder("candidates")
    with atomic_path(folder / f"{cid}.png") as tmp:
        image.save(tmp, format="PNG")
    write_text_atomic(folder / f"{cid}.json",
                      json.dumps({"id": cid, **meta}, indent=2, sort_keys=True) + "\n")
    return cid


def import_sheet(workspace: Workspace, sheet: Path, grid: tuple[int, int] = (1, 1),
                 views: list[str] | None = None, expression: str = "neutral") -> list[str]:
    """Import a hand-drawn sheet (or a single drawing) as candidates.

    `grid` (columns, rows) splits the sheet into equal cells, read left to right then top to
    bottom; a cell that is a single flat colour (an empty slot) is skipped. `views` names the
    view of each cell in order (the rest unknown). Returns the new ids.
    """
    check_image(sheet)
    columns, rows = grid
    if columns < 1 or rows < 1:
        raise SoloreelError("--grid needs positive COLUMNSxROWS")
    for view in views or []:
        if view not in VIEWS:
            raise SoloreelError(f'unknown view "{view}"; known: {", ".join(VIEWS)}')
    with Image.open(sheet) as opened:
        image = opened.convert("RGBA") if opened.mode in ("RGBA", "LA", "P") else \
            opened.convert("RGB")
    width, height = image.size
    ids = []
    index = 0
    for row in range(rows):
        for column in range(columns):
            box = (column * width // columns, row * height // rows,
                   (column + 1) * width // columns, (row + 1) * height // rows)
            cell = image.crop(box)
            pixels = np.asarray(cell)
            if pixels.reshape(-1, pixels.shape[-1]).std(axis=0).max() < 1.0:
                index += 1
                continue
            view = views[index] if views and index < len(views) else None
            ids.append(add_candidate(workspace, cell, {
                "origin": "import", "source": str(sheet), "cell": [column, row],
                "box": list(box), "view": view, "expression": expression}))
            index += 1
    return ids


# --------------------------------------------------------------------------- picking


def flagged_ids(workspace: Workspace) -> list[str]:
    """Candidate ids flagged in picks/ (any file whose stem is an id: `c003`, `c003.png`…)."""
    folder = workspace.folder("picks")
    if not folder.is_dir():
        return []
    return sorted({p.name.split(".")[0] for p in folder.iterdir()
                   if CANDIDATE_ID.fullmatch(p.name.split(".")[0])})


def flag(workspace: Workspace, ids: list[str]) -> None:
    """Write a flag file for each id (the CLI and the file-browser workflow meet here)."""
    known = set(candidate_ids(workspace))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise SoloreelError(f"unknown candidate id(s): {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(known)) or 'none'}")
    folder = workspace.folder("picks")
    folder.mkdir(parents=True, exist_ok=True)
    for cid in ids:
        (folder / cid).touch()


def unflag(workspace: Workspace, ids: list[str]) -> None:
    """Remove every flag file of each id."""
    folder = workspace.folder("picks")
    for path in list(folder.iterdir()) if folder.is_dir() else []:
        if path.name.split(".")[0] in ids:
            path.unlink()


def contact_sheet(workspace: Workspace, columns: int = 6, thumb: int = 160) -> Path:
    """candidates/contact-sheet.png: every candidate as a thumbnail labelled with its id (and
    view), picked ones framed in green. Returns the path."""
    ids = candidate_ids(workspace)
    if not ids:
        raise SoloreelError(f"{workspace.name} has no candidates yet; generate some with "
                            "`soloreel cast candidates` or import drawings with "
                            "`soloreel cast import`")
    picked = set(flagged_ids(workspace))
    label = 18
    rows = (len(ids) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * thumb, rows * (thumb + label)), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    for index, cid in enumerate(ids):
        x, y = (index % columns) * thumb, (index // columns) * (thumb + label)
        with Image.open(workspace.folder("candidates") / f"{cid}.png") as opened:
            image = flatten(opened)
        image = ImageOps.contain(image, (thumb - 8, thumb - 8))
        sheet.paste(image, (x + (thumb - image.width) // 2, y + (thumb - image.height) // 2))
        if cid in picked:
            draw.rectangle((x + 1, y + 1, x + thumb - 2, y + thumb - 2), outline=(0, 220, 0),
                           width=3)
        view = provenance(workspace, cid).get("view") or ""
        draw.text((x + 4, y + thumb + 3), f"{cid} {view}".strip(), fill=(255, 255, 255))
    target = workspace.folder("candidates") / "contact-sheet.png"
    with atomic_path(target) as tmp:
        sheet.save(tmp, format="PNG")
    return target


def flatten(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)
            ) -> Image.Image:
    """RGB with any transparency composited on `background` (white, like VACE references)."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return image.convert("RGB")


# --------------------------------------------------------------------------- captions


def caption_text(trigger: str, view: str | None, expression: str | None,
                 outfit: str | None) -> str:
    """"JaneSunflowerDress, front view, smiling expression, wearing sunflower dress"."""
    parts = [trigger]
    if view:
        parts.append(VIEW_PHRASES.get(view, view.replace("_", " ")))
    if expression:
        parts.append(f"{expression} expression")
    if outfit:
        parts.append(f"wearing {outfit}")
    return ", ".join(p for p in parts if p)


def image_meta(path: Path) -> dict[str, Any]:
    """View/expression of a dataset image: its `.json` sidecar, else a view named in the file
    name (`front-01.png`, `jane_side.png`)."""
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    if not meta.get("view"):
        stem = path.stem.lower()
        for view in sorted(VIEWS, key=len, reverse=True):
            if view in stem or view.replace("_", "-") in stem:
                meta["view"] = view
                break
    return meta


def write_captions(workspace: Workspace, trigger: str, outfit: str | None,
                   overwrite: bool = False) -> list[Path]:
    """A caption `.txt` beside every dataset image (kept if present unless `overwrite`)."""
    written = []
    for path in dataset_images(workspace.folder("dataset")):
        target = path.with_suffix(".txt")
        if target.exists() and not overwrite:
            continue
        meta = image_meta(path)
        write_text_atomic(target, caption_text(trigger, meta.get("view"),
                                               meta.get("expression"), outfit) + "\n")
        written.append(target)
    return written


def build_dataset(workspace: Workspace, trigger: str, outfit: str | None) -> list[Path]:
    """Make dataset/ hold exactly the flagged candidates (copied, with provenance sidecars and
    captions); dataset images of candidates no longer picked are removed, others kept."""
    folder = workspace.folder("dataset")
    folder.mkdir(parents=True, exist_ok=True)
    picked = flagged_ids(workspace)
    for path in dataset_images(folder):
        if CANDIDATE_ID.fullmatch(path.stem) and path.stem not in picked:
            for suffix in (path.suffix, ".txt", ".json"):
                path.with_suffix(suffix).unlink(missing_ok=True)
    copied = []
    for cid in picked:
        source = workspace.folder("candidates") / f"{cid}.png"
        target = folder / f"{cid}.png"
        if not target.exists():
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
            meta = provenance(workspace, cid)
            write_text_atomic(target.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
        copied.append(target)
    write_captions(workspace, trigger, outfit)
    return copied


# --------------------------------------------------------------------------- checks


def dataset_images(folder: Path) -> list[Path]:
    """Images in a dataset folder, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _dct_matrix(size: int) -> np.ndarray:
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2 / size)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT32 = _dct_matrix(32)


def perceptual_hash(image: Image.Image) -> int:
    """64-bit pHash: grey 32×32, 2-D DCT, the 8×8 lowest frequencies (DC excluded from the
    median) thresholded at their median."""
    grey = np.asarray(flatten(image).convert("L").resize((32, 32), Image.Resampling.LANCZOS),
                      np.float64)
    low = (_DCT32 @ grey @ _DCT32.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    """Bits that differ between two hashes."""
    return (a ^ b).bit_count()


@dataclass
class DatasetReport:
    """The outcome of the checks: errors block training, warnings are advice."""

    images: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str, int]] = field(default_factory=list)
    views: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_dataset(folder: Path, min_side: int = MIN_SIDE,
                  recommended_side: int = RECOMMENDED_SIDE,
                  duplicate_bits: int = DUPLICATE_BITS) -> DatasetReport:
    """Run every check on a dataset folder (see the module docstring for the rules)."""
    report = DatasetReport(images=dataset_images(folder))
    count = len(report.images)
    if count < MIN_IMAGES:
        report.errors.append(f"only {count} image(s); a LoRA needs at least {MIN_IMAGES} "
                             f"(pick {RECOMMENDED_IMAGES}–20)")
    elif count < RECOMMENDED_IMAGES:
        report.warnings.append(f"only {count} images; {RECOMMENDED_IMAGES}–20 give a LoRA that "
                               "holds the character from every angle")
    hashes: list[tuple[str, int]] = []
    for path in report.images:
        try:
            with Image.open(path) as image:
                image.load()
                short = min(image.size)
                hashes.append((path.name, perceptual_hash(image)))
        except OSError as exc:
            report.errors.append(f"{path.name}: not a readable image ({exc})")
            continue
        if short < min_side:
            report.errors.append(f"{path.name}: {image.width}×{image.height} is too small "
                                 f"(short side under {min_side} px); upscale or drop it")
        elif short < recommended_side:
            report.warnings.append(f"{path.name}: {image.width}×{image.height}, short side "
                                   f"under {recommended_side} px (soft detail)")
        if not path.with_suffix(".txt").is_file():
            report.warnings.append(f"{path.name}: no caption {path.with_suffix('.txt').name} "
                                   "(run `soloreel cast caption`)")
        view = image_meta(path).get("view") or "unknown"
        report.views[view] = report.views.get(view, 0) + 1
    for i, (name_a, hash_a) in enumerate(hashes):
        for name_b, hash_b in hashes[i + 1:]:
            distance = hamming(hash_a, hash_b)
            if distance <= duplicate_bits:
                report.duplicates.append((name_a, name_b, distance))
                report.warnings.append(f"{name_a} and {name_b} are near-duplicates "
                                       f"(perceptual hashes {distance} bits apart); drop one")
    missing = [v for v in CORE_VIEWS if not report.views.get(v)]
    if missing and count:
        report.warnings.append(f"no {', '.join(missing)} view(s): the LoRA will guess those "
                               "angles")
    return report
