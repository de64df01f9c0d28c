"""Light per scene moment: the same character's face has the same colour in every shot size.

Measured through the shot's own frame buffers (`ShotFrames.frame`): the mean CIE Lab over the
character's face box (from its placed eyes and head-top anchors, opaque sprite pixels only) in
WS, FS, MS, MCU, CU and OTS of one moment, on the demo's night campfire, its day patio and a
flat user plate without depth. Cells that show a different painted view (a side view where the
others show three-quarter) are another drawing, not another light, so sizes are compared
among those sharing a view. Daylight keeps the sheet's skin chroma.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from render_engine.bible import Production, load_production
from render_engine.proxy.shot import Frame, ShotFrames
from render_engine.spec import ShotSpec

W, H = 960, 540
SIZES = ("WS", "FS", "MS", "MCU", "CU", "OTS")
SEATS = {"campfire": ((-1.3, 3.7), (1.3, 3.9)), "patio": ((-1.3, 4.4), (1.3, 4.6))}


@pytest.fixture(scope="module")
def production(demo_production: Path, tmp_path_factory: pytest.TempPathFactory) -> Production:
    """The demo with a flat user plate (no depth map) added: a daylight photo-like gradient."""
    root = tmp_path_factory.mktemp("light") / "demo"
    shutil.copytree(demo_production, root)
    rows = np.linspace(0, 1, 720, dtype=np.float32)[:, None, None]
    sky, ground = np.array([150, 190, 235], np.float32), np.array([120, 140, 90], np.float32)
    plate = np.where(rows < 0.5, sky, ground) * np.ones((1, 1280, 1), np.float32)
    Image.fromarray(plate.astype(np.uint8)).save(root / "user_plate.png")
    return load_production(root)


def _spec(set_name: str, size: str, subject: str, other: str, plate: str | None = None
          ) -> ShotSpec:
    left, right = SEATS["patio" if plate else set_name]
    subjects = [other, subject] if size == "OTS" else [subject]
    fields = {"shot": {"id": "t", "size": size, "subjects": subjects}, "set": set_name,
              "seed": 11, "characters": [
                  {"name": "john", "position": list(left), "facing": 101, "action": "sit"},
                  {"name": "jane", "position": list(right), "facing": 251, "action": "sit"}]}
    if plate:
        fields["plate"] = plate
    return ShotSpec.model_validate(fields)


def face_lab(frame: Frame, name: str) -> np.ndarray | None:
    """Mean Lab (L 0..100) of the opaque sprite pixels in the character's face box."""
    sprite = next((s for s in frame.sprites if s.name == name), None)
    if sprite is None or "eyes" not in sprite.extra:
        return None
    ex, ey = sprite.extra["eyes"]
    _hx, hy = sprite.extra["head_top"]
    d = max(ey - hy, 2.0)
    x0, x1 = max(int(ex - 0.45 * d), sprite.x0), min(int(ex + 0.45 * d) + 1, sprite.bbox[2])
    y0, y1 = max(int(ey - 0.1 * d), sprite.y0), min(int(ey + 0.8 * d) + 1, sprite.bbox[3])
    if x1 <= x0 or y1 <= y0:
        return None
    opaque = sprite.coverage[y0 - sprite.y0:y1 - sprite.y0, x0 - sprite.x0:x1 - sprite.x0] > 250
    if opaque.sum() < 16:
        return None
    lab = cv2.cvtColor(frame.rgb[y0:y1, x0:x1].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    return lab[opaque].mean(axis=0)


def _cells(production: Production, set_name: str, subject: str, other: str,
           plate: str | None = None) -> dict[str, tuple[str, np.ndarray]]:
    found = {}
    for size in SIZES:
        shot = ShotFrames(_spec(set_name, size, subject, other, plate), production, W, H, 24,
                          0, (0, 48))
        frame = shot.frame(20)  # one moment of the scene: the same shot time in every size
        lab = face_lab(frame, subject)
        if lab is not None:
            view = next(s.view for s in frame.sprites if s.name == subject)
            found[size] = (view, lab)
    return found


@pytest.mark.parametrize("set_name,plate", [("campfire", None), ("patio", None),
                                            ("patio", "user_plate.png")],
                         ids=["campfire-night", "patio-day", "flat-user-plate"])
@pytest.mark.parametrize("subject,other", [("john", "jane"), ("jane", "john")])
def test_face_colour_matches_across_sizes(production: Production, set_name: str,
                                          plate: str | None, subject: str, other: str) -> None:
    cells = _cells(production, set_name, subject, other, plate)
    assert len(cells) >= 5, cells.keys()
    by_view: dict[str, list[tuple[str, np.ndarray]]] = {}
    for size, (view, lab) in cells.items():
        by_view.setdefault(view, []).append((size, lab))
    biggest = max(by_view.values(), key=len)
    assert len(biggest) >= 4, {v: [s for s, _ in c] for v, c in by_view.items()}
    for group in by_view.values():
        for size_a, lab_a in group:
            for size_b, lab_b in group:
                delta = float(np.linalg.norm(lab_a - lab_b))
                assert delta <= 6.0, (set_name, subject, size_a, size_b, lab_a, lab_b)


def test_daylight_keeps_the_sheets_skin_chroma(production: Production) -> None:
    """The issue: Jane's cheek RGB 242,193,166 on her sheet came out 121,113,110 (grey) in
    the patio WS. Her lit face keeps at least 60% of the sheet's chroma and stays bright."""
    member = production.member("jane")
    view = member.views["sit_three_quarter"]
    sheet = np.asarray(Image.open(production.cast_file(member, view.image)).convert("RGBA"))
    ex, ey = view.eyes
    hy = view.head_top[1]
    d = ey - hy
    box = sheet[int(ey - 0.1 * d):int(ey + 0.8 * d), int(ex - 0.45 * d):int(ex + 0.45 * d)]
    opaque = box[..., 3] > 250
    painted = cv2.cvtColor(box[..., :3].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[opaque]
    painted_chroma = float(np.hypot(*painted[:, 1:].mean(axis=0)))
    for plate in (None, "user_plate.png"):
        cells = _cells(production, "patio", "jane", "john", plate)
        for size, (_view, lab) in cells.items():
            chroma = float(np.hypot(lab[1], lab[2]))
            assert chroma >= 0.6 * painted_chroma, (plate, size, chroma, painted_chroma)
            assert lab[0] >= 55, (plate, size, lab)  # a sunlit face, not a grey one


def test_a_day_preset_without_a_sun_direction_is_a_soft_fill(production: Production) -> None:
    """A day set whose preset names no key direction (a user's first stub) lights faces with
    a soft frontal fill: bright, the sheet's skin colour, little modelling — not grey."""
    from render_engine.bible import LightingPreset
    from render_engine.proxy import lighting

    soft = LightingPreset(key_color=(255, 246, 230), ambient_color=(165, 180, 205))
    assert not lighting.has_key_direction(soft) and lighting.is_daylight(soft)
    spec = _spec("patio", "MCU", "jane", "john")
    shot = ShotFrames(spec, production, W, H, 24, 0, (0, 48))
    shot.lighting = lighting.ShotLighting(soft, None, spec.seed, shot.lighting.plate)
    frame = shot.frame(20)
    lab = face_lab(frame, "jane")
    assert lab is not None and lab[0] >= 60 and float(np.hypot(lab[1], lab[2])) >= 12, lab
    sprite = next(s for s in frame.sprites if s.name == "jane")
    assert sprite.light.fill >= 0.5 and sprite.light.rim_strength == 0.0
    # the grey of the issue: the same preset lit as a plain key from straight ahead
    harsh = soft.model_copy(update={"key_azimuth_deg": 0.0})
    assert lighting.has_key_direction(harsh)
    shot.lighting = lighting.ShotLighting(harsh, None, spec.seed, shot.lighting.plate)
    dark = face_lab(shot.frame(20), "jane")
    assert dark is not None and dark[0] < lab[0] - 5


def test_no_bright_halo_round_cut_outs_by_day(production: Production) -> None:
    """The issue: John with a white halo in the patio TWO (a key-coloured rim at full strength
    in daylight). The outer two pixels of every cut-out are at most a little brighter than the
    band just inside them (it was 30-40 levels brighter)."""
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for size, subjects in (("TWO", ["john", "jane"]), ("MCU", ["john"])):
        spec = ShotSpec.model_validate({
            "shot": {"id": "t", "size": size, "subjects": subjects}, "set": "patio", "seed": 3,
            "characters": [
                {"name": "john", "position": [-1.3, 4.4], "facing": 101, "action": "sit"},
                {"name": "jane", "position": [1.3, 4.6], "facing": 251, "action": "sit"}]})
        frame = ShotFrames(spec, production, W, H, 24, 0, (0, 48)).frame(5)
        for sprite in frame.sprites:
            solid = (sprite.coverage > 250).astype(np.uint8)
            inside = cv2.erode(solid, kernel, iterations=2) > 0
            ring = (solid > 0) & ~inside
            band = inside & ~(cv2.erode(solid, kernel, iterations=5) > 0)
            x0, y0, x1, y1 = sprite.bbox
            y = frame.rgb[y0:y1, x0:x1].astype(np.float32) @ luma
            assert y[ring].mean() <= y[band].mean() + 12, (size, sprite.name)
