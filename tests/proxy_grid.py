"""The proxy grid: every demo set x shot size x camera move, measured through the compositor.

Used by `tests/test_proxy_grid.py` and runnable on its own to write a contact sheet of every
cell (`python -m tests.proxy_grid /tmp/grid_contact.png [production]`): the demo's two sets
(campfire at night, a wide plate; the day patio, a flat one) plus two variants of the patio a
user would bring — its plate without a depth map, and with a deliberately noisy depth map
(what a monocular depth estimator gives: blotchy, with soft, misplaced edges).

Each cell renders a few frames (first, middle, last) at a small size through `ShotFrames`, and
reads back what the compositor recorded (`compositor.last_report`): the plate pixels filled by
stretching where no fill supported them, and each subject's face box with how much of it a
foreground mask or nearer plate depth covered.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomli_w
from PIL import Image, ImageDraw

from render_engine.bible import Production, load_production
from render_engine.proxy import compositor
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec

W, H = 320, 180
FPS = 24.0
FRAMES = 24
SIZES = ("WS", "FS", "MS", "MCU", "CU", "OTS")
MOVES: dict[str, dict] = {
    "static": {"move": "static"},
    "pan": {"move": "pan_right", "amount": 0.3},
    "dolly": {"move": "push_in", "amount": 0.25},
    "truck": {"move": "truck_right", "amount": 0.3},
}
SETS = ("campfire", "patio", "patio_flat", "patio_noisy")


def _people(set_name: str) -> list[dict]:
    """Where the cast sits or stands on each set (the demo's campfire blocking; on the patio
    two seated behind the table and one standing, as issue 17's scene)."""
    if set_name == "campfire":
        return [{"name": "john", "position": [-1.3, 3.7], "facing": 100, "action": "sit"},
                {"name": "jane", "position": [1.3, 3.9], "facing": 260, "action": "sit"}]
    return [{"name": "john", "position": [-0.5, 4.1], "facing": 170, "action": "sit"},
            {"name": "jane", "position": [0.55, 4.1], "facing": 190, "action": "sit"},
            {"name": "ranger", "position": [1.8, 4.6], "facing": 220, "action": "stand"}]


def variant_sets(production_dir: Path) -> None:
    """Add the patio's no-depth and noisy-depth variants to a (writable) production."""
    sets = production_dir / "sets"
    base = (sets / "patio.toml").read_text()
    import tomllib

    data = tomllib.loads(base)
    flat = copy.deepcopy(data)
    flat["name"] = "patio_flat"
    flat["plate"].pop("depth", None)
    flat["masks"] = []
    (sets / "patio_flat.toml").write_text(tomli_w.dumps(flat))
    depth = np.array(Image.open(sets / data["plate"]["depth"]))
    rng = np.random.default_rng(17)
    h, w = depth.shape
    metres = depth.astype(np.float64) / 1000.0
    sky = depth >= 65535
    metres = np.where(sky, 60.0, metres)
    # what an estimator gives: smooth blotchy scale error, blurred (misplaced) edges, grain
    small = rng.normal(0.0, 1.0, (9, 16))
    blotch = np.array(Image.fromarray(small.astype(np.float32)).resize((w, h),
                                                                       Image.BICUBIC))
    import cv2

    soft = cv2.GaussianBlur(metres.astype(np.float32), (0, 0), 6.0)
    noisy = soft * (1.0 + 0.08 * blotch) * (1.0 + 0.03 * rng.normal(0, 1, (h, w)))
    noisy = np.clip(noisy * 1000.0, 300, 60000).astype(np.uint16)
    noisy_path = sets / "patio" / "depth_noisy.png"
    Image.fromarray(noisy).save(noisy_path)
    noisy_set = copy.deepcopy(data)
    noisy_set["name"] = "patio_noisy"
    noisy_set["plate"]["depth"] = "patio/depth_noisy.png"
    (sets / "patio_noisy.toml").write_text(tomli_w.dumps(noisy_set))


def spec_for(set_name: str, size: str, move: str) -> ShotSpec:
    """The cell's shot: subjects by size (OTS over john onto jane, singles on jane)."""
    base = "campfire" if set_name == "campfire" else "patio"
    lighting = "night_fire" if base == "campfire" else "morning"
    subjects = {"WS": ["john", "jane"], "OTS": ["john", "jane"]}.get(size, ["jane"])
    return ShotSpec.model_validate({
        "shot": {"id": f"g-{set_name}-{size}-{move}", "size": size, "subjects": subjects},
        "set": set_name, "lighting": lighting, "seed": 17,
        "camera": MOVES[move], "characters": _people(set_name)})


@dataclass
class Cell:
    """One grid cell's frames and measurements."""

    set_name: str
    size: str
    move: str
    frames: list[np.ndarray] = field(default_factory=list)
    unsupported: list[float] = field(default_factory=list)
    """Share of each frame's pixels filled by stretching with no supported fill."""
    face_cover: list[float] = field(default_factory=list)
    """Largest share of any subject's face box hidden by the set, per frame."""
    faces: list[list[tuple[int, int, int, int]]] = field(default_factory=list)
    props: list[float] = field(default_factory=list)
    """Largest share of a subject's face the props' masks would hide unprotected."""


def render_cell(production: Production, set_name: str, size: str, move: str,
                indices: tuple[float, ...] = (0.0, 0.5, 1.0)) -> Cell:
    """Render a cell's frames (at `indices` x the last frame) and measure them."""
    spec = spec_for(set_name, size, move)
    shot = ShotFrames(spec, production, W, H, FPS, 0, (0, FRAMES))
    cell = Cell(set_name, size, move)
    for at in indices:
        frame = shot.frame(round(at * (FRAMES - 1)))
        report = compositor.last_report
        cell.frames.append(frame.rgb)
        cell.unsupported.append(float(report.unsupported.mean())
                                if report.unsupported is not None else 0.0)
        covers = [f.covered for f in report.faces if f.name in spec.shot.subjects]
        cell.face_cover.append(max(covers, default=0.0))
        cell.props.append(max((f.props for f in report.faces if f.name in spec.shot.subjects),
                              default=0.0))
        cell.faces.append([f.box for f in report.faces if f.name in spec.shot.subjects])
    return cell


def contact_sheet(cells: list[Cell], path: Path) -> None:
    """Every cell's frames side by side, one row per cell, labelled, face boxes outlined."""
    per = max(len(c.frames) for c in cells)
    label = 150
    sheet = Image.new("RGB", (label + per * (W + 4), len(cells) * (H + 4)), (30, 30, 30))
    draw = ImageDraw.Draw(sheet)
    for row, cell in enumerate(cells):
        y = row * (H + 4)
        draw.text((4, y + 4), f"{cell.set_name}\n{cell.size} {cell.move}\n"
                  f"stretch {max(cell.unsupported):.4f}\nface {max(cell.face_cover):.2f}",
                  fill=(255, 255, 255))
        for col, rgb in enumerate(cell.frames):
            x = label + col * (W + 4)
            sheet.paste(Image.fromarray(rgb), (x, y))
            for x0, y0, x1, y1 in cell.faces[col]:
                draw.rectangle((x + x0, y + y0, x + x1, y + y1), outline=(255, 0, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def run_grid(production_dir: Path, sets: tuple[str, ...] = SETS,
             sizes: tuple[str, ...] = SIZES, moves: tuple[str, ...] = tuple(MOVES)
             ) -> list[Cell]:
    """Render every cell of the grid on a production that has the variant sets."""
    production = load_production(production_dir)
    return [render_cell(production, s, z, m) for s in sets for z in sizes for m in moves]


def main(argv: list[str]) -> int:
    """Write the contact sheet: `python -m tests.proxy_grid OUT.png [PRODUCTION_DIR]`."""
    out = Path(argv[0]) if argv else Path("/tmp/grid_contact.png")
    if len(argv) > 1:
        folder = Path(argv[1])
    else:
        from render_engine.demo.production import build_demo

        folder = Path("/tmp/proxy_grid/campfire")
        if not (folder / "sets" / "patio.toml").exists():
            build_demo(folder)
    if not (folder / "sets" / "patio_noisy.toml").exists():
        variant_sets(folder)
    wanted = tuple(argv[2].split(",")) if len(argv) > 2 else SETS
    cells = run_grid(folder, wanted)
    for cell in cells:
        print(f"{cell.set_name:12s} {cell.size:4s} {cell.move:7s} stretch "
              f"{max(cell.unsupported):.4f} face {max(cell.face_cover):.2f} "
              f"props {max(cell.props):.2f}")
    # one sheet per set keeps each image readable
    for name in wanted:
        mine = [c for c in cells if c.set_name == name]
        contact_sheet(mine, out.with_name(f"{out.stem}_{name}{out.suffix}"))
    contact_sheet(cells, out)
    print(out, math.fsum(max(c.unsupported) for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
