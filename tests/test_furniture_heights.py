"""Seats of any height (issue 20): the rigged seated cut-out bends its painted legs to the seat
it is put on, a sitter without `seat =` is framed and drawn on the seat its hips use, an extra
without sit views is bent into the seated figure, and a walker stepping out from behind a
foreground mask is hidden by it only while farther than it.

Every sheet and set here is drawn by the test: a profile figure painted over the procedural
figure's joints, one flat colour per body part (feet in their own colour, so the lowest
painted pixels are the feet), seated on a knee-high seat as a sheet paints it; a yard with a
floor cushion (0.2 m), a knee-high bench (0.45 m) and a bar stool (0.75 m).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tomli_w
from PIL import Image

from render_engine.bible import load_production
from render_engine.pose.openpose import standing_pose
from render_engine.proxy import cutouts, framing, lens, rig
from render_engine.proxy.blocking import (
    EYES_ABOVE_HIPS,
    eye_height,
    painted_seat_height,
    seat_of,
)
from render_engine.proxy.camera import Camera
from render_engine.proxy.compositor import FACE_FEATHER, face_box
from render_engine.proxy.shot import ShotFrames
from render_engine.spec import ShotSpec
from render_engine.standin import figure_views
from tests.conftest import make_tiny_production, save_png, spec_dict

HEIGHT_M = 1.6
"""The drawn figure's height: its knee-high seat (the figure's) is 0.456 m, the bench's."""
SIZE = (300, 420)  # view width, height
GROUND = (150.5, 405.5)
TALL = 380.0
FEET = (20, 20, 230)
PARTS = {"torso": (200, 40, 40), "head": (240, 200, 160), "upper_arm": (40, 200, 40),
         "lower_arm": (40, 120, 40), "upper_leg": (200, 200, 40), "lower_leg": (150, 110, 40)}
SEATS = {"cushion": 0.2, "bench": 0.45, "stool": 0.75}
SEAT_X = {"cushion": -1.6, "bench": 0.0, "stool": 1.6}
SEAT_Z = 4.0
W, H = 640, 360
FPS = 24


def paint(joints: np.ndarray) -> np.ndarray:
    """An RGBA profile figure (facing screen-left) painted over (20, 2) joints."""
    image = np.zeros((SIZE[1], SIZE[0], 4), np.uint8)

    def line(a: int, b: int, colour: tuple[int, int, int], thick: int) -> None:
        p, q = joints[a], joints[b]
        cv2.line(image, (round(p[0]), round(p[1])), (round(q[0]), round(q[1])),
                 (*colour, 255), thick)

    for hip, knee, ankle in ((11, 12, 13), (8, 9, 10)):  # far leg first
        line(hip, knee, PARTS["upper_leg"], 26)
        line(knee, ankle, PARTS["lower_leg"], 20)
        foot = joints[ankle]  # a shoe from the ankle down to the sole, toes to the left
        cv2.rectangle(image, (round(foot[0]) - 24, round(foot[1]) - 5),
                      (round(foot[0]) + 6, round(GROUND[1])), (*FEET, 255), -1)
    line(rig.MID_HIP, 1, PARTS["torso"], 40)
    centre = joints[rig.HEAD]
    cv2.circle(image, (round(centre[0]), round(centre[1])), 26, (*PARTS["head"], 255), -1)
    for shoulder, elbow, wrist in ((2, 3, 4),):
        line(shoulder, elbow, PARTS["upper_arm"], 14)
        line(elbow, wrist, PARTS["lower_arm"], 12)
    return image


def _views(seated: bool) -> dict[str, np.ndarray | dict]:
    head_top = (GROUND[0], GROUND[1] - TALL)
    stand = rig.fitted_joints("side", GROUND, TALL, None, head_top)
    eyes = stand[[14, 15]].mean(axis=0)
    found: dict[str, np.ndarray | dict] = {
        "side": paint(stand),
        "side_anchors": {"feet": [GROUND[0] + 0.5, GROUND[1] + 0.5],
                         "head_top": [head_top[0] + 0.5, head_top[1] + 0.5],
                         "eyes": [float(eyes[0]) + 0.5, float(eyes[1]) + 0.5]}}
    if seated:
        figure = standing_pose(GROUND, TALL, rig.VIEW_FACING["side"], 0.0, "sit",
                               distance=50.0, camera_up=0.85)  # as the rig fits it
        eyes = figure[[14, 15], :2].mean(axis=0)
        top = float(figure[[0, 14, 15, 16, 17], 1].min() - 0.07 * TALL)
        sit = rig.fitted_joints("sit_side", GROUND, TALL, (float(eyes[0]), float(eyes[1])),
                                (float(figure[1, 0]), top))
        found["sit_side"] = paint(sit)
        found["sit_side_anchors"] = {
            "feet": [GROUND[0] + 0.5, GROUND[1] + 0.5],
            "head_top": [float(sit[1, 0]) + 0.5, top + 0.5],
            "eyes": [float(eyes[0]) + 0.5, float(eyes[1]) + 0.5]}
    return found


def make_heights_production(root: Path) -> Path:
    """The tiny production with "sam" (side and sit_side views), "extra" (a side view only),
    "mann" (the stand-in mannequin: front and sit_front views) and a yard furnished with a
    cushion, a bench and a stool painted into its plate."""
    make_tiny_production(root)
    for name, seated in (("sam", True), ("extra", False)):
        views = {}
        for view, image in _views(seated).items():
            if view.endswith("_anchors"):
                continue
            save_png(root / "cast" / name / f"{view}.png", image)  # type: ignore[arg-type]
            views[view] = {"image": f"{name}/{view}.png", **_views(seated)[f"{view}_anchors"]}
        (root / "cast" / f"{name}.toml").write_text(tomli_w.dumps({
            "name": name, "height_m": HEIGHT_M, "views": views}))
    front, seated, views = figure_views("mann")  # the stand-in: front and sit_front only
    for picture, view in ((front, views["front"]), (seated, views["sit_front"])):
        assert picture is not None
        path = root / "cast" / view["image"]
        path.parent.mkdir(parents=True, exist_ok=True)
        picture.save(path)
    (root / "cast" / "mann.toml").write_text(tomli_w.dumps({
        "name": "mann", "height_m": HEIGHT_M, "views": views}))
    plate = np.full((360, 640, 3), 110, np.uint8)
    plate[180:] = (80, 100, 70)
    save_png(root / "sets" / "yard" / "plate.png", plate)
    seats = [{"name": name, "position": [SEAT_X[name], SEAT_Z], "height_m": height,
              "extent": [0.5, 0.5]} for name, height in SEATS.items()]
    (root / "sets" / "yard.toml").write_text(tomli_w.dumps({
        "name": "yard", "default_lighting": "day",
        "plate": {"kind": "flat", "image": "yard/plate.png"},
        "lighting": {"day": {"key_azimuth_deg": -45}}, "seats": seats}))
    return root


def _camera() -> Camera:
    return Camera((0.0, 1.2, 0.0), 0.0, -8.0, 60.0, W, H)


def _shot(root: Path, *characters: dict, camera: Camera | None = None) -> ShotFrames:
    """The shot of these characters in the furnished yard, seen by a still camera."""
    production = load_production(root)
    spec = ShotSpec.model_validate(spec_dict(characters=list(characters), dialog=[]))
    cam = camera or _camera()
    first = round(spec.shot.origin * FPS)  # frame 0 is the shot's first shown frame
    return ShotFrames(spec, production, W, H, FPS, first, (first, first + 48),
                      camera=lambda _progress, _seconds: cam)


def _sitter(name: str, seat: str | None, at: str, facing: float = 270.0) -> dict:
    character = {"name": name, "position": [SEAT_X[at], SEAT_Z], "facing": facing,
                 "action": "sit"}
    if seat:
        character["seat"] = seat
    return character


def _place(shot: ShotFrames, t: float = 0.0, rigged: bool = True) -> cutouts.Sprite:
    """The shot's first character placed at shot time t (posed by its rig unless not
    `rigged`)."""
    shot.rigged = rigged
    sprite = shot.place_character(shot.spec.characters[0], shot.camera(0.0, t), t)[1]
    assert sprite is not None
    return sprite


def _lowest_row(sprite: cutouts.Sprite) -> int:
    """The frame row of the sprite's lowest painted pixel (its soles, for a seated figure)."""
    rows = np.flatnonzero((sprite.coverage > 128).any(axis=1))
    return sprite.y0 + int(rows[-1])


def _lowest_shoe_row(sprite: cutouts.Sprite) -> int:
    """The frame row of the sprite's lowest shoe pixel (painted blue, lit or not)."""
    rgb = sprite.rgb.astype(int)
    blue = ((rgb[..., 2] > rgb[..., 0] + 60) & (rgb[..., 2] > rgb[..., 1] + 60)
            & (sprite.coverage > 128))
    rows = np.flatnonzero(blue.any(axis=1))
    assert rows.size, "no shoe in the sprite"
    return sprite.y0 + int(rows[-1])


def _floor_row(cam: Camera, x: float, z: float) -> float:
    """The frame row (pixel rows, top edge 0) of the floor at (x, z)."""
    return float(lens.project(cam, np.array([x, 0.0, z]))[1])


def _sole_row(cam: Camera, seat: str) -> float:
    """The floor row under the near foot of a figure seated facing -x over the seat: the
    feet a thigh less a head-forward ahead of the floor point, the near one 0.059 heights
    (half the hips and a little) nearer the camera."""
    reach = (0.245 - 0.045) * HEIGHT_M
    return _floor_row(cam, SEAT_X[seat] - reach, SEAT_Z - 0.059 * HEIGHT_M)


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_heights_production(tmp_path_factory.mktemp("heights") / "yard")


def test_the_sheet_paints_a_knee_high_seat(yard: Path) -> None:
    """The drawn sit view's eyes say its seat is the figure's knee-high one (the bench)."""
    production = load_production(yard)
    assert not production.problems, production.problems
    assert painted_seat_height(production, "sam", HEIGHT_M) == pytest.approx(0.456, abs=0.01)


@pytest.mark.parametrize("seat", list(SEATS))
def test_skeleton_hips_rest_on_every_seat_height_in_every_frame(yard: Path, seat: str) -> None:
    """The frame's skeleton has its hips within 3 px of the seat's top in every frame."""
    shot = _shot(yard, _sitter("sam", seat, seat))
    char = shot.spec.characters[0]
    cam = shot.camera(0.0, 0.0)
    back = 0.045 * HEIGHT_M  # the hips sit a head-forward behind the floor point (facing -x)
    target = lens.project(cam, np.array([SEAT_X[seat] + back, SEATS[seat], SEAT_Z]))[:2]
    for index in range(48):
        t = shot.seconds(index)
        posture = cutouts.posture_of("sit", SEAT_X[seat], SEAT_Z, 270.0, False)
        points = shot.skeleton(char, cam, posture, t)
        assert points is not None
        hips = points[[8, 11], :2].mean(axis=0)
        assert np.linalg.norm(hips - target) < 3.0, (index, hips, target)


@pytest.mark.parametrize("seat", ["cushion", "bench"])
def test_the_posed_cutouts_feet_are_on_the_floor(yard: Path, seat: str) -> None:
    """On a floor cushion and on a knee-high bench the seated cut-out's soles (its lowest
    painted pixels) are within 4 px of the floor line under its feet, over the shot."""
    shot = _shot(yard, _sitter("sam", seat, seat))
    cam = shot.camera(0.0, 0.0)
    floor = _sole_row(cam, seat)
    for t in (0.0, 0.7, 1.4):
        assert abs(_lowest_row(_place(shot, t)) - floor) <= 4, (seat, t)


def test_a_seat_of_the_painted_height_keeps_the_unrigged_pixels(yard: Path) -> None:
    """The bench is the height the sheet paints: the cut-out is the unrigged one, pixel for
    pixel; the cushion and the stool pose it (their legs are bent, the picture differs)."""
    for seat in SEATS:
        shot = _shot(yard, _sitter("sam", seat, seat))
        posed, rigid = _place(shot, 0.5), _place(shot, 0.5, rigged=False)
        same = (posed.bbox == rigid.bbox and np.array_equal(posed.rgb, rigid.rgb)
                and np.array_equal(posed.coverage, rigid.coverage))
        assert same == (seat == "bench"), seat
        assert ("posed" in posed.extra) == (seat != "bench")


def test_a_sitter_without_seat_is_framed_and_drawn_on_the_nearest_seat(yard: Path) -> None:
    """A sitter placed over the cushion without `seat =` sits on it in all three places:
    its skeleton's hips, framing's aim point (the cushion's eye height, not the sheet's) and
    its seated cut-out (the same pixels as when the seat is named)."""
    production = load_production(yard)
    unnamed = ShotSpec.model_validate(spec_dict(
        characters=[_sitter("sam", None, "cushion")], dialog=[]))
    named = ShotSpec.model_validate(spec_dict(
        characters=[_sitter("sam", "cushion", "cushion")], dialog=[]))
    seat = seat_of(production, unnamed, unnamed.characters[0])
    assert seat is not None and seat.name == "cushion"
    eye = SEATS["cushion"] + EYES_ABOVE_HIPS * HEIGHT_M
    figure = framing._figure(unnamed.characters[0], production, unnamed)
    assert figure.eye == pytest.approx(eye, abs=0.01)
    assert eye_height(unnamed.characters[0], HEIGHT_M, production) > eye + 0.2
    cameras = [framing.frame_shot(s, production, W, H) for s in (unnamed, named)]
    assert cameras[0] == cameras[1]
    sprites = [_place(_shot(yard, s.characters[0].model_dump()), 0.5) for s in (unnamed, named)]
    assert sprites[0].bbox == sprites[1].bbox
    assert np.array_equal(sprites[0].rgb, sprites[1].rgb)
    cam = _camera()
    eyes = lens.project(cam, np.array([SEAT_X["cushion"], eye, SEAT_Z]))[:2]
    assert np.linalg.norm(np.asarray(sprites[0].extra["eyes"]) - eyes) < 2.0


@pytest.mark.parametrize("facing", [180.0, 200.0])
def test_seen_front_on_the_painted_legs_are_kept(yard: Path, facing: float) -> None:
    """Facing the camera a seated thigh points at it: a flat front view cannot swing its
    painted thigh that way (its knee would land off the skeleton's and the feet still miss
    the floor), so on the cushion and the stool the stand-in keeps its unrigged pixels,
    although the seat is not the painted one; turned away (profile), sam's side view bends."""
    for seat in ("cushion", "stool"):
        shot = _shot(yard, _sitter("mann", seat, seat, facing))
        assert shot.acting["mann"].bends()
        posed, rigid = _place(shot, 0.5), _place(shot, 0.5, rigged=False)
        assert "posed" not in posed.extra, seat
        assert posed.bbox == rigid.bbox and np.array_equal(posed.rgb, rigid.rgb)
    turned = _shot(yard, _sitter("sam", "cushion", "cushion", facing + 90.0))
    assert "posed" in _place(turned, 0.5).extra


@pytest.mark.parametrize("seat", ["cushion", "bench"])
def test_an_extra_without_sit_views_is_bent_onto_the_seat(yard: Path, seat: str) -> None:
    """An extra whose sheet has only a standing view, seated: the rig bends its legs (feet
    on the floor, where the unrigged view sank them through it) while its torso stays where
    the seated eye point puts it (hips on the seat: the eyes are the figure's eyes above its
    hips over the seat)."""
    shot = _shot(yard, _sitter("extra", seat, seat))
    cam = shot.camera(0.0, 0.0)
    floor = _sole_row(cam, seat)
    rigid = _place(shot, 0.5, rigged=False)
    assert _lowest_row(rigid) > floor + 20  # the old fallback: legs through the floor
    posed = _place(shot, 0.5)
    assert abs(_lowest_shoe_row(posed) - floor) <= 4
    torso = posed.extra["posed"].transforms["torso"]
    assert np.allclose(torso, [[1, 0, 0], [0, 1, 0]], atol=0.02)  # hips stay on the seat
    eye = SEATS[seat] + EYES_ABOVE_HIPS * HEIGHT_M
    eyes = lens.project(cam, np.array([SEAT_X[seat], eye, SEAT_Z]))[:2]
    assert np.linalg.norm(np.asarray(posed.extra["eyes"]) - eyes) < 2.0


# --------------------------------------------------------------- a tree to step out from

TREE_DEPTH = 2.5
TREE_COLUMNS = (50, 110)  # the trunk's columns in the 320 x 180 plate


def _tree_production(root: Path) -> Path:
    """The cut-out production (`tests.proxy_fixtures`) with its fence replaced by a tree: a
    trunk from the top of the plate to its bottom, and a canopy, 2.5 m away."""
    from tests.proxy_fixtures import make_cutout_production

    make_cutout_production(root)
    folder = root / "sets" / "yard"
    plate = np.asarray(Image.open(folder / "plate.png").convert("RGB")).copy()
    mask = np.zeros(plate.shape[:2], np.uint8)
    mask[:, TREE_COLUMNS[0]:TREE_COLUMNS[1]] = 255
    cv2.circle(mask, (sum(TREE_COLUMNS) // 2, 10), 45, 255, -1)
    plate[mask > 0] = (70, 50, 30)
    plate[:55][mask[:55] > 0] = (40, 110, 40)
    Image.fromarray(plate).save(folder / "plate.png")
    Image.fromarray(mask).save(folder / "tree.png")
    toml = folder.parent / "yard.toml"
    toml.write_text(toml.read_text().replace('"fence"', '"tree"').replace(
        "yard/fence.png", "yard/tree.png").replace(f"depth_m = {2.5}", f"depth_m = {TREE_DEPTH}"))
    return root


def test_stepping_out_from_behind_a_tree(tmp_path: Path) -> None:
    """A walker heading for the camera straight behind a tree's trunk (a foreground mask
    2.5 m away) is hidden by the trunk in every frame it is farther than the trunk, and drawn
    over it in every frame it is nearer: the occlusion changes as its depth crosses the
    mask's. Measured per frame against the same frames without the walker, outside the
    walker's face box (the compositor keeps masks off faces by design)."""
    from tests.proxy_fixtures import CAMERA_HEIGHT, PLATE, PLATE_HFOV

    root = _tree_production(tmp_path / "tree")
    production = load_production(root)
    assert not production.problems, production.problems
    width, height = PLATE
    cam = Camera((0.0, CAMERA_HEIGHT, 0.0), 0.0, 0.0, PLATE_HFOV, width, height)
    focal = cam.focal_px
    ray = ((sum(TREE_COLUMNS) / 2) - width / 2) / focal  # x / z of the trunk's middle
    walk = {"name": "ana", "position": [ray * 4.2, 4.2], "facing": 180, "action": "walk",
            "path": [[ray * 1.5, 1.5]]}

    def frames(characters: list[dict]) -> ShotFrames:
        spec = ShotSpec.model_validate(spec_dict(characters=characters, dialog=[],
                                                 shot={"id": "s-1", "size": "WS"}))
        first = round(spec.shot.origin * FPS)
        return ShotFrames(spec, production, width, height, FPS, first, (first, first + 48),
                          camera=lambda _progress, _seconds: cam)

    walker, empty = frames([walk]), frames([])
    trunk = np.zeros((height, width), bool)
    trunk[:, TREE_COLUMNS[0]:TREE_COLUMNS[1]] = True
    seen = {"behind": 0, "in front": 0}
    for index in range(0, 48):
        frame = walker.frame(index)
        sprite = next(s for s in frame.sprites if s.name == "ana")
        body = np.zeros((height, width), bool)
        x0, y0, x1, y1 = sprite.bbox
        body[y0:y1, x0:x1] = sprite.coverage[:y1 - y0, :x1 - x0] > 250
        box = face_box(sprite)  # masks never hide a face (`proxy.compositor`): left out
        if box is not None:
            grow = FACE_FEATHER * max(box[2] - box[0], box[3] - box[1]) + 1  # its fade
            fx0, fy0, fx1, fy1 = (round(v + d) for v, d in zip(
                box, (-grow, -grow, grow, grow), strict=True))
            body[max(fy0, 0):max(fy1, 0), max(fx0, 0):max(fx1, 0)] = False
        overlap = body & trunk
        if overlap.sum() < 50 or abs(sprite.depth - TREE_DEPTH) < 0.05:
            continue
        diff = np.abs(frame.rgb.astype(int) - empty.frame(index).rgb.astype(int)).max(axis=2)
        if sprite.depth > TREE_DEPTH:
            assert diff[overlap].max() <= 2, (index, sprite.depth)
            seen["behind"] += 1
        else:
            assert np.mean(diff[overlap] > 20) > 0.9, (index, sprite.depth)
            seen["in front"] += 1
    assert seen["behind"] >= 10 and seen["in front"] >= 5, seen
