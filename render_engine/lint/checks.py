"""The continuity and framing checks, each a small function over planned cameras and blocking.

Shot checks look at one shot (`ShotView`) at the start and the end of its move: are the
subjects' eyes in frame, are their heads or feet cut by an edge, does a foreground mask cover a
face. Scene checks look at consecutive shots of one scene: the 180-degree line, a walker's
screen direction, jump cuts and eyelines across a shot/reverse pair. Every number comes from
projecting blocking points through the proxy tier's own cameras (`Camera.project`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from render_engine.errors import SoloreelError
from render_engine.lint.problems import Problem
from render_engine.lint.shots import Figure, ShotView
from render_engine.proxy import framing
from render_engine.proxy.camera import Camera, heading_to
from render_engine.proxy.projection import plate_source
from render_engine.spec import CharacterSpec

HEAD_HALF_WIDTH_M = 0.12
"""Half the width of a head: a head is cut when eyes ± this leave the frame sideways."""
EDGE_TOLERANCE_PX = 0.5
"""A point this close outside an edge still counts as inside (rounding)."""
NO_TOP_CHECK = ("CU", "ECU")
"""Sizes that may crop the top of the head."""
EYES_ONLY = ("ECU",)
"""Sizes where only the eyes must be in frame (an extreme close-up crops the head anyway)."""
FEET_SIZES = ("FS", "WS", "EWS")
"""Sizes that must show the subjects' feet."""
MASK_COVER = 0.25
"""A face box covered more than this (mean mask alpha) by a nearer foreground mask is hidden."""
MASK_WIDTH_PX = 480
"""Masks are warped for a copy of the shot camera at most this wide (same view, fewer
pixels): the coverage of a face box is a ratio, so it barely depends on the resolution."""
LINE_NEUTRAL = 0.05
"""|cos| between camera right and the 180-degree line below which a camera stands on the line
(a neutral shot: neither side)."""
DIRECTION_NEUTRAL = 0.25
"""A walker whose screen motion is under this share of what walking across the frame would
give walks towards or away from the camera: a neutral screen direction."""
DIRECTION_DT = 0.1
"""Seconds between the two positions a walker's screen direction is measured from."""
JUMP_SIZE_RATIO = (0.8, 1.25)
"""Projected head heights within this ratio across a cut: the same size."""
JUMP_YAW_DEG = 20.0
JUMP_MOVE_M = 0.5
"""Cameras turned less than JUMP_YAW_DEG and moved less than JUMP_MOVE_M: the same angle."""
SINGLE_SIZES = ("ECU", "CU", "MCU", "MS", "MWS")
"""Sizes that make a one-subject shot a single (for eyelines)."""
FACES_DEG = 40.0
"""A character faces another when the other is within this angle of their facing."""
EYELINE_NEUTRAL = 0.1
"""|facing · camera right| below this: looking at or away from the lens, no screen side."""

ShotCheck = Callable[[ShotView], list[Problem]]
SceneCheck = Callable[[list[ShotView]], list[Problem]]


def problem(view: ShotView, kind: str, what: str, fix: str) -> Problem:
    """A Problem naming `view`'s shot."""
    return Problem(kind, view.shot_id, view.clip_name, view.ref.number, view.time,
                   round(view.seconds, 3), what, fix)


def _project(camera: Camera, point: np.ndarray) -> tuple[float, float, float]:
    u, v, depth = camera.project(np.asarray(point, float))
    return float(u), float(v), float(depth)


def _outside(camera: Camera, point: np.ndarray) -> str:
    """Where a world point falls relative to the frame ("" when inside)."""
    u, v, depth = _project(camera, point)
    tol = EDGE_TOLERANCE_PX
    if depth <= 1e-6:
        return "behind the camera"
    if u < -tol:
        return "left of the frame"
    if u > camera.width + tol:
        return "right of the frame"
    if v < -tol:
        return "above the frame"
    if v > camera.height + tol:
        return "below the frame"
    return ""


def _floor_right(camera: Camera) -> np.ndarray:
    """The camera's right as a unit floor vector (x, z)."""
    right = camera.rotation()[0]
    flat = np.array([right[0], right[2]])
    length = float(np.linalg.norm(flat))
    return flat / length if length > 1e-9 else np.array([1.0, 0.0])


def _moments(view: ShotView) -> list[tuple[str, float, Camera]]:
    """(name, shot time, camera) at the start and the end of the shown frames."""
    return [("start", view.t0, view.start), ("end", view.t1, view.end)]


def _when(moments: list[str]) -> str:
    if len(moments) == 2:
        return "for the whole shot"
    return "at the start" if moments[0] == "start" else "by the end of the move"


def _framed(view: ShotView) -> list[CharacterSpec]:
    """The subjects whose framing the shot promises: an over-the-shoulder frames its far
    subject (the near one is a shoulder and the back of a head, cut on purpose)."""
    subjects = view.subjects()
    if view.spec.shot.size == "OTS" and len(subjects) >= 2:
        return subjects[1:2]
    return subjects


def _explicit_fields(view: ShotView) -> list[str]:
    camera = view.spec.camera
    return [f"camera.{name}" for name in ("position", "heading_deg", "pitch_deg", "focal_mm")
            if getattr(camera, name) is not None]


def _aim_fix(view: ShotView, figure: Figure, camera: Camera, moments: list[str]) -> str:
    """How to get a lost subject back into the frame (the move's fault when only its end
    loses them)."""
    heading = heading_to((camera.position[0], camera.position[2]), figure.floor)
    if moments == ["end"] and view.spec.camera.move != "static":
        return (f"the {view.spec.camera.move} move loses {figure.name}: lower camera.amount "
                "or choose another move")
    explicit = _explicit_fields(view)
    if explicit:
        return (f"the explicit {'/'.join(explicit)} loses {figure.name}: turn the camera "
                f"towards them (camera.heading_deg ≈ {heading:.0f}) or remove it")
    return (f"the planned framing loses {figure.name}: give the shot an explicit camera "
            f"(camera.heading_deg ≈ {heading:.0f}) or change shot.size / shot.subjects")


def check_framing(view: ShotView) -> list[Problem]:
    """Subjects out of frame, heads cut by the left/right/top edge, feet cut in FS/WS/EWS.

    Rules, at the start and the end of the move: each framed subject's eyes inside the frame
    (someone who walks during the shot may walk in or out of it, so one moment outside is
    allowed for a walker); from MCU out the head (eyes ± HEAD_HALF_WIDTH_M sideways, up to the head
    top) inside the left, right and top edges — a CU may crop the head top, an ECU everything
    but the eyes; in FS/WS/EWS the floor point under each subject inside the frame.
    """
    size = view.setup
    found: dict[tuple[str, str], tuple[list[str], str, Figure, Camera]] = {}

    def note(kind: str, moment: str, detail: str, figure: Figure, camera: Camera) -> None:
        entry = found.setdefault((figure.name, kind), ([], detail, figure, camera))
        entry[0].append(moment)

    for character in _framed(view):
        states = []
        for moment, t, camera in _moments(view):
            figure = view.figure(character, t)
            states.append((moment, figure, camera, _outside(camera, figure.eye_point)))
        outside = [s for s in states if s[3]]
        walks_in_or_out = len(outside) < len(states) and view.walk_window(character)
        if outside and not walks_in_or_out:
            for moment, figure, camera, where in outside:
                note("out_of_frame", moment, where, figure, camera)
        for moment, figure, camera, where in states:
            if where:
                continue
            edges = _head_edges(camera, figure, size)
            if edges:
                note("edge_cut", moment, " and ".join(edges), figure, camera)
            if size in FEET_SIZES:
                lost = _outside(camera, figure.floor_point)
                if lost:
                    note("feet_cut", moment, lost, figure, camera)
    problems = []
    for (name, kind), (moments, detail, figure, camera) in found.items():
        when = _when(moments)
        if kind == "out_of_frame":
            problems.append(problem(view, kind, f"{name}'s eyes are {detail} {when}",
                                    _aim_fix(view, figure, camera, moments)))
        elif kind == "edge_cut":
            problems.append(problem(
                view, kind, f"{name}'s head is cut by the {detail} edge {when} ({size})",
                "give the head room: widen (a larger shot.size or a shorter camera.focal_mm) "
                "or turn the camera towards them"))
        else:
            _, v, _ = _project(camera, figure.floor_point)
            where = (f"the floor under them is at y={v:.0f} of {camera.height}"
                     if detail == "below the frame" else f"the floor under them is {detail}")
            problems.append(problem(
                view, kind, f"{name}'s feet are cut in a {size} {when} ({where})",
                "show the whole figure: stand the camera farther back or use a shorter "
                "camera.focal_mm, or call the shot a MWS"))
    return problems


def _head_edges(camera: Camera, figure: Figure, size: str) -> list[str]:
    """The frame edges that cut a subject's head (none checked for an ECU)."""
    if size in EYES_ONLY:
        return []
    right = camera.rotation()[0]
    eye = figure.eye_point
    tol = EDGE_TOLERANCE_PX
    edges = []
    sides = [_project(camera, eye + sign * HEAD_HALF_WIDTH_M * right) for sign in (-1, 1)]
    us = [u for u, _, depth in sides if depth > 1e-6]
    if us and min(us) < -tol:
        edges.append("left")
    if us and max(us) > camera.width + tol:
        edges.append("right")
    if size not in NO_TOP_CHECK:
        _, v, depth = _project(camera, figure.top_point)
        if depth > 1e-6 and v < -tol:
            edges.append("top")
    return edges


# --------------------------------------------------------------------------- masks


def _mask_camera(camera: Camera) -> Camera:
    """The same view at most MASK_WIDTH_PX wide (even sizes)."""
    if camera.width <= MASK_WIDTH_PX:
        return camera
    scale = MASK_WIDTH_PX / camera.width
    width = max(2, round(camera.width * scale / 2) * 2)
    height = max(2, round(camera.height * scale / 2) * 2)
    return camera.moved(width=width, height=height)


def _face_box(camera: Camera, figure: Figure) -> tuple[int, int, int, int] | None:
    """Pixel box (x0, y0, x1, y1) of a face: eyes ± a head's half width across, from the head
    top to as far below the eyes; None when the eyes are not in front of the camera."""
    u, v, depth = _project(camera, figure.eye_point)
    if depth <= 1e-6:
        return None
    _, top, _ = _project(camera, figure.top_point)
    half = camera.focal_px * HEAD_HALF_WIDTH_M / depth
    rise = max(v - top, 1.0)
    x0, x1 = math.floor(u - half), math.ceil(u + half)
    y0, y1 = math.floor(v - rise), math.ceil(v + rise)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, camera.width), min(y1, camera.height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def check_masks(view: ShotView) -> list[Problem]:
    """A face covered by one of the set's foreground masks nearer than the subject.

    The masks come from the plate renderer the proxy tier builds for the shot (warped with the
    background's geometry for the shot's camera, `PlateRenderer.foreground`), so the test sees
    what the compositor hides. A framed subject's face box (see `_face_box`) more than
    MASK_COVER covered, at the start or the end of the move, is a problem.
    """
    try:
        if not plate_source(view.spec, view.production).masks:
            return []
        from render_engine.proxy.plates import PlateRenderer
        from render_engine.proxy.shot import parallax_for

        renderer = PlateRenderer(view.production, view.spec,
                                 parallax=parallax_for(view.spec, view.production))
    except SoloreelError:
        return []  # unreadable plate files: `soloreel validate` names them
    names = [mask.name for mask in renderer.assets.masks]
    worst: dict[str, tuple[float, str, float, list[str]]] = {}
    for moment, t, full in _moments(view):
        camera = _mask_camera(full)
        faces = []
        for character in _framed(view):
            figure = view.figure(character, t)
            box = _face_box(camera, figure)
            if box is not None and not _outside(camera, figure.eye_point):
                faces.append((figure, box, _project(camera, figure.eye_point)[2]))
        farthest = max((depth for _, _, depth in faces), default=-math.inf)
        if not any(d < farthest for d in renderer.foreground_depths(camera)):
            continue  # no mask stands in front of anyone: nothing to warp
        masks = renderer.foreground(camera)
        for figure, (x0, y0, x1, y1), depth in faces:
            for name, (alpha, mask_depth) in zip(names, masks, strict=True):
                if mask_depth >= depth:
                    continue
                cover = float(np.asarray(alpha)[y0:y1, x0:x1].mean())
                if cover <= MASK_COVER:
                    continue
                best = worst.get(figure.name)
                moments = (best[3] if best else []) + [moment]
                if best is None or cover > best[0]:
                    worst[figure.name] = (cover, name, mask_depth, moments)
                else:
                    worst[figure.name] = (*best[:3], moments)
    problems = []
    for name, (cover, mask, mask_depth, moments) in worst.items():
        problems.append(problem(
            view, "mask",
            f"{name}'s face is {cover:.0%} behind the foreground mask \"{mask}\" "
            f"({mask_depth:.1f} m from the camera) {_when(sorted(set(moments)))}",
            f"move the camera (or {name}) so the face clears \"{mask}\", or block {name} "
            "in front of it"))
    return problems


# --------------------------------------------------------------------------- scenes


def _line_for(scene: list[ShotView], view: ShotView, line: framing.SceneLine
              ) -> framing.SceneLine:
    """The 180-degree line a shot keeps: the scene's (`framing.scene_line_for` honours the
    specs' `shot.line`), or the pair this shot's own `shot.line` names when that differs —
    sides decided by the framing's rule either way."""
    named = {n.strip().lower() for n in getattr(view.spec.shot, "line", None) or []}
    if len(named) != 2 or named == {line.left.lower(), line.right.lower()}:
        return line
    return framing.scene_line_for([view.spec, *(v.spec for v in scene)], view.production)


def _floor_of(scene: list[ShotView], view: ShotView, name: str, line: framing.SceneLine
              ) -> np.ndarray | None:
    """Where a character stands for the line: in this shot, else as the scene's line says,
    else in the scene's first shot that has them."""
    if view.has(name):
        return np.array(view.figure(name, view.t0).floor)
    key = name.strip().lower()
    if key == line.left.lower() and line.left:
        return np.array(line.left_pos)
    if key == line.right.lower() and line.right:
        return np.array(line.right_pos)
    for other in scene:
        if other.has(name):
            return np.array(other.figure(name, other.t0).floor)
    return None


def _crosses(scene: list[ShotView], view: ShotView, line: framing.SceneLine
             ) -> tuple[str, str, list[str]] | None:
    """(left, right, who is in frame) when the shot's first frame sees the 180-degree line from
    the wrong side (see `check_line`), else None."""
    line = _line_for(scene, view, line)
    left, right = line.left, line.right
    if not left or not right or left.lower() == right.lower():
        return None
    shown = [n for n in (left, right)
             if view.has(n) and not _outside(view.start, view.figure(n, view.t0).eye_point)]
    if not shown:
        return None
    a, b = _floor_of(scene, view, left, line), _floor_of(scene, view, right, line)
    if a is None or b is None or np.linalg.norm(b - a) < 1e-6:
        return None
    along = (b - a) / np.linalg.norm(b - a)
    if float(np.dot(_floor_right(view.start), along)) >= -LINE_NEUTRAL:
        return None
    return left, right, shown


def _scene_line(scene: list[ShotView]) -> framing.SceneLine:
    return framing.scene_line_for([v.spec for v in scene], scene[0].production)


def check_line(scene: list[ShotView]) -> list[Problem]:
    """The 180-degree line: in every shot that shows one of the line's two characters, the
    left one must be screen-left of the right one — camera right · (right − left) on the floor
    positive at the shot's first frame (|cos| under LINE_NEUTRAL: a neutral shot on the line).
    The line and which of the two is left are `framing.scene_line_for(the scene's specs)`'s
    (the pair a spec's `shot.line` names, else the busiest speakers; left as the set camera
    sees them); the two stand where the shot blocks them (else where the scene does)."""
    if not scene:
        return []
    line = _scene_line(scene)
    problems = []
    for view in scene:
        crossed = _crosses(scene, view, line)
        if crossed is None:
            continue
        left, right, shown = crossed
        problems.append(problem(
            view, "line",
            f"crosses the 180° line between {left} and {right}: the camera is across the "
            f"line, where {left} is screen-right of {right} (in frame: {', '.join(shown)})",
            f"stand the camera on the side where {left} is screen-left (drop or mirror the "
            "explicit camera.position/heading_deg), or cut to a neutral shot on the line "
            "first"))
    return problems


def _screen_direction(view: ShotView, character: CharacterSpec, ta: float, tb: float
                      ) -> int | None:
    """+1 when a walker moves screen-right between shot times ta and tb, -1 screen-left, 0
    towards or away from the camera (neutral), None when they are not in frame."""
    camera = view.camera_at_time(ta)
    a, b = view.figure(character, ta), view.figure(character, tb)
    body = 0.55 * a.height
    pa = np.array([a.floor[0], body, a.floor[1]])
    pb = np.array([b.floor[0], body, b.floor[1]])
    ua, _, depth = _project(camera, pa)
    ub, _, depth_b = _project(camera, pb)
    if depth <= 1e-6 or depth_b <= 1e-6 or not -EDGE_TOLERANCE_PX <= ua <= camera.width:
        return None
    across = camera.focal_px * float(np.linalg.norm(pb - pa)) / depth
    if across < 1e-9 or abs(ub - ua) < DIRECTION_NEUTRAL * across:
        return 0
    return 1 if ub > ua else -1


def check_direction(scene: list[ShotView]) -> list[Problem]:
    """Screen direction: a walker seen walking screen-right at the end of one shot must not
    walk screen-left at the start of their next walking shot in the scene (or the other way
    round). Measured by projecting their body DIRECTION_DT apart through the shot's camera at
    that moment; a neutral shot (walking at or away from the camera) resets the direction."""
    last: dict[str, tuple[int, ShotView]] = {}
    problems = []
    side = {1: "right", -1: "left"}
    for view in scene:
        for character in view.spec.characters:
            window = view.walk_window(character)
            if window is None:
                continue
            lo, hi = window
            dt = min(DIRECTION_DT, (hi - lo) / 2)
            entry = _screen_direction(view, character, lo, lo + dt)
            leave = _screen_direction(view, character, hi - dt, hi)
            key = character.name.strip().lower()
            before = last.get(key)
            if entry and before and before[0] and entry != before[0]:
                problems.append(problem(
                    view, "direction",
                    f"{character.name} walks screen-{side[entry]} here but screen-"
                    f"{side[before[0]]} in {before[1].shot_id} ({before[1].clip_name})",
                    f"shoot from the same side of {character.name}'s path as "
                    f"{before[1].shot_id}, or put a neutral shot (walking towards or away "
                    "from the camera) between"))
            if leave is not None:
                last[key] = (leave, view)
            elif entry is not None:
                last[key] = (entry, view)
    return problems


def _head_size(camera: Camera, figure: Figure) -> float | None:
    """Projected eyes-to-head-top length in pixels (None when behind the camera)."""
    u, v, depth = _project(camera, figure.eye_point)
    ut, vt, depth_top = _project(camera, figure.top_point)
    if depth <= 1e-6 or depth_top <= 1e-6:
        return None
    return math.hypot(u - ut, v - vt)


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def check_jump_cuts(scene: list[ShotView]) -> list[Problem]:
    """Jump cuts: consecutive shots of the same subjects whose size (projected head height
    ratio within JUMP_SIZE_RATIO) and angle (camera yaw within JUMP_YAW_DEG, position within
    JUMP_MOVE_M) barely change across the cut (the end of one, the start of the next)."""
    problems = []
    for before, after in itertools.pairwise(scene):
        names = after.subject_names()
        if not names or names != before.subject_names():
            continue
        subject = after.subjects()[0]
        size_a = _head_size(before.end, before.figure(subject.name, before.t1))
        size_b = _head_size(after.start, after.figure(subject.name, after.t0))
        if not size_a or not size_b:
            continue
        ratio = size_b / size_a
        turn = abs(_wrap(after.start.yaw_deg - before.end.yaw_deg))
        moved = float(np.linalg.norm(np.subtract(after.start.position, before.end.position)))
        low, high = JUMP_SIZE_RATIO
        if low <= ratio <= high and turn <= JUMP_YAW_DEG and moved <= JUMP_MOVE_M:
            who = ", ".join(sorted(c.name for c in after.subjects()))
            problems.append(problem(
                after, "jump_cut",
                f"jump cut from {before.shot_id} ({before.clip_name}): the same subjects "
                f"({who}) at nearly the same size (×{ratio:.2f}) and angle ({turn:.0f}° "
                f"turn, {moved:.2f} m apart)",
                "change the size by a step or more (e.g. MCU → CU or MS) or the angle by 30° "
                "or more, or put a cutaway between"))
    return problems


def _single(view: ShotView) -> CharacterSpec | None:
    """The one character a single frames (an OTS framed as a single frames its far one)."""
    subjects = view.subjects()
    if view.spec.shot.size == "OTS":
        return subjects[1] if len(subjects) >= 2 and view.setup in SINGLE_SIZES else None
    if len(subjects) == 1 and view.setup in SINGLE_SIZES:
        return subjects[0]
    return None


def _faces(figure: Figure, target: tuple[float, float]) -> bool:
    """Whether `target` (a floor point) is within FACES_DEG of the figure's facing."""
    to = np.subtract(target, figure.floor)
    length = float(np.linalg.norm(to))
    if length < 1e-6:
        return False
    return float(np.dot(figure.facing, to / length)) >= math.cos(math.radians(FACES_DEG))


def _look_side(camera: Camera, figure: Figure) -> int:
    """+1 when a figure looks screen-right, -1 screen-left, 0 at or away from the lens."""
    dot = float(np.dot(figure.facing, _floor_right(camera)))
    if abs(dot) < EYELINE_NEUTRAL:
        return 0
    return 1 if dot > 0 else -1


def check_eyelines(scene: list[ShotView]) -> list[Problem]:
    """Shot/reverse eyelines: consecutive singles of A then B, partners (the two of the scene's
    line, or one facing the other), must look to opposite screen sides (facing · camera right,
    at the cut) — both looking the same way reads as looking past each other. A pair where one
    shot crosses the scene's line is left to `check_line`."""
    if not scene:
        return []
    line = _scene_line(scene)
    problems = []
    side = {1: "right", -1: "left"}
    for before, after in itertools.pairwise(scene):
        first, second = _single(before), _single(after)
        if first is None or second is None:
            continue
        if _crosses(scene, before, line) or _crosses(scene, after, line):
            continue  # the crossed line is the problem (check_line names that shot)
        if first.name.strip().lower() == second.name.strip().lower():
            continue
        a = before.figure(first, before.t1)
        b = after.figure(second, after.t0)
        pair = _line_for(scene, after, line)
        names = {n.lower() for n in (pair.left, pair.right) if n}
        partners = (({a.name.lower(), b.name.lower()} <= names and len(names) == 2)
                    or _faces(a, b.floor) or _faces(b, a.floor))
        if not partners:
            continue
        look_a, look_b = _look_side(before.end, a), _look_side(after.start, b)
        if not look_a or look_a != look_b:
            continue
        heading = heading_to(b.floor, a.floor)
        problems.append(problem(
            after, "eyeline",
            f"eyelines don't meet: {a.name} looks screen-{side[look_a]} in {before.shot_id} "
            f"({before.clip_name}) and {b.name} looks screen-{side[look_b]} here, so they "
            "look the same way instead of at each other",
            f"shoot {b.name} from the camera side of the line so they look "
            f"screen-{side[-look_b]}, or turn {b.name} towards {a.name} (facing ≈ "
            f"{heading:.0f})"))
    return problems


def check_seated_views(scene: list[ShotView]) -> list[Problem]:
    """A character seated in the scene whose sheet has no seated (sit_*) view, once per scene:
    the proxy seats the standing view at the seated eye height (legs sunk behind the seat),
    which reads in close shots but not in a full shot."""
    problems = []
    told: set[str] = set()
    for view in scene:
        for character in view.spec.characters:
            key = character.name.strip().lower()
            if character.action != "sit" or key in told:
                continue
            try:
                member = view.production.member(character.name)
            except SoloreelError:
                continue  # validate names unknown characters
            if not member.views or any(name.startswith("sit_") for name in member.views):
                continue
            told.add(key)
            problems.append(problem(
                view, "seated_view",
                f"{character.name} sits but their sheet has no seated view: the standing view "
                "is placed with its eyes at the seated eye height, legs hidden behind the seat",
                f"add views.sit_front (and sit_three_quarter, sit_side) to "
                f"cast/{member.name}.toml, or stand them"))
    return problems


SHOT_CHECKS: tuple[ShotCheck, ...] = (check_framing, check_masks)
SCENE_CHECKS: tuple[SceneCheck, ...] = (check_line, check_direction, check_jump_cuts,
                                        check_eyelines, check_seated_views)
