"""Procedurally painted art for the soloreel demo production.

Everything here is drawn from code with numpy + Pillow (no binary assets, no downloads) and is
deterministic: every random choice comes from a fixed-seed generator, so two runs write identical
bytes.  The look is a flat-shaded storybook/animatic style: soft gradients, one cel-shadow tone,
subtle darker outlines, and anti-aliasing by supersampling then downscaling.

Three public painters:

* :func:`paint_campfire_set` - a 150 degree night panorama of a forest clearing with a campfire.
* :func:`paint_patio_set` - a flat 70 degree sunny-morning patio plate.
* :func:`paint_character` - eight cut-out views (standing and sitting, four angles) of a character
  described by a :class:`CharacterLook` (see :data:`JOHN`, :data:`JANE`, :data:`RANGER`).

Characters are built as a small 3D "puppet" of analytic primitives (ellipsoids, tapered limbs and
vertical lathe shapes) and rendered orthographically with a z-buffer and a toon shader, so every
view of a character is consistent by construction and the anchor points (eyes, mouth, feet) are
computed from the same geometry that is drawn.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]

__all__ = [
    "JANE",
    "JOHN",
    "RANGER",
    "CharacterLook",
    "paint_campfire_set",
    "paint_character",
    "paint_patio_set",
]


# --------------------------------------------------------------------------------------------
# Small shared helpers
# --------------------------------------------------------------------------------------------


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _col(c: RGB | tuple[float, float, float]) -> np.ndarray:
    return np.asarray(c, dtype=np.float32) / 255.0


def _hash2(i: np.ndarray, j: np.ndarray, salt: int = 0) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) for integer lattice cells."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ (salt * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFF).astype(np.float32) / 65536.0


_PNG_LEVEL = 3  # zlib level: noticeably faster than the default 6, files ~10% larger


def _save_rgb(arr: np.ndarray, path: Path) -> None:
    img = Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8))
    img.save(path, format="PNG", compress_level=_PNG_LEVEL)


def _save_depth(depth_mm: np.ndarray, path: Path) -> None:
    """16-bit millimetres; 65535 is reserved for the sky, anything else saturates at 65000."""
    sky = depth_mm >= 65535.0
    d = np.where(sky, 65535, np.clip(np.round(depth_mm), 1, 65000)).astype(np.uint16)
    Image.fromarray(d).save(path, format="PNG", compress_level=_PNG_LEVEL)


def _save_mask(cov: np.ndarray, path: Path) -> None:
    m = np.clip(np.round(cov * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(m).save(path, format="PNG", compress_level=_PNG_LEVEL)


# --------------------------------------------------------------------------------------------
# Characters: look description
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CharacterLook:
    """Everything that distinguishes one demo character's appearance.

    Colours are 8-bit sRGB triples.  The body is built in "head units" (``height_m / 6.5``), so
    every character keeps the same stylised ~6.5-heads proportions; ``build`` widens or narrows
    the frame and ``age`` (0 young .. 1 old) adds a heavier waist and a few wrinkles.

    ``top``/``top_accent``/``top_pattern`` describe the shirt or dress (plaid uses the accent for
    its dark bands, sunflower for the petals, uniform for pocket seams); ``bottom_style="dress"``
    turns the bottom into a skirt of the same print.  ``outer`` adds an open cardigan, ``belt`` a
    belt with a buckle, ``hat="campaign"`` a wide-brim ranger hat.
    """

    name: str
    height_m: float
    sex: str = "male"  # "male" | "female": shoulders/hips, jaw, lashes
    age: float = 0.3
    build: float = 1.0
    skin: RGB = (232, 184, 148)
    blush: RGB = (226, 128, 112)
    eye_color: RGB = (70, 44, 28)
    hair: RGB = (74, 48, 32)
    hair_style: str = "short"  # "short" | "long" | "cropped"
    beard: str = "none"  # "none" | "short" | "moustache"
    freckles: bool = False
    top: RGB = (180, 40, 40)
    top_accent: RGB = (30, 24, 26)
    top_pattern: str = "plain"  # "plain" | "plaid" | "sunflower" | "uniform"
    sleeves: str = "long"  # "long" | "rolled"
    bottom: RGB = (60, 90, 140)
    bottom_style: str = "jeans"  # "jeans" | "trousers" | "dress"
    outer: RGB | None = None  # open cardigan over the top, if any
    belt: RGB | None = None
    shoes: RGB = (96, 60, 36)
    shoe_style: str = "boots"  # "boots" | "sandals"
    hat: str = "none"  # "none" | "campaign"
    hat_color: RGB = (168, 132, 84)
    hat_band: RGB = (70, 48, 30)


JOHN = CharacterLook(
    name="john",
    height_m=1.82,
    sex="male",
    age=0.35,
    build=1.04,
    skin=(236, 188, 150),
    eye_color=(78, 50, 30),
    hair=(70, 44, 28),
    hair_style="short",
    beard="short",
    top=(184, 36, 40),
    top_accent=(34, 24, 28),
    top_pattern="plaid",
    sleeves="rolled",
    bottom=(62, 96, 150),
    bottom_style="jeans",
    shoes=(110, 68, 36),
    shoe_style="boots",
)

JANE = CharacterLook(
    name="jane",
    height_m=1.68,
    sex="female",
    age=0.3,
    build=0.95,
    skin=(246, 206, 176),
    blush=(238, 132, 120),
    eye_color=(64, 110, 64),
    hair=(164, 68, 34),
    hair_style="long",
    freckles=True,
    top=(250, 222, 104),
    top_accent=(228, 148, 26),
    top_pattern="sunflower",
    bottom=(250, 222, 104),
    bottom_style="dress",
    outer=(240, 232, 212),
    shoes=(190, 130, 80),
    shoe_style="sandals",
)

RANGER = CharacterLook(
    name="ranger",
    height_m=1.76,
    sex="male",
    age=0.85,
    build=1.08,
    skin=(166, 110, 78),
    blush=(170, 92, 70),
    eye_color=(46, 30, 22),
    hair=(142, 140, 136),
    hair_style="cropped",
    beard="moustache",
    top=(124, 132, 72),
    top_accent=(88, 96, 50),
    top_pattern="uniform",
    bottom=(88, 96, 54),
    bottom_style="trousers",
    belt=(70, 46, 28),
    shoes=(62, 42, 30),
    shoe_style="boots",
    hat="campaign",
    hat_color=(176, 140, 88),
    hat_band=(72, 50, 32),
)


# --------------------------------------------------------------------------------------------
# Characters: a tiny orthographic z-buffer over analytic primitives
# --------------------------------------------------------------------------------------------
#
# Body-local frame: x = the character's left (screen right in the front view), y = up from the
# ground, z = forward (towards the camera in the front view); metres.  A view is a yaw about the
# vertical axis; yaw 90 degrees makes the character face screen-left.

KeepFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class _Prim:
    kind: str  # "ell" | "lathe" | "chain"
    mat: str
    geo: dict
    keep: KeepFn | None = None


class _ZBuffer:
    """Per-pixel nearest surface: depth, primitive id, local position, screen normal, uv.

    Each primitive solves its ray intersection on its screen bounding box with 2-D arrays, then
    evaluates positions, normals and pattern coordinates only for the pixels it wins.
    """

    def __init__(self, w: int, h: int, ppm: float, ox: float, oy: float, yaw: float) -> None:
        self.w, self.h, self.ppm, self.ox, self.oy = w, h, ppm, ox, oy
        self.c, self.s = math.cos(yaw), math.sin(yaw)
        self.z = np.full((h, w), -1e9, np.float32)
        self.pid = np.full((h, w), -1, np.int16)
        self.pos = np.zeros((h, w, 3), np.float32)
        self.nrm = np.zeros((h, w, 3), np.float32)
        self.uv = np.zeros((h, w, 2), np.float32)
        self.inner = np.zeros((h, w), bool)

    # -- coordinates -----------------------------------------------------------------------
    def screen(self, p: np.ndarray) -> tuple[float, float, float]:
        x, y, z = (float(v) for v in p)
        return x * self.c - z * self.s, y, x * self.s + z * self.c

    def pixel(self, p: np.ndarray) -> tuple[float, float]:
        sx, sy, _ = self.screen(p)
        return self.ox + sx * self.ppm, self.oy - sy * self.ppm

    def _crop(self, x0: float, x1: float, y0: float, y1: float):
        c0 = max(0, math.floor(self.ox + x0 * self.ppm) - 1)
        c1 = min(self.w, math.ceil(self.ox + x1 * self.ppm) + 2)
        r0 = max(0, math.floor(self.oy - y1 * self.ppm) - 1)
        r1 = min(self.h, math.ceil(self.oy - y0 * self.ppm) + 2)
        if c1 <= c0 or r1 <= r0:
            return None
        xs = ((np.arange(c0, c1, dtype=np.float32) + 0.5 - self.ox) / self.ppm)[None, :]
        ys = ((self.oy - np.arange(r0, r1, dtype=np.float32) - 0.5) / self.ppm)[:, None]
        return r0, r1, c0, c1, xs, ys

    def _local(self, sx: np.ndarray, sy: np.ndarray, sz: np.ndarray) -> np.ndarray:
        return np.stack([sx * self.c + sz * self.s, sy + 0 * sx, -sx * self.s + sz * self.c], -1)

    def _to_screen_n(self, n: np.ndarray) -> np.ndarray:
        c, s = self.c, self.s
        out = np.stack([n[:, 0] * c - n[:, 2] * s, n[:, 1], n[:, 0] * s + n[:, 2] * c], -1)
        return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-6)

    def _ztest(self, gi: np.ndarray, gj: np.ndarray, zf: np.ndarray) -> np.ndarray:
        return zf > self.z[gi, gj]

    def _commit(self, pid, gi, gj, zf, pos, nrm, uv, inner) -> None:
        self.z[gi, gj] = zf
        self.pid[gi, gj] = pid
        self.pos[gi, gj] = pos
        self.nrm[gi, gj] = nrm
        self.uv[gi, gj] = uv
        self.inner[gi, gj] = inner

    def _trim(self, keep: KeepFn | None, zf, zb, local):
        """Apply a keep-test: where the front surface is cut away, fall back to the back one."""
        pos = local(zf)
        if keep is None:
            return zf, pos, np.zeros(len(zf), bool), np.ones(len(zf), bool)
        kf = keep(pos)
        posb = local(zb)
        kb = keep(posb)
        inner = ~kf & kb
        zf = np.where(kf, zf, zb)
        pos = np.where(kf[:, None], pos, posb)
        return zf, pos, inner, kf | kb

    # -- primitives ------------------------------------------------------------------------
    def ellipsoid(self, pid: int, prim: _Prim) -> None:
        g = prim.geo
        cen, rad, rot = g["c"], g["r"], g["R"]
        scx, scy, _ = self.screen(cen)
        m = float(rad.max())
        crop = self._crop(scx - m, scx + m, scy - m, scy + m)
        if crop is None:
            return
        r0, _r1, c0, _c1, xs, ys = crop
        c, s = self.c, self.s
        ca = (np.array([c, 0.0, -s], np.float32) @ rot) / rad
        cb = (np.array([0.0, 1.0, 0.0], np.float32) @ rot) / rad
        cc = -(cen @ rot) / rad
        ad = (np.array([s, 0.0, c], np.float32) @ rot) / rad
        a0 = [xs * ca[k] + ys * cb[k] + cc[k] for k in range(3)]
        qa = float(ad @ ad)
        qb = 2.0 * (a0[0] * ad[0] + a0[1] * ad[1] + a0[2] * ad[2])
        qc = a0[0] * a0[0] + a0[1] * a0[1] + a0[2] * a0[2] - 1.0
        disc = qb * qb - 4.0 * qa * qc
        ii, jj = np.nonzero(disc > 0)
        if len(ii) == 0:
            return
        sq = np.sqrt(disc[ii, jj])
        qbv = qb[ii, jj]
        zf = (-qbv + sq) / (2.0 * qa)
        zb = (-qbv - sq) / (2.0 * qa)
        xv, yv = xs[0, jj], ys[ii, 0]

        def local(zv: np.ndarray) -> np.ndarray:
            return self._local(xv, yv, zv)

        zf, pos, inner, ok = self._trim(prim.keep, zf, zb, local)
        gi, gj = ii + r0, jj + c0
        ok &= self._ztest(gi, gj, zf)
        if not ok.any():
            return
        zf, pos, inner, gi, gj = zf[ok], pos[ok], inner[ok], gi[ok], gj[ok]
        q = ((pos - cen) @ rot) / rad
        nloc = (q / rad) @ rot.T
        nloc[inner] *= -1.0
        nrm = self._to_screen_n(nloc)
        uv = np.stack([np.arctan2(nloc[:, 0], nloc[:, 2]) * float(rad.mean()), pos[:, 1]], -1)
        self._commit(pid, gi, gj, zf, pos, nrm, uv, inner)

    def lathe(self, pid: int, prim: _Prim) -> None:
        """A vertical shape with elliptical cross-sections (half-axes a, b, centre cx, cz per y)."""
        g = prim.geo
        ys_p = g["y"]
        ext = float(np.max(np.maximum(g["a"], g["b"]) + np.hypot(g["cx"], g["cz"])))
        crop = self._crop(-ext, ext, float(ys_p[0]), float(ys_p[-1]))
        if crop is None:
            return
        r0, _r1, c0, _c1, xs, ys = crop
        yy = ys[:, 0]
        inside = ((yy >= ys_p[0]) & (yy <= ys_p[-1]))[:, None]
        prof = {k: np.interp(yy, ys_p, g[k]).astype(np.float32)[:, None]
                for k in ("a", "b", "cx", "cz", "da", "db", "dcx", "dcz")}
        a, b, cx, cz = prof["a"], prof["b"], prof["cx"], prof["cz"]
        c, s = self.c, self.s
        kx = xs * c - cx
        kz = -xs * s - cz
        ia2, ib2 = 1.0 / (a * a), 1.0 / (b * b)
        qa = s * s * ia2 + c * c * ib2
        qb = 2.0 * (kx * s * ia2 + kz * c * ib2)
        qc = kx * kx * ia2 + kz * kz * ib2 - 1.0
        disc = qb * qb - 4.0 * qa * qc
        ii, jj = np.nonzero((disc > 0) & inside)
        if len(ii) == 0:
            return
        sq = np.sqrt(disc[ii, jj])
        qav, qbv = qa[ii, 0], qb[ii, jj]
        zf = (-qbv + sq) / (2.0 * qav)
        zb = (-qbv - sq) / (2.0 * qav)
        xv, yv = xs[0, jj], ys[ii, 0]

        def local(zv: np.ndarray) -> np.ndarray:
            return self._local(xv, yv, zv)

        zf, pos, inner, ok = self._trim(prim.keep, zf, zb, local)
        gi, gj = ii + r0, jj + c0
        ok &= self._ztest(gi, gj, zf)
        if not ok.any():
            return
        zf, pos, inner, gi, gj, iv = zf[ok], pos[ok], inner[ok], gi[ok], gj[ok], ii[ok]
        av, bv, cxv, czv = a[iv, 0], b[iv, 0], cx[iv, 0], cz[iv, 0]
        dav, dbv = prof["da"][iv, 0], prof["db"][iv, 0]
        dcx, dcz = prof["dcx"][iv, 0], prof["dcz"][iv, 0]
        uu = pos[:, 0] - cxv
        ww = pos[:, 2] - czv
        ia2v, ib2v = 1.0 / (av * av), 1.0 / (bv * bv)
        ny = -(uu * dcx * ia2v + uu * uu * dav * ia2v / av + ww * dcz * ib2v
               + ww * ww * dbv * ib2v / bv)
        nloc = np.stack([uu * ia2v, ny, ww * ib2v], -1)
        nloc[inner] *= -1.0
        nrm = self._to_screen_n(nloc)
        uv = np.stack([np.arctan2(uu / av, ww / bv) * g["uref"], pos[:, 1]], -1)
        self._commit(pid, gi, gj, zf, pos, nrm, uv, inner)

    def chain(self, pid: int, prim: _Prim) -> None:
        """A tapered tube along a polyline: one analytic rounded cone per segment."""
        g = prim.geo
        pts, rads = g["p"], g["r"]
        scr = np.array([self.screen(p) for p in pts], np.float64)
        m = float(rads.max())
        crop = self._crop(
            float(scr[:, 0].min()) - m, float(scr[:, 0].max()) + m,
            float(scr[:, 1].min()) - m, float(scr[:, 1].max()) + m,
        )
        if crop is None:
            return
        r0, r1, c0, c1, xs, ys = crop
        best = np.full((r1 - r0, c1 - c0), -1e9, np.float32)
        idx = np.full((r1 - r0, c1 - c0), -1, np.int8)
        for i in range(len(pts) - 1):
            pa, pb = scr[i], scr[i + 1]
            ra, rb = float(rads[i]), float(rads[i + 1])
            lo = np.minimum(pa, pb) - max(ra, rb)
            hi = np.maximum(pa, pb) + max(ra, rb)
            j0 = max(0, int(lo[0] * self.ppm + self.ox) - c0 - 1)
            j1 = min(c1 - c0, int(hi[0] * self.ppm + self.ox) - c0 + 2)
            i0 = max(0, int(self.oy - hi[1] * self.ppm) - r0 - 1)
            i1 = min(r1 - r0, int(self.oy - lo[1] * self.ppm) - r0 + 2)
            if j1 <= j0 or i1 <= i0:
                continue
            big = max(float(pa[2]), float(pb[2])) + max(ra, rb) + 0.01
            zz = _round_cone_z(xs[:, j0:j1], ys[i0:i1, :], pa, pb, ra, rb, big)
            sub = best[i0:i1, j0:j1]
            better = zz > sub
            np.copyto(sub, zz, where=better)
            np.copyto(idx[i0:i1, j0:j1], np.int8(i), where=better)
        ii, jj = np.nonzero(idx >= 0)
        if len(ii) == 0:
            return
        zf = best[ii, jj]
        gi, gj = ii + r0, jj + c0
        ok = self._ztest(gi, gj, zf)
        if not ok.any():
            return
        ii, jj, zf, gi, gj = ii[ok], jj[ok], zf[ok], gi[ok], gj[ok]
        k = idx[ii, jj].astype(np.intp)
        xv, yv = xs[0, jj], ys[ii, 0]
        scr32 = scr.astype(np.float32)
        pa, pb = scr32[k], scr32[k + 1]
        ra, rb = rads[k].astype(np.float32), rads[k + 1].astype(np.float32)
        oax, oay, oaz = xv - pa[:, 0], yv - pa[:, 1], zf - pa[:, 2]
        bax, bay, baz = pb[:, 0] - pa[:, 0], pb[:, 1] - pa[:, 1], pb[:, 2] - pa[:, 2]
        m0 = bax * bax + bay * bay + baz * baz
        rr = ra - rb
        d2 = m0 - rr * rr
        dot = bax * oax + bay * oay + baz * oaz
        yb = dot - ra * rr
        body = (yb > 0) & (yb < d2)
        obx, oby, obz = xv - pb[:, 0], yv - pb[:, 1], zf - pb[:, 2]
        near_a = (oax * oax + oay * oay + oaz * oaz) / (ra * ra) < (
            obx * obx + oby * oby + obz * obz) / (rb * rb)
        nx = np.where(body, d2 * oax - bax * yb, np.where(near_a, oax, obx))
        ny = np.where(body, d2 * oay - bay * yb, np.where(near_a, oay, oby))
        nz = np.where(body, d2 * oaz - baz * yb, np.where(near_a, oaz, obz))
        inv = 1.0 / np.maximum(np.sqrt(nx * nx + ny * ny + nz * nz), 1e-9)
        nrm = np.stack([nx * inv, ny * inv, nz * inv], -1).astype(np.float32)
        pos = self._local(xv, yv, zf)
        c, s = self.c, self.s
        # pattern coordinates: arc length along the chain, and the angle around its axis
        # measured in the body frame (reference = the axis crossed with body-forward)
        seg_len = np.sqrt(m0)
        tv = g["acc32"][k] + np.clip(dot / np.maximum(seg_len, 1e-9), 0.0, seg_len)
        dl = g["dir32"][k]
        nlx = nrm[:, 0] * c + nrm[:, 2] * s
        nly = nrm[:, 1]
        nlz = -nrm[:, 0] * s + nrm[:, 2] * c
        e1x, e1y = dl[:, 1], -dl[:, 0]  # cross(d, (0, 0, 1))
        e1n = 1.0 / np.maximum(np.sqrt(e1x * e1x + e1y * e1y), 1e-6)
        e1x, e1y = e1x * e1n, e1y * e1n
        e2x, e2y, e2z = -dl[:, 2] * e1y, dl[:, 2] * e1x, dl[:, 0] * e1y - dl[:, 1] * e1x
        ang = np.arctan2(nlx * e2x + nly * e2y + nlz * e2z, nlx * e1x + nly * e1y)
        uv = np.stack([ang * g["uref"], tv], -1).astype(np.float32)
        self._commit(pid, gi, gj, zf, pos, nrm, uv, np.zeros(len(zf), bool))

    def draw(self, prims: list[_Prim]) -> None:
        for pid, prim in enumerate(prims):
            getattr(self, {"ell": "ellipsoid", "lathe": "lathe", "chain": "chain"}[prim.kind])(
                pid, prim
            )


def _ell(mat: str, c, r, rot: np.ndarray | None = None, keep: KeepFn | None = None) -> _Prim:
    rm = np.eye(3, dtype=np.float32) if rot is None else rot.astype(np.float32)
    return _Prim(
        "ell", mat,
        {"c": np.asarray(c, np.float32), "r": np.asarray(r, np.float32), "R": rm}, keep,
    )


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float32)


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float32)


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)


def _lathe(mat: str, keys: list[tuple[float, float, float, float, float]], uref: float,
           keep: KeepFn | None = None, smooth: float = 0.06) -> _Prim:
    """Lathe from keys (y, a, b, cx, cz), resampled densely and smoothed for soft silhouettes."""
    k = np.asarray(keys, np.float32)
    ys = np.linspace(k[0, 0], k[-1, 0], 256).astype(np.float32)
    cols = [np.interp(ys, k[:, 0], k[:, i]) for i in range(1, 5)]
    step = float(ys[1] - ys[0])
    rad = max(1, int(smooth / step))
    ker = np.exp(-0.5 * (np.arange(-2 * rad, 2 * rad + 1) / rad) ** 2)
    ker /= ker.sum()
    sm = []
    for col in cols:
        padded = np.pad(col, 2 * rad, mode="edge")
        sm.append(np.convolve(padded, ker, mode="valid").astype(np.float32))
    geo = {"y": ys, "a": sm[0], "b": sm[1], "cx": sm[2], "cz": sm[3], "uref": uref}
    for name in ("a", "b", "cx", "cz"):
        geo["d" + name] = np.gradient(geo[name], step).astype(np.float32)
    return _Prim("lathe", mat, geo, keep)


def _chain(mat: str, pts: list, radii: list[float], uref: float = 0.05) -> _Prim:
    """Tapered tube through ``pts`` (local metres) with a radius per point."""
    p = np.asarray(pts, np.float64)
    seg = np.linalg.norm(np.diff(p, axis=0), axis=-1)
    acc = np.concatenate([[0.0], np.cumsum(seg)])
    dirs = np.diff(p, axis=0) / np.maximum(seg, 1e-9)[:, None]
    geo = {"p": p, "r": np.asarray(radii, np.float64), "acc": acc, "uref": uref,
           "acc32": acc.astype(np.float32), "dir32": np.vstack([dirs, dirs[-1:]]).astype(
               np.float32)}
    return _Prim("chain", mat, geo)


def _round_cone_z(xs: np.ndarray, ys: np.ndarray, pa: np.ndarray, pb: np.ndarray, ra: float,
                  rb: float, big: float) -> np.ndarray:
    """Front depth of a rounded cone (two spheres and their tangent cone) for rays along -z.

    After Inigo Quilez's ray/round-cone intersector, specialised to orthographic rays; -1e9
    where the ray misses.
    """
    pa0, pa1, pa2 = (float(v) for v in pa)
    pb0, pb1, pb2 = (float(v) for v in pb)
    ba = (pb0 - pa0, pb1 - pa1, pb2 - pa2)
    oax, oay, oaz = xs - pa0, ys - pa1, big - pa2
    obx, oby, obz = xs - pb0, ys - pb1, big - pb2
    rr = ra - rb
    m0 = ba[0] * ba[0] + ba[1] * ba[1] + ba[2] * ba[2]
    m1 = ba[0] * oax + ba[1] * oay + ba[2] * oaz
    m2 = -ba[2]
    m3 = -oaz
    m5 = oax * oax + oay * oay + oaz * oaz
    m6 = -obz
    m7 = obx * obx + oby * oby + obz * obz
    d2 = m0 - rr * rr
    k2 = d2 - m2 * m2
    k1 = d2 * m3 - m1 * m2 + m2 * rr * ra
    k0 = d2 * m5 - m1 * m1 + m1 * rr * ra * 2.0 - m0 * ra * ra
    h = k1 * k1 - k0 * k2
    t = (-np.sqrt(np.maximum(h, 0.0)) - k1) / (k2 if abs(k2) > 1e-12 else 1e-12)
    y = m1 - ra * rr + t * m2
    body = (h >= 0) & (y > 0) & (y < d2)
    h1 = m3 * m3 - m5 + ra * ra
    h2 = m6 * m6 - m7 + rb * rb
    t1 = np.where(h1 > 0, -m3 - np.sqrt(np.maximum(h1, 0.0)), 1e20)
    t2 = np.where(h2 > 0, -m6 - np.sqrt(np.maximum(h2, 0.0)), 1e20)
    tt = np.where(body, t, np.minimum(t1, t2))
    hit = body | (np.minimum(t1, t2) < 1e19)
    return np.where(hit, big - tt, -1e9).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Characters: the puppet (geometry in head units, scaled to metres)
# --------------------------------------------------------------------------------------------


@dataclass
class _Fig:
    """Geometry facts the shader and the anchor code need."""

    look: CharacterLook
    u: float  # one head unit in metres
    head: np.ndarray  # head centre (metres, local)
    head_r: np.ndarray  # skull radii (metres)
    hem_y: float  # top/bottom boundary on the torso (metres)
    boot_y: float
    sleeve_end: float  # arc length along the arm chain where the sleeve ends (metres)
    upper_arm: float
    seat_y: float | None
    feet_z: float
    top_y: float  # top of head/hair (metres)
    hat_top_y: float | None
    neckline_y: float
    yaw: float = 0.0


def _head_coords(fig: _Fig, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face-surface coordinates (sx, sy) in head units: arc length around, height above centre."""
    d = pos - fig.head
    phi = np.arctan2(d[..., 0], d[..., 2])
    return phi * (fig.head_r[0] / fig.u), d[..., 1] / fig.u


def _hairline(look: CharacterLook, phi: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Height (head units, from the head centre) above which the hair shell is kept."""
    a = np.abs(phi)
    if look.hair_style == "long":
        sweep = 0.30 - 0.13 * _smoothstep(-0.5, 0.7, phi) + 0.02 * np.cos(phi * 14.0)
        side = np.interp(a, [0.0, 0.55, 0.95, 1.15, 3.2], [0.0, 0.0, 0.9, 1.3, 1.3])
        return sweep - side
    if look.hair_style == "cropped":
        base = np.interp(a, [0.0, 0.7, 1.3, 1.62, 1.95, 2.6, 3.2],
                         [0.36, 0.30, 0.14, 0.10, -0.10, -0.30, -0.32])
        return base
    base = np.interp(a, [0.0, 0.7, 1.3, 1.62, 1.95, 2.6, 3.2],
                     [0.27, 0.23, 0.10, 0.07, -0.13, -0.30, -0.34])
    fringe = 0.035 * np.abs(np.sin(sx * 38.0)) * (a < 1.2)
    return base - fringe


def _build_figure(look: CharacterLook, sitting: bool) -> tuple[list[_Prim], _Fig]:
    u = look.height_m / 6.5
    fem = look.sex == "female"
    bw = look.build
    old = look.age
    prims: list[_Prim] = []

    def m(*v: float) -> np.ndarray:
        return np.asarray(v, np.float32) * u

    # Pose offsets: sitting lowers the upper body so the hips rest on a knee-high seat.
    drop = (3.15 - (1.72 + 0.30)) if sitting else 0.0
    lean = 0.10 if sitting else 0.0

    def up(y: float) -> float:  # upper-body y after the pose drop
        return y - drop

    def fwd(y: float) -> float:  # lean forward, grows with height above the hips
        return lean * max(0.0, y - 3.15)

    # ---- head --------------------------------------------------------------------------
    hy = 5.98
    head = m(0.0, up(hy), fwd(hy) + 0.0)
    head_r = m(0.40, 0.46, 0.43)
    hx, hyy, hz = (float(v) / u for v in head)
    jaw_r = (0.31, 0.29, 0.35) if fem else (0.345, 0.30, 0.36)
    prims.append(_ell("skin_head", head, head_r))
    prims.append(_ell("skin_head", m(hx, hyy - 0.24, hz + 0.05), m(*jaw_r)))
    nose_r = (0.045, 0.075, 0.065) if fem else (0.062, 0.095, 0.078)
    prims.append(_ell("skin_head", m(hx, hyy - 0.10, hz + 0.40), m(*nose_r), _rot_x(-0.25)))
    if look.hair_style != "long":
        for sgn in (-1.0, 1.0):
            prims.append(
                _ell("ear", m(hx + sgn * 0.39, hyy - 0.05, hz - 0.03), m(0.07, 0.125, 0.09),
                     _rot_y(sgn * 0.35))
            )
    fig = _Fig(
        look=look, u=u, head=head, head_r=head_r, hem_y=0.0, boot_y=0.0, sleeve_end=0.0,
        upper_arm=0.0, seat_y=None, feet_z=0.0, top_y=0.0, hat_top_y=None,
        neckline_y=0.0,
    )

    # ---- hair --------------------------------------------------------------------------
    def keep_hair(p: np.ndarray) -> np.ndarray:
        d = p - head
        phi = np.arctan2(d[..., 0], d[..., 2])
        sx = phi * (head_r[0] / u)
        return d[..., 1] / u > _hairline(look, phi, sx)

    shell_r = {"short": (0.435, 0.48, 0.465), "long": (0.445, 0.48, 0.47),
               "cropped": (0.41, 0.465, 0.44)}[look.hair_style]
    shell_c = m(hx, hyy + 0.02, hz - 0.01)
    prims.append(_ell("hair", shell_c, m(*shell_r), keep=keep_hair))
    fig.top_y = float(shell_c[1] + shell_r[1] * u)
    if look.hair_style == "short":
        prims.append(_ell("hair", m(hx + 0.12, hyy + 0.36, hz + 0.18), m(0.22, 0.13, 0.2),
                          _rot_z(-0.3)))
    if look.hair_style == "long":
        y_end = up(4.05)
        keys = [
            (y_end, 0.50, 0.15, 0.0, fwd(4.05) - 0.47),
            (up(4.9), 0.56, 0.19, 0.0, fwd(4.9) - 0.42),
            (up(5.3), 0.50, 0.28, 0.0, fwd(5.3) - 0.26),
            (hyy - 0.30, 0.48, 0.42, 0.0, hz - 0.06),
            (hyy + 0.12, 0.455, 0.47, 0.0, hz - 0.015),
        ]
        keys_m = [(k[0] * u, k[1] * u * bw, k[2] * u, k[3] * u, k[4] * u) for k in keys]

        def keep_long(p: np.ndarray) -> np.ndarray:
            d = p - head
            phi = np.arctan2(d[..., 0], d[..., 2])
            face = (d[..., 2] > -0.06 * u) & (np.abs(d[..., 0]) < 0.40 * u)
            ends = p[..., 1] > (y_end + 0.10 * (0.5 + 0.5 * np.cos(phi * 9.0))) * u
            return ~face & ends

        prims.append(_lathe("hair", keys_m, 0.12 * u, keep_long, smooth=0.12 * u))

    # ---- beard / hat -------------------------------------------------------------------
    if look.beard == "short":
        def keep_beard(p: np.ndarray) -> np.ndarray:
            d = p - head
            phi = np.abs(np.arctan2(d[..., 0], d[..., 2]))
            line = -0.215 + 0.24 * _smoothstep(0.45, 1.5, phi)
            return (d[..., 1] / u < line) & (phi < 1.75)

        prims.append(_ell("beard", m(hx, hyy - 0.25, hz + 0.055), m(0.355, 0.312, 0.372),
                          keep=keep_beard))
    if look.hat == "campaign":
        prims.append(_ell("hat", m(hx, hyy + 0.25, hz), m(0.90, 0.032, 0.88)))
        crown = [
            (hyy + 0.20, 0.44, 0.44, 0.0, hz),
            (hyy + 0.40, 0.435, 0.43, 0.0, hz),
            (hyy + 0.58, 0.37, 0.36, 0.0, hz),
            (hyy + 0.72, 0.20, 0.19, 0.0, hz),
            (hyy + 0.78, 0.04, 0.04, 0.0, hz),
        ]
        prims.append(_lathe("hat", [tuple(v * u for v in k) for k in crown], 0.3 * u,
                            smooth=0.03 * u))
        fig.hat_top_y = (hyy + 0.78) * u

    # ---- neck and torso ----------------------------------------------------------------
    neck_r = 0.165 if fem else 0.19
    prims.append(_chain("neck", [m(0, up(5.02), fwd(5.0) - 0.03),
                                 m(0, up(5.66), fwd(5.66) - 0.02)], [neck_r * u, neck_r * u]))
    if fem:
        tk = [(3.0, 0.62, 0.34), (3.3, 0.70, 0.37), (3.6, 0.64, 0.35), (3.95, 0.53, 0.33),
              (4.4, 0.64, 0.40), (4.8, 0.68, 0.36), (5.0, 0.64, 0.31), (5.12, 0.52, 0.26),
              (5.2, 0.36, 0.2), (5.27, 0.2, 0.16)]
    else:
        belly = 0.1 * max(0.0, old - 0.5) * 2
        tk = [(3.0, 0.62, 0.34), (3.3, 0.69, 0.36), (3.6, 0.68 + belly, 0.36 + belly),
              (3.95, 0.64 + belly, 0.36 + belly), (4.4, 0.74, 0.39), (4.8, 0.79, 0.38),
              (5.0, 0.76, 0.34), (5.12, 0.62, 0.28), (5.22, 0.44, 0.22), (5.30, 0.22, 0.17)]
    torso_keys = [(up(y) * u, a * u * bw, b * u * bw, 0.0, (fwd(y) + (0.02 if 4.0 < y < 4.9
                                                                      else 0.0)) * u)
                  for y, a, b in tk]
    prims.append(_lathe("torso", torso_keys, 0.16, smooth=0.05 * u))
    fig.neckline_y = up(4.78 if fem else 4.92) * u
    if look.outer is not None:
        ok = [(up(3.5) * u, 0.72 * u * bw, 0.42 * u * bw, 0.0, fwd(3.5) * u)]
        ok += [(y * 1.0, a * 1.07 + 0.012, b * 1.1 + 0.012, cx, cz)
               for (y, a, b, cx, cz) in torso_keys if y > up(3.7) * u]
        ok[-1] = (ok[-1][0] + 0.02 * u, ok[-1][1] * 1.3, ok[-1][2] * 1.2, 0.0, ok[-1][4])

        def keep_outer(p: np.ndarray) -> np.ndarray:
            yy = p[..., 1] / u + drop
            w = np.interp(yy, [3.5, 4.2, 4.7, 5.0, 5.3], [0.36, 0.28, 0.24, 0.26, 0.34]) * u
            return ~((p[..., 2] > (fwd(4.5) - 0.05) * u) & (np.abs(p[..., 0]) < w))

        prims.append(_lathe("outer", ok, 0.16, keep_outer, smooth=0.05 * u))

    # ---- skirt / belt ------------------------------------------------------------------
    if look.bottom_style == "dress" and not sitting:
        sk = [(2.1, 1.00, 0.78), (2.6, 0.92, 0.68), (3.2, 0.76, 0.50), (3.6, 0.63, 0.41),
              (3.95, 0.55, 0.35)]
        skirt_keys = [(y * u, a * u * bw, b * u * bw, 0.0, 0.02 * u) for y, a, b in sk]

        def keep_skirt(p: np.ndarray) -> np.ndarray:
            phi = np.arctan2(p[..., 0], p[..., 2])
            return p[..., 1] / u > 2.1 + 0.05 * (0.5 + 0.5 * np.sin(phi * 7.0))

        prims.append(_lathe("skirt", skirt_keys, 0.2, keep_skirt, smooth=0.08 * u))
    fig.hem_y = up(3.95 if look.bottom_style == "dress" else (3.52 if look.belt else 3.3)) * u

    # ---- arms --------------------------------------------------------------------------
    ar = (0.16, 0.13, 0.10) if fem else (0.19, 0.16, 0.12)
    for sgn in (-1.0, 1.0):
        sh = m(sgn * (0.64 if fem else 0.73) * bw, up(4.86), fwd(4.86) - 0.02)
        if sitting:
            el = m(sgn * 0.90 * bw, up(3.92), 0.28)
            wr = m(sgn * 0.66 * bw, 2.32, 0.98)
        else:
            el = m(sgn * (0.86 if fem else 0.93) * bw, up(3.95), -0.06)
            wr = m(sgn * (0.90 if fem else 0.99) * bw, 3.05, 0.05)
        pts, rad = [sh, el, wr], [ar[0] * u, ar[1] * u, ar[2] * u]
        fig.upper_arm = float(np.linalg.norm(el - sh))
        fore = float(np.linalg.norm(wr - el))
        if look.sleeves == "rolled":
            roll = el + (wr - el) * 0.36
            pts = [sh, el, roll, roll + (wr - el) * 0.01, wr]
            rad = [ar[0] * u, ar[1] * u, (ar[1] + 0.03) * u, ar[1] * 0.93 * u, ar[2] * u]
            fig.sleeve_end = fig.upper_arm + fore * 0.37
        else:
            fig.sleeve_end = fig.upper_arm + fore * 0.97
        prims.append(_chain("arm", pts, rad))
        # mitten hand + thumb
        if sitting:
            hc = wr + m(-sgn * 0.03, -0.04, 0.17)
            prims.append(_ell("skin", hc, m(0.11, 0.075, 0.19), _rot_y(-sgn * 0.35)))
            prims.append(_ell("skin", hc + m(-sgn * 0.1, 0.02, -0.02), m(0.045, 0.05, 0.09),
                              _rot_y(-sgn * 0.8)))
        else:
            hc = wr + m(sgn * 0.01, -0.24, 0.01)
            prims.append(_ell("skin", hc, m(0.085, 0.19, 0.135), _rot_z(sgn * 0.08)))
            prims.append(_ell("skin", hc + m(-sgn * 0.02, 0.08, 0.12), m(0.045, 0.09, 0.05),
                              _rot_x(0.4)))

    # ---- legs and feet -----------------------------------------------------------------
    dress = look.bottom_style == "dress"
    lr = (0.28, 0.19, 0.115) if dress else (0.32, 0.22, 0.18)
    hip_x, knee_x, ank_x = (0.30, 0.27, 0.25) if dress else (0.34, 0.30, 0.29)
    for sgn in (-1.0, 1.0):
        if sitting:
            hip = m(sgn * hip_x, 2.02, 0.0)
            knee = m(sgn * (knee_x + 0.06), 1.98, 1.42)
            ank = m(sgn * (ank_x + 0.08), 0.36, 1.50)
        else:
            hip = m(sgn * hip_x, 3.15, 0.0)
            knee = m(sgn * knee_x, 1.75, 0.03)
            ank = m(sgn * ank_x, 0.36, 0.0)
        calf = knee + (ank - knee) * 0.3
        prims.append(_chain("leg", [hip, knee, calf, ank],
                            [lr[0] * u, lr[1] * u, lr[1] * 1.08 * u, lr[2] * u], uref=0.08))
        if sitting and dress:
            prims.append(_chain("skirt", [hip + m(0, 0.02, -0.1), knee + m(0, 0.0, 0.04)],
                                [0.33 * u * bw, 0.27 * u * bw], uref=0.12))
        foot_z = float(ank[2]) / u + 0.2
        if look.shoe_style == "sandals":
            prims.append(_ell("foot", m(float(ank[0]) / u, 0.11, foot_z), m(0.12, 0.10, 0.32),
                              _rot_x(0.12)))
            prims.append(_ell("sole", m(float(ank[0]) / u, 0.03, foot_z + 0.01),
                              m(0.14, 0.035, 0.35)))
        else:
            prims.append(_ell("shoe", m(float(ank[0]) / u, 0.16, foot_z),
                              m(0.175, 0.16, 0.38), _rot_x(0.06)))
        fig.feet_z = foot_z * u
    if sitting:
        prims.append(_ell("torso", m(0.0, 2.0, -0.08), m(0.66 * bw, 0.27, 0.44)))
        if dress:
            prims.append(_ell("skirt", m(0.0, 2.07, 0.62), m(0.74 * bw, 0.31, 0.98)))
            prims.append(_ell("skirt", m(0.0, 1.80, 1.46), m(0.72 * bw, 0.36, 0.17),
                              _rot_x(0.1)))
        fig.seat_y = 1.72 * u
    fig.boot_y = (0.62 if look.shoe_style == "boots" else -1.0) * u
    return prims, fig


# --------------------------------------------------------------------------------------------
# Characters: materials (base colour + region id + forced shadow per pixel)
# --------------------------------------------------------------------------------------------

_R_SKIN, _R_HAIR, _R_TOP, _R_BOTTOM, _R_SHOE, _R_SOLE = 1, 2, 3, 4, 5, 6
_R_HAT, _R_BAND, _R_OUTER, _R_BELT, _R_DRESS, _R_COLLAR = 7, 8, 9, 10, 11, 12
_R_EYE, _R_EAR = 14, 15  # eyes get no outline; ears get one against the head


def _paint(base: np.ndarray, mask: np.ndarray, color, alpha: float | np.ndarray = 1.0) -> None:
    """In-place: blend ``color`` over ``base`` (n, 3) where ``mask`` (n,) is set."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return
    col = np.asarray(color, np.float32)
    if col.ndim == 2:
        col = col[idx]
    a = np.asarray(alpha, np.float32)
    if a.ndim == 0:
        if float(a) >= 1.0:
            base[idx] = col
            return
        base[idx] = base[idx] * (1.0 - a) + col * a
        return
    a = a[idx][:, None]
    base[idx] = base[idx] * (1.0 - a) + col * a


def _soft_disc(dx: np.ndarray, dy: np.ndarray, rx: float, ry: float, edge: float) -> np.ndarray:
    d = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)
    return 1.0 - _smoothstep(1.0 - edge, 1.0 + edge, d)


def _plaid(uv: np.ndarray, red: np.ndarray, dark: np.ndarray) -> np.ndarray:
    period = 0.085
    fu = np.mod(uv[:, 0] / period, 1.0)
    fv = np.mod(uv[:, 1] / period + 0.3, 1.0)
    bu = (fu < 0.34).astype(np.float32)
    bv = (fv < 0.34).astype(np.float32)
    thin = ((np.abs(fu - 0.67) < 0.035) | (np.abs(fv - 0.67) < 0.035)).astype(np.float32)
    col = np.repeat(red[None, :], len(fu), 0)
    one = np.clip(bu + bv, 0, 2)
    col = col * (1.0 - 0.5 * (one == 1)[:, None]) + dark * 0.5 * (one == 1)[:, None]
    col = np.where((one == 2)[:, None], dark * 1.05, col)
    col = col * (1 - 0.35 * thin[:, None]) + 0.35 * thin[:, None] * _col((236, 196, 120))
    return col


def _sunflowers(uv: np.ndarray, base: np.ndarray, petal: np.ndarray) -> np.ndarray:
    gx, gy = 0.105, 0.092
    v = uv[:, 1] / gy
    row = np.floor(v)
    u = uv[:, 0] / gx + 0.5 * np.mod(row, 2)
    col = np.floor(u)
    jx = _hash2(col, row, 3) * 0.3 - 0.15
    jy = _hash2(col, row, 5) * 0.3 - 0.15
    dx = (u - col - 0.5 - jx) * gx
    dy = (v - row - 0.5 - jy) * gy
    r = np.hypot(dx, dy)
    ang = np.arctan2(dy, dx) + _hash2(col, row, 7) * 6.0
    petal_r = 0.026 * (0.78 + 0.22 * np.abs(np.cos(ang * 4.0)))
    out = np.repeat(base[None, :], len(r), 0)
    pet = r < petal_r
    _paint(out, pet, petal)
    _paint(out, r < 0.0115, _col((104, 60, 26)))
    _paint(out, (r < 0.006) & (r > 0.0035), _col((70, 38, 16)))
    leaf = (np.hypot(dx - 0.036, (dy + 0.018) * 1.8) < 0.011) & (_hash2(col, row, 9) > 0.4)
    _paint(out, leaf, _col((110, 150, 60)))
    return out


def _mouth_half_width(fig: _Fig) -> float:
    """Mouth half-width in head units; near profile it wraps further round so it stays readable."""
    side = abs(math.sin(fig.yaw))
    return 0.085 * (1.0 + 1.6 * max(0.0, side - 0.8) / 0.2)


def _shade_face(fig: _Fig, pos: np.ndarray, base: np.ndarray, force: np.ndarray,
                region: np.ndarray, store: dict) -> None:
    """Face decals on the head skin: eyes, brows, blush, mouth, moustache, wrinkles."""
    look = fig.look
    sx, sy = _head_coords(fig, pos)
    front = (pos[:, 2] - fig.head[2]) > -0.1 * fig.u
    hair_c = _col(look.hair)
    brow_c = hair_c * 0.7 if look.age < 0.6 else _col((96, 92, 88))
    # cheeks
    for sgn in (-1.0, 1.0):
        b = _soft_disc(sx - sgn * 0.215, sy + 0.17, 0.075, 0.055, 0.6) * front
        _paint(base, b > 0, _col(look.blush), 0.28 * b)
    if look.freckles:
        rng = np.random.default_rng(11)
        for _ in range(18):
            fx = rng.uniform(0.06, 0.24) * rng.choice([-1.0, 1.0])
            fy = rng.uniform(-0.17, -0.07)
            d = np.hypot(sx - fx, sy - fy)
            _paint(base, front & (d < 0.008), _col((206, 130, 96)), 0.45)
    # eyes
    for sgn in (-1.0, 1.0):
        ex, ey = sgn * 0.155, -0.02
        dx, dy = sx - ex, sy - ey
        eye = ((dx / 0.06) ** 2 + (dy / 0.068) ** 2 < 1.0) & front
        _paint(base, eye, _col((250, 247, 240)))
        ix = ex - sgn * 0.004
        iris = (np.hypot(sx - ix, (sy - ey + 0.006) * 0.95) < 0.05) & eye
        _paint(base, iris, _col(look.eye_color))
        pupil = (np.hypot(sx - ix, sy - ey + 0.006) < 0.027) & eye
        _paint(base, pupil, _col((22, 16, 14)))
        hl = (np.hypot(sx - ix + 0.017, sy - ey - 0.017) < 0.014) & eye
        _paint(base, hl, _col((255, 255, 255)))
        # upper lid line (and a little lash flick for Jane)
        lid_y = ey + 0.068 * np.sqrt(np.clip(1 - (dx / 0.066) ** 2, 0, 1))
        lid = (np.abs(dx) < 0.068) & (sy > lid_y - 0.02) & (sy < lid_y + 0.008) & front
        if look.sex == "female":
            flick = (sgn * dx > 0.045) & (sgn * dx < 0.09) & (np.abs(sy - (ey + 0.05 + 0.5 * (
                sgn * dx - 0.045))) < 0.012) & front
            lid = lid | flick
        _paint(base, lid, _col((40, 26, 22)))
        force[eye | lid] = 0.0
        region[eye] = _R_EYE
        # brows
        bdx = sx - sgn * 0.165
        by = 0.135 + 0.022 * (1 - (bdx / 0.09) ** 2) + sgn * bdx * 0.05
        brow = (np.abs(bdx) < 0.09) & (np.abs(sy - by) < (0.024 if look.sex == "male" else
                                                          0.016)) & front
        _paint(base, brow, brow_c)
        if look.age > 0.6:
            for k in range(3):
                cy = ey - 0.03 + k * 0.03
                crow = (np.abs(sgn * sx - (0.245 + 0.02 * k)) < 0.022) & (
                    np.abs(sy - cy - (sgn * sx - 0.245) * (k - 1) * 0.6) < 0.006)
                _paint(base, crow & front, _col(look.skin) * 0.72)
            fold = (np.abs(sgn * sx - (0.10 + (-0.16 - sy) * 0.45)) < 0.008) & (sy < -0.17) & (
                sy > -0.30)
            _paint(base, fold & front, _col(look.skin) * 0.74)
    # mouth: a small closed neutral line with a hint of lip colour
    mdx = sx
    mw = _mouth_half_width(fig)
    my = -0.31 + 0.014 * (mdx / mw) ** 2
    mouth = (np.abs(mdx) < mw) & (np.abs(sy - my) < 0.011) & front
    lip = (np.abs(mdx) < mw * 0.75) & (sy < my) & (sy > my - 0.042 * np.sqrt(
        np.clip(1 - (mdx / (mw * 0.75)) ** 2, 0, 1))) & front
    lip_c = _col(look.blush) * 0.45 + _col(look.skin) * 0.5
    _paint(base, lip, lip_c, 0.6 if look.beard != "moustache" else 0.3)
    if look.beard == "short":
        phi = np.abs(sx / (fig.head_r[0] / fig.u))
        line = -0.20 + 0.24 * _smoothstep(0.45, 1.5, phi)
        stub = (sy < line + 0.06) & (phi < 1.75) & front
        _paint(base, stub, _col(look.hair), 0.22 * _smoothstep(line + 0.06, line, sy))
    if look.beard == "moustache":
        ax = np.abs(sx) / 0.17
        top = -0.2 - 0.03 * ax**2
        low = -0.262 - 0.06 * ax**3
        mou = (ax < 1.0) & (sy < top) & (sy > low) & front
        _paint(base, mou, _col(look.hair) * 0.92)
        region[mou] = _R_HAIR
        mouth = mouth & ~mou
        low_m = (np.abs(mdx) < mw) & (np.abs(sy - my) < 0.011) & front
        mouth = low_m
    _paint(base, mouth, _col((112, 46, 42)))
    store["mouth"] = [*store.get("mouth", []), mouth]
    if look.hat != "none":
        force[(sy > 0.07) & front] = 1.0


def _triplanar_uv(fig: _Fig, pos: np.ndarray, nrm: np.ndarray) -> np.ndarray:
    """Seamless pattern coordinates for draped cloth: project along the dominant local axis."""
    c, s = math.cos(fig.yaw), math.sin(fig.yaw)
    nl = np.stack([nrm[:, 0] * c + nrm[:, 2] * s, nrm[:, 1], -nrm[:, 0] * s + nrm[:, 2] * c], -1)
    ax = np.argmax(np.abs(nl), -1)
    u = np.where(ax == 0, pos[:, 2], pos[:, 0])
    v = np.where(ax == 1, pos[:, 2], pos[:, 1])
    return np.stack([u, v], -1)


def _material(fig: _Fig, name: str, pos: np.ndarray, uv: np.ndarray, inner: np.ndarray,
              store: dict, nrm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    look = fig.look
    n = len(pos)
    base = np.zeros((n, 3), np.float32)
    region = np.zeros(n, np.int16)
    force = np.zeros(n, np.float32)
    skin = _col(look.skin)
    y = pos[:, 1]
    u = fig.u
    drop = 0.0 if fig.seat_y is None else (3.15 - 2.02) * u

    if name in ("skin_head", "skin", "neck", "foot", "ear"):
        base[:] = skin
        region[:] = _R_SKIN
        if name == "ear":
            region[:] = _R_EAR
            side = np.sign(pos[:, 0] - fig.head[0])
            ec = fig.head + np.stack([side * 0.40 * u, np.full_like(side, -0.05 * u),
                                      np.full_like(side, -0.03 * u)], -1)
            d = (pos - ec) / u
            bowl = ((d[:, 1] + 0.01) / 0.075) ** 2 + ((d[:, 2] - 0.005) / 0.045) ** 2 < 1.0
            _paint(base, bowl & (np.abs(d[:, 0]) > 0.02), skin * 0.8)
        if name == "neck":
            force[y > fig.head[1] - 0.62 * u] = 1.0
        if name == "skin_head":
            _shade_face(fig, pos, base, force, region, store)
        if name == "foot":
            strap = (np.abs(np.mod((pos[:, 2] - fig.feet_z) / u + 0.4, 0.24) - 0.12) < 0.035)
            strap &= pos[:, 1] > 0.04 * u
            _paint(base, strap, _col(look.shoes))
            region[strap] = _R_SHOE
    elif name == "hair" or name == "beard":
        base[:] = _col(look.hair)
        region[:] = _R_HAIR
        d = pos - fig.head
        phi = np.arctan2(d[:, 0], d[:, 2])
        strands = np.abs(np.sin(phi * 11.0 + d[:, 1] / u * 2.0)) > 0.94
        _paint(base, strands & (d[:, 1] > -0.3 * u), _col(look.hair) * 0.84, 0.6)
        if name == "hair":
            lite = np.abs(np.sin(phi * 7.0 + 1.3)) > 0.9
            band = np.abs(d[:, 1] / u - 0.30) < 0.05
            _paint(base, lite & band, np.minimum(_col(look.hair) * 1.25 + 0.05, 1.0), 0.7)
        else:
            base[:] = np.minimum(_col(look.hair) * 1.15, 1.0)
            sx, sy = _head_coords(fig, pos)
            mw = _mouth_half_width(fig)
            my = -0.31 + 0.014 * (sx / mw) ** 2
            lip = (np.abs(sx) < mw * 0.8) & (sy < my) & (sy > my - 0.05 * np.sqrt(
                np.clip(1 - (sx / (mw * 0.8)) ** 2, 0, 1)))
            _paint(base, lip, _col(look.blush) * 0.4 + skin * 0.45)
            mouth = (np.abs(sx) < mw) & (np.abs(sy - my) < 0.011)
            _paint(base, mouth, _col((80, 36, 32)))
            store["mouth"] = [*store.get("mouth", []), mouth]
        base[inner] *= 0.7
    elif name == "torso" or name == "outer" or name == "skirt":
        top = y > fig.hem_y
        front = pos[:, 2] > 0
        if name == "outer":
            base[:] = _col(look.outer or (240, 240, 240))
            region[:] = _R_OUTER
            ribs = np.abs(np.sin(uv[:, 1] / (0.012))) > 0.85
            _paint(base, ribs & (y < (3.62 * u - drop)), base * 0.9)
            base[inner] *= 0.8
        elif look.top_pattern == "sunflower" or name == "skirt":
            puv = uv
            if name == "skirt" and fig.seat_y is not None:
                puv = _triplanar_uv(fig, pos, nrm)
            base[:] = _sunflowers(puv, _col(look.top), _col(look.top_accent))
            region[:] = _R_DRESS
            hem = y < 2.2 * u
            if name == "skirt" and fig.seat_y is None:
                _paint(base, hem, _col(look.top_accent) * 0.95)
            base[inner] *= 0.75
        else:
            if look.top_pattern == "plaid":
                base[:] = _plaid(uv, _col(look.top), _col(look.top_accent))
            else:
                base[:] = _col(look.top)
            region[:] = _R_TOP
            bottom = ~top
            base[bottom] = _col(look.bottom)
            region[bottom] = _R_BOTTOM
            if look.belt is not None:
                belt = (y < fig.hem_y) & (y > fig.hem_y - 0.12 * u)
                base[belt] = _col(look.belt)
                region[belt] = _R_BELT
                buckle = belt & front & (np.abs(pos[:, 0]) < 0.07 * u)
                _paint(base, buckle, _col((214, 180, 92)))
            if look.top_pattern == "plaid":
                placket = top & front & (np.abs(pos[:, 0]) < 0.018 * u)
                _paint(base, placket, _col(look.top_accent), 0.5)
                by = np.mod(y / u, 0.42) - 0.21
                btn = top & front & (np.hypot(pos[:, 0] / u, by) < 0.03)
                _paint(base, btn, _col((214, 196, 164)))
            if look.top_pattern == "uniform":
                _uniform_details(fig, pos, base, region, top, front)
        # neckline: open collar (men) / scoop (dress)
        if name == "torso":
            ax = np.abs(pos[:, 0]) / u
            yy = (y - fig.neckline_y) / u
            if look.sex == "female":
                skin_m = front & (yy > 0.34 * (ax / 0.42) ** 2 - 0.05)
                _paint(base, skin_m, skin)
                region[skin_m] = _R_SKIN
            else:
                vneck = front & (yy > 0) & (ax < yy * 0.55)
                collar = front & (yy > -0.06) & (ax < yy * 0.55 + 0.16) & ~vneck & (ax > 0.02)
                base[collar] *= 0.88
                region[collar] = _R_COLLAR
                _paint(base, vneck, skin * 0.92)
                region[vneck] = _R_SKIN
    elif name == "arm":
        t = uv[:, 1]
        sleeve = t < fig.sleeve_end
        if look.outer is not None:
            base[:] = _col(look.outer)
            region[:] = _R_OUTER
            cuff = sleeve & (t > fig.sleeve_end - 0.06 * u)
            _paint(base, cuff, _col(look.outer) * 0.92)
        elif look.top_pattern == "plaid":
            base[:] = _plaid(uv, _col(look.top), _col(look.top_accent))
            region[:] = _R_TOP
            roll = sleeve & (t > fig.sleeve_end - 0.13 * u)
            base[roll] = _plaid(uv[roll] * 1.3, _col(look.top) * 0.85, _col(look.top_accent))
            region[roll] = _R_COLLAR
        else:
            base[:] = _col(look.top)
            region[:] = _R_TOP
            cuff = sleeve & (t > fig.sleeve_end - 0.08 * u)
            _paint(base, cuff, _col(look.top) * 0.88)
            if look.top_pattern == "uniform":
                ang = uv[:, 0] / 0.05
                outer = np.where(pos[:, 0] < 0, np.abs(ang), np.pi - np.abs(ang))
                tt = (t / u - 0.3) / 0.14
                patch = (np.abs(tt) < 1.0) & (outer < 0.75 * (1.0 - 0.45 * np.clip(tt, 0, 1)))
                _paint(base, patch, _col((120, 80, 42)))
                _paint(base, patch & (outer < 0.45 * (1.0 - 0.4 * np.clip(tt, 0, 1))) & (
                    np.abs(tt) < 0.6), _col((214, 178, 86)))
                region[patch] = _R_COLLAR
        base[~sleeve] = skin
        region[~sleeve] = _R_SKIN
    elif name == "leg":
        dress = look.bottom_style == "dress"
        base[:] = skin if dress else _col(look.bottom)
        region[:] = _R_SKIN if dress else _R_BOTTOM
        if not dress:
            frontish = -np.sin(uv[:, 0] / 0.08)
            fade = _smoothstep(0.4, 0.95, frontish) * _smoothstep(0.1, 0.35, uv[:, 1] / (
                2 * u)) * (1 - _smoothstep(0.35, 0.6, uv[:, 1] / (2 * u)))
            if look.bottom_style == "jeans":
                _paint(base, fade > 0, np.minimum(_col(look.bottom) * 1.25 + 0.05, 1), 0.45 * fade)
            cuff = y < 0.72 * u
            _paint(base, cuff, _col(look.bottom) * 0.9)
        boot = y < fig.boot_y
        base[boot] = _col(look.shoes)
        region[boot] = _R_SHOE
    elif name in ("shoe", "sole"):
        base[:] = _col(look.shoes)
        region[:] = _R_SHOE
        sole = (y < 0.045 * u) | (name == "sole")
        base[sole] = _col(look.shoes) * 0.45 if name == "shoe" else _col((150, 100, 60))
        region[sole] = _R_SOLE
        if name == "shoe":
            dz = (pos[:, 2] - fig.feet_z) / u
            lace = (y > 0.24 * u) & (dz > -0.05) & (dz < 0.16) & (
                np.abs(np.mod(dz, 0.07) - 0.035) < 0.011) & (np.abs(
                    pos[:, 0] / u - np.sign(pos[:, 0]) * 0.29) < 0.07)
            _paint(base, lace, _col((226, 204, 160)), 0.85)
            toe = (dz > 0.2) & (y > 0.12 * u)
            _paint(base, toe, np.minimum(_col(look.shoes) * 1.15, 1.0), 0.6)
    elif name == "hat":
        base[:] = _col(look.hat_color)
        region[:] = _R_HAT
        band = (y > fig.head[1] + 0.24 * u) & (y < fig.head[1] + 0.33 * u)
        base[band] = _col(look.hat_band)
        region[band] = _R_BAND
        d = pos - fig.head
        phi = np.arctan2(d[:, 0], d[:, 2])
        crease = (np.abs(np.cos(2 * phi)) > 0.93) & (y > fig.head[1] + 0.5 * u)
        _paint(base, crease, _col(look.hat_color) * 0.72)
        brim = y < fig.head[1] + 0.285 * u
        _paint(base, brim & ~band, _col(look.hat_color) * 0.93)
    else:  # pragma: no cover - every material above is used
        base[:] = 1.0
    return base, region, force


def _uniform_details(fig: _Fig, pos: np.ndarray, base: np.ndarray, region: np.ndarray,
                     top: np.ndarray, front: np.ndarray) -> None:
    """Ranger shirt: chest pockets with flaps, a gold badge, a name tag and a button line."""
    u = fig.u
    look = fig.look
    x = pos[:, 0] / u
    yy = (pos[:, 1] - fig.neckline_y) / u
    dark = _col(look.top_accent)
    for sgn in (-1.0, 1.0):
        px = sgn * x
        pocket = front & (px > 0.16) & (px < 0.50) & (yy < -0.38) & (yy > -0.86)
        flap = front & (px > 0.15) & (px < 0.51) & (yy < -0.32) & (yy > -0.48 - 0.06 * (
            1 - np.abs((px - 0.33) / 0.18)))
        edge = pocket & ((px < 0.185) | (px > 0.475) | (yy < -0.835))
        _paint(base, edge, dark)
        _paint(base, flap, _col(look.top) * 0.86)
        fl_edge = flap & ((px < 0.175) | (px > 0.49) | (yy < -0.44 - 0.06 * (
            1 - np.abs((px - 0.33) / 0.18))))
        _paint(base, fl_edge, dark)
    badge_d = np.hypot(x - 0.33, (yy + 0.20) * 1.15)
    badge_ang = np.arctan2(yy + 0.20, x - 0.33)
    star = front & (badge_d < 0.085 * (0.65 + 0.35 * np.abs(np.cos(badge_ang * 2.5))))
    _paint(base, star, _col((226, 190, 80)))
    _paint(base, star & (badge_d < 0.03), _col((170, 128, 40)))
    tag = front & (np.abs(x + 0.33) < 0.14) & (np.abs(yy + 0.24) < 0.035)
    _paint(base, tag, _col((40, 40, 36)))
    _paint(base, tag & (np.abs(x + 0.33) < 0.1) & (np.abs(yy + 0.24) < 0.01), _col((230, 230, 220)))
    placket = top & front & (np.abs(x) < 0.02)
    _paint(base, placket, dark, 0.7)
    region[placket & (yy > 0)] = _R_TOP


# --------------------------------------------------------------------------------------------
# Characters: toon shading, outlines, anchors
# --------------------------------------------------------------------------------------------

_SS = 2  # supersampling factor for characters
_PPM = 500.0  # output pixels per metre (the same for every character and view)
_CANVAS = (512, 1024)
_GROUND_ROW = 1008
_LIGHT = (np.array([-0.55, 0.5, 0.67]) / np.linalg.norm([-0.55, 0.5, 0.67])).astype(np.float32)
_SHADOW_TINT = np.array([0.70, 0.62, 0.76], np.float32)
_VIEWS = (("front", 0.0), ("three_quarter", 45.0), ("side", 90.0), ("back", 180.0))


def _prim_extent(prim: _Prim, c: float, s: float) -> tuple[float, float, float, float]:
    g = prim.geo
    if prim.kind == "ell":
        x = float(g["c"][0]) * c - float(g["c"][2]) * s
        m = float(g["r"].max())
        return x - m, x + m, float(g["c"][1]) - m, float(g["c"][1]) + m
    if prim.kind == "lathe":
        e = float(np.max(np.maximum(g["a"], g["b"]) + np.hypot(g["cx"], g["cz"])))
        return -e, e, float(g["y"][0]), float(g["y"][-1])
    xs = g["p"][:, 0] * c - g["p"][:, 2] * s
    m = float(g["r"].max())
    return (float(xs.min()) - m, float(xs.max()) + m, float(g["p"][:, 1].min()) - m,
            float(g["p"][:, 1].max()) + m)


def _outline(region: np.ndarray, zz: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Line pixels: region changes and depth jumps (on the nearer side) plus the silhouette."""
    edge = np.zeros(region.shape, bool)
    tol, jump = 0.012, 0.035
    for axis in (0, 1):
        n = region.shape[axis]
        ra, rb = np.take(region, range(n - 1), axis), np.take(region, range(1, n), axis)
        za, zb = np.take(zz, range(n - 1), axis), np.take(zz, range(1, n), axis)
        differ = (ra != rb) & (ra != _R_EYE) & (rb != _R_EYE)
        ea = (differ & (za >= zb - tol)) | (za > zb + jump)
        eb = (differ & (zb >= za - tol)) | (zb > za + jump)
        if axis == 0:
            edge[:-1] |= ea
            edge[1:] |= eb
        else:
            edge[:, :-1] |= ea
            edge[:, 1:] |= eb
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    line = cv2.dilate(edge.astype(np.uint8), cross) > 0
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    core = cv2.erode(hit.astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return hit & (line | (core == 0))


def _render_view(look: CharacterLook, sitting: bool, yaw_deg: float) -> tuple[Image.Image, dict]:
    prims, fig = _build_figure(look, sitting)
    fig.yaw = math.radians(yaw_deg)
    ss = _SS
    ppm = _PPM * ss
    yaw = math.radians(yaw_deg)
    c, s = math.cos(yaw), math.sin(yaw)
    ext = np.array([_prim_extent(p, c, s) for p in prims])
    x0, x1 = float(ext[:, 0].min()), float(ext[:, 1].max())
    y1 = float(ext[:, 3].max())
    full_w, full_h = _CANVAS[0] * ss, _CANVAS[1] * ss
    # Standing figures keep the body axis on the centre column; sitting ones centre their box.
    ox_full = full_w / 2 - (((x0 + x1) / 2) * ppm if sitting else 0.0)
    oy_full = _GROUND_ROW * ss
    pad = 8
    cc0 = max(0, int(ox_full + x0 * ppm) - pad) // ss * ss
    cc1 = min(full_w, (int(ox_full + x1 * ppm) + pad + ss - 1) // ss * ss)
    rr0 = max(0, int(oy_full - y1 * ppm) - pad) // ss * ss
    rr1 = min(full_h, (int(oy_full + 0.02 * ppm) + pad + ss - 1) // ss * ss)
    zb = _ZBuffer(cc1 - cc0, rr1 - rr0, ppm, ox_full - cc0, oy_full - rr0, yaw)
    zb.draw(prims)

    hit = zb.pid >= 0
    pid = zb.pid[hit]
    pos, nrm, uv, inner = zb.pos[hit], zb.nrm[hit], zb.uv[hit], zb.inner[hit]
    mat_names = sorted({p.mat for p in prims})
    mat_ids = np.array([mat_names.index(p.mat) for p in prims], np.int16)
    pix_mat = mat_ids[pid]
    n = len(pid)
    base = np.zeros((n, 3), np.float32)
    reg = np.zeros(n, np.int16)
    force = np.zeros(n, np.float32)
    mouth = np.zeros(n, bool)
    for mi in np.unique(pix_mat):
        sel = np.nonzero(pix_mat == mi)[0]
        store: dict = {}
        b, r, f = _material(fig, mat_names[mi], pos[sel], uv[sel], inner[sel], store, nrm[sel])
        base[sel], reg[sel], force[sel] = b, r, f
        for mm in store.get("mouth", []):
            mouth[sel[mm]] = True

    # toon shading: one shadow tone with a narrow soft terminator, plus a gentle gradient
    ndl = nrm @ _LIGHT
    lit = _smoothstep(0.04, 0.15, ndl)
    lit *= 1.0 - force
    lit[inner] = 0.0
    fac = 0.93 + 0.1 * np.clip(ndl, 0.0, 1.0) + 0.04 * nrm[:, 1]
    fac *= 0.9 + 0.1 * np.clip(pos[:, 1] / (0.8 * fig.u), 0, 1)
    col = base
    col *= _SHADOW_TINT[None, :] + (1.0 - _SHADOW_TINT[None, :]) * lit[:, None]
    col *= fac[:, None]

    h, w = hit.shape
    rgb = np.zeros((h, w, 3), np.float32)
    region = np.full((h, w), -1, np.int16)
    region[hit] = reg
    zz = np.where(hit, zb.z, -1e9).astype(np.float32)
    rgb[hit] = col
    line = _outline(region, zz, hit)
    li = np.nonzero(line)
    rgb[li] = rgb[li] * 0.42 + 0.03

    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = hit.astype(np.uint8) * 255
    small = np.asarray(Image.fromarray(rgba).resize((w // ss, h // ss), Image.LANCZOS)).copy()
    small[small[..., 3] < 6] = 0
    canvas = np.zeros((_CANVAS[1], _CANVAS[0], 4), np.uint8)
    canvas[rr0 // ss:rr0 // ss + h // ss, cc0 // ss:cc0 // ss + w // ss] = small
    img = Image.fromarray(canvas)

    # ---- anchors (output pixel coordinates, pixel centres at integer + 0.5 convention) --
    def to_out(px: float, py: float) -> list[float]:
        return [round(float(px + cc0) / ss, 1), round(float(py + rr0) / ss, 1)]

    def proj(p) -> list[float]:
        px, py = zb.pixel(np.asarray(p, np.float32))
        return to_out(px, py)

    u = fig.u
    rows, cols = np.nonzero(hit)
    anchors: dict = {}
    feet_z = fig.feet_z - 0.12 * u if sitting else 0.08 * u
    anchors["feet"] = proj((0.0, 0.0, feet_z))
    head_skin = pix_mat == "skin_head"
    sx, sy = _head_coords(fig, pos[head_skin])
    hrows, hcols = rows[head_skin], cols[head_skin]

    def find(tx: float, ty: float) -> tuple[float, float] | None:
        if len(sx) == 0:
            return None
        d = (sx - tx) ** 2 + (sy - ty) ** 2
        i = int(np.argmin(d))
        if d[i] > 0.02**2:
            return None
        return float(hcols[i]) + 0.5, float(hrows[i]) + 0.5

    eyes = [find(-0.155, -0.02), find(0.155, -0.02)]
    if all(e is not None for e in eyes):
        anchors["eyes"] = to_out((eyes[0][0] + eyes[1][0]) / 2, (eyes[0][1] + eyes[1][1]) / 2)
    else:
        bridge = find(0.0, -0.02)
        if bridge is not None:
            anchors["eyes"] = to_out(*bridge)
        else:
            hz = float(fig.head[2] + fig.head_r[2])
            anchors["eyes"] = proj((float(fig.head[0]), float(fig.head[1]) - 0.02 * u, hz))
    if mouth.sum() >= 4:
        mc, mr = cols[mouth], rows[mouth]
        anchors["mouth"] = to_out((mc.min() + mc.max() + 1) / 2, float(mr.mean()) + 0.5)
        anchors["mouth_width"] = round(float(mc.max() - mc.min() + 1) / ss, 1)
    else:
        anchors["mouth"] = None
        anchors["mouth_width"] = 0.0
    anchors["head_top"] = proj((float(fig.head[0]), fig.top_y, float(fig.head[2]) - 0.01 * u))
    top_y = fig.hat_top_y if fig.hat_top_y is not None else fig.top_y
    anchors["top"] = proj((float(fig.head[0]), top_y, float(fig.head[2])))
    if sitting:
        anchors["seat"] = proj((0.0, fig.seat_y, -0.05 * u))
    return img, anchors


def paint_character(out_dir: Path, look: CharacterLook) -> dict:
    """Writes the cut-out views of one character into out_dir.

    Eight RGBA PNGs (512x1024, transparent background): standing ``front``, ``three_quarter``,
    ``side``, ``back`` and sitting ``sit_front`` ... ``sit_back``.  Side and three-quarter views
    face screen-left (mirror them for the other side).  Every view is drawn at the same scale,
    ``px_per_m`` (500 output pixels per metre), with the ground at row 1008.  Sitting figures sit
    on an invisible knee-high seat; their feet rest on the ground row and the box is centred.

    Returns ``{"height_m", "px_per_m", "views": {name: anchors}}`` where each view's anchors are
    output-pixel coordinates of what is drawn: ``feet`` (ground contact), ``eyes`` (midpoint
    between the eyes; where it would be for the back view), ``mouth`` (None for the back view) and
    ``mouth_width``, ``head_top`` (top of the head/hair, under any hat), plus ``top`` (topmost
    point, hat included) and, sitting, ``seat`` (where the seat touches the body).  The anchors are
    computed from the same geometry that is rasterised, so renderers can place mouths and frame
    eyes without guessing.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(("sit_" if sitting else "") + view, sitting, yaw)
            for sitting in (False, True) for view, yaw in _VIEWS]

    def work(job: tuple[str, bool, float]) -> tuple[str, dict]:
        name, sitting, yaw = job
        img, anchors = _render_view(look, sitting, yaw)
        file = f"{name}.png"
        img.save(out_dir / file, format="PNG")
        return name, {"file": file, "size": list(img.size), **anchors}

    # Views are independent and numpy releases the GIL, so a couple of threads help; the
    # output does not depend on scheduling.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        views = dict(pool.map(work, jobs))
    return {"height_m": look.height_m, "px_per_m": _PPM, "views": views}


# --------------------------------------------------------------------------------------------
# Sets: a small 2-D painter (supersampled shape coverage, float RGB, depth in millimetres)
# --------------------------------------------------------------------------------------------

Shape = tuple  # ("poly", pts) | ("ellipse", (x0, y0, x1, y1)) | ("line", pts, width)


class _Canvas:
    """Float RGB plate plus a depth map; shapes are rasterised supersampled for soft edges."""

    def __init__(self, w: int, h: int, ss: int = 3) -> None:
        self.w, self.h, self.ss = w, h, ss
        self.rgb = np.zeros((h, w, 3), np.float32)
        self.depth = np.full((h, w), 65535.0, np.float32)

    def coverage(self, shapes: list[Shape]) -> tuple[np.ndarray, int, int] | None:
        xs: list[float] = []
        ys: list[float] = []
        for sh in shapes:
            pad = sh[2] / 2 + 1 if sh[0] == "line" else 1
            pts = [(sh[1][0], sh[1][1]), (sh[1][2], sh[1][3])] if sh[0] == "ellipse" else sh[1]
            xs += [p[0] - pad for p in pts] + [p[0] + pad for p in pts]
            ys += [p[1] - pad for p in pts] + [p[1] + pad for p in pts]
        x0 = max(0, math.floor(min(xs)))
        y0 = max(0, math.floor(min(ys)))
        x1 = min(self.w, math.ceil(max(xs)) + 1)
        y1 = min(self.h, math.ceil(max(ys)) + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        ss = self.ss
        img = Image.new("L", ((x1 - x0) * ss, (y1 - y0) * ss), 0)
        draw = ImageDraw.Draw(img)
        for sh in shapes:
            fill = 0 if len(sh) > 3 and sh[3] == "cut" else 255
            if sh[0] == "poly":
                draw.polygon([((x - x0) * ss, (y - y0) * ss) for x, y in sh[1]], fill=fill)
            elif sh[0] == "ellipse":
                a, b, c, d = sh[1]
                draw.ellipse(((a - x0) * ss, (b - y0) * ss, (c - x0) * ss, (d - y0) * ss),
                             fill=fill)
            else:
                pts = [((x - x0) * ss, (y - y0) * ss) for x, y in sh[1]]
                draw.line(pts, fill=fill, width=max(1, round(sh[2] * ss)), joint="curve")
        cov = np.asarray(img.reduce(ss), np.float32) / 255.0
        return cov, x0, y0

    def grid(self, x0: int, y0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        return (np.arange(x0, x0 + w, dtype=np.float32)[None, :] + 0.5,
                np.arange(y0, y0 + h, dtype=np.float32)[:, None] + 0.5)

    def fill(self, shapes: list[Shape], color, depth=None, alpha: float = 1.0):
        """Composite ``color`` (RGB 0..1, an array, or f(xx, yy) -> array) through the shapes."""
        res = self.coverage(shapes)
        if res is None:
            return None
        cov, x0, y0 = res
        h, w = cov.shape
        if callable(color):
            xx, yy = self.grid(x0, y0, h, w)
            color = color(xx, yy)
        color = np.asarray(color, np.float32)
        a = (cov * alpha)[..., None]
        reg = self.rgb[y0:y0 + h, x0:x0 + w]
        reg *= 1.0 - a
        reg += a * color
        if depth is not None:
            dreg = self.depth[y0:y0 + h, x0:x0 + w]
            if callable(depth):
                xx, yy = self.grid(x0, y0, h, w)
                depth = depth(xx, yy)
            np.copyto(dreg, np.broadcast_to(np.asarray(depth, np.float32), dreg.shape),
                      where=cov >= 0.5)
        return cov, x0, y0

    def fill_many(self, polys: list[tuple[list, float]], color) -> None:
        """One flat colour through many polygons, each with its own depth (metres)."""
        if not polys:
            return
        res = self.fill([("poly", p) for p, _ in polys], color)
        if res is None:
            return
        cov, x0, y0 = res
        hh, ww = cov.shape
        dimg = Image.new("F", (ww, hh), 0.0)
        draw = ImageDraw.Draw(dimg)
        for p, d in polys:
            draw.polygon([(x - x0, y - y0) for x, y in p], fill=float(d * 1000.0))
        dep = np.asarray(dimg, np.float32)
        np.copyto(self.depth[y0:y0 + hh, x0:x0 + ww], dep, where=(cov >= 0.5) & (dep > 0))

    def glow(self, cx: float, cy: float, radius: float, color, strength: float,
             squash: float = 1.0, rows: tuple[int, int] | None = None) -> None:
        """Additive soft light: strength / (1 + (r / radius)^2)^1.5 around (cx, cy)."""
        r0, r1 = rows if rows else (0, self.h)
        reach = radius * (8.0 if radius < 20 else 5.0)
        c0 = max(0, int(cx - reach))
        c1 = min(self.w, int(cx + reach))
        r0 = max(r0, int(cy - reach * squash))
        r1 = min(r1, int(cy + reach * squash))
        if c1 <= c0 or r1 <= r0:
            return
        xx, yy = self.grid(c0, r0, r1 - r0, c1 - c0)
        rr = ((xx - cx) ** 2 + ((yy - cy) / squash) ** 2) / (radius * radius)
        g = strength / (1.0 + rr) ** 1.5
        self.rgb[r0:r1, c0:c1] += g[..., None] * np.asarray(color, np.float32)


def _pine(cx: float, base: float, hgt: float, wid: float, rng: np.random.Generator,
          tiers: int | None = None) -> list[tuple[float, float]]:
    """Silhouette polygon of a stylised pine: drooping tiers of branches and a short trunk."""
    n = int(tiers or rng.integers(6, 10))
    trunk = hgt * 0.07
    top = base - hgt
    crown = hgt - trunk
    right: list[tuple[float, float]] = []
    left: list[tuple[float, float]] = []
    for i in range(n):
        t = (i + 1) / n
        y_tip = top + crown * t
        y_in = y_tip - crown / n * 0.5
        for side, pts in ((1.0, right), (-1.0, left)):
            w = wid / 2 * (0.12 + 0.88 * t ** 0.9) * rng.uniform(0.82, 1.1)
            pts.append((cx + side * w * 0.42, y_in))
            pts.append((cx + side * w, y_tip + crown / n * 0.12))
    tw = max(1.0, wid * 0.06)
    poly = [(cx + rng.uniform(-0.5, 0.5), top), *right]
    poly += [(cx + tw, base - trunk * 0.2), (cx + tw, base), (cx - tw, base),
             (cx - tw, base - trunk * 0.2)]
    poly += left[::-1]
    return poly


def _blob(cx: float, cy: float, rx: float, ry: float, rng: np.random.Generator, n: int = 18,
          wobble: float = 0.12, flat_bottom: bool = False) -> list[tuple[float, float]]:
    """A rounded, slightly irregular closed shape (stones, bushes, clouds)."""
    pts = []
    phase = rng.uniform(0, 6.3)
    for i in range(n):
        a = 2 * math.pi * i / n
        r = 1.0 + wobble * math.sin(3 * a + phase) + wobble * 0.5 * rng.uniform(-1, 1)
        y = cy + ry * r * math.sin(a)
        if flat_bottom:
            y = min(y, cy + ry * 0.55)
        pts.append((cx + rx * r * math.cos(a), y))
    return pts


_NOISE_TABLE = np.random.default_rng(1234).random((256, 256)).astype(np.float32)


def _wnoise(x: np.ndarray, z: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1] over world (or any 2-D) coordinates (fixed lattice table)."""
    gx = np.asarray(x, np.float32) / np.float32(scale) + np.float32(seed * 37.17)
    gz = np.asarray(z, np.float32) / np.float32(scale) + np.float32(seed * 11.83)
    fi = np.floor(gx)
    fj = np.floor(gz)
    fx = gx - fi
    fz = gz - fj
    i = fi.astype(np.int32) & 255
    j = fj.astype(np.int32) & 255
    i1 = (i + 1) & 255
    j1 = (j + 1) & 255
    ux = fx * fx * (3 - 2 * fx)
    uz = fz * fz * (3 - 2 * fz)
    t = _NOISE_TABLE
    a, b, c, d = t[i, j], t[i1, j], t[i, j1], t[i1, j1]
    return (a + (b - a) * ux) * (1 - uz) + (c + (d - c) * ux) * uz


def _fbm(x: np.ndarray, z: np.ndarray, scale: float, seed: int, octaves: int = 3) -> np.ndarray:
    total = np.zeros(np.broadcast(x, z).shape, np.float32)
    amp, norm = 1.0, 0.0
    for k in range(octaves):
        total += amp * _wnoise(x, z, scale / (2**k), seed + 17 * k)
        norm += amp
        amp *= 0.5
    return total / norm


def _lerp_stops(t: np.ndarray, stops: list[tuple[float, tuple[float, float, float]]]) -> np.ndarray:
    """Piecewise-linear colour ramp: stops of (position, RGB 0..255)."""
    pos = np.array([p for p, _ in stops], np.float32)
    cols = np.array([c for _, c in stops], np.float32) / 255.0
    return np.stack([np.interp(t, pos, cols[:, k]) for k in range(3)], -1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Set 1: night forest clearing with a campfire (150 degree cylindrical panorama)
# --------------------------------------------------------------------------------------------

_CF_SIZE = (3840, 1080)
_CF_HFOV = 150.0
_CF_HORIZON = 540
_CF_CAM_H = 1.2
_CF_FIRE = (0.0, 4.0)  # world x, z (metres) of the fire's centre
_CF_LOG = {"x0": -3.3, "x1": -0.5, "z": 2.5, "r": 0.3}  # fallen log: x span, axis distance, radius
_CF_SEAT_LOG = {"x0": -1.5, "x1": 1.3, "z": 6.4, "r": 0.295}  # the seat log behind the fire
_FIRE_RGB = np.array([1.0, 0.56, 0.24], np.float32)
_MOON_AMBIENT = np.array([0.30, 0.37, 0.60], np.float32)


def _cf_light(x: np.ndarray, y: np.ndarray | float, z: np.ndarray) -> np.ndarray:
    """Fire irradiance (scalar per point) at world points, falling off with distance."""
    fx, fz = _CF_FIRE
    r2 = (x - fx) ** 2 + (z - fz) ** 2 + (np.asarray(y) - 0.35) ** 2
    return 2.4 / (1.0 + r2 / 0.8)


def paint_campfire_set(out_dir: Path) -> dict:
    """Night forest clearing with a campfire; writes plate.png, depth.png, fg_log.png into out_dir.

    A 3840x1080 cylindrical panorama covering 150 degrees (centre column = heading 0, columns
    linear in heading), camera 1.2 m above the ground looking level, horizon on row 540.  The
    fire burns 4 m ahead; a big fallen log lies 2.5 m ahead, left of centre, so characters can sit
    behind it.  depth.png holds the horizontal distance from the camera in millimetres (sky 65535);
    floor rows satisfy ``depth = camera_height * f / (row + 0.5 - horizon)`` with
    ``f = width / radians(hfov)`` pixels per radian.  fg_log.png is the log's coverage mask.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    w, h = _CF_SIZE
    hz = _CF_HORIZON
    ch = _CF_CAM_H
    f = w / math.radians(_CF_HFOV)
    cv = _Canvas(w, h, ss=3)
    rng = np.random.default_rng(7001)

    def proj(x: float, y: float, z: float) -> tuple[float, float]:
        return w / 2 + f * math.atan2(x, z), hz + f * (ch - y) / math.hypot(x, z)

    def col_at(theta_deg: float) -> float:
        return w / 2 + f * math.radians(theta_deg)

    # ---- sky --------------------------------------------------------------------------
    rows = np.arange(h, dtype=np.float32) + 0.5
    sky = _lerp_stops(rows, [(0, (5, 8, 26)), (200, (11, 20, 52)), (420, (26, 44, 88)),
                             (hz, (50, 74, 116)), (h, (50, 74, 116))])
    cv.rgb[:] = sky[:, None, :]
    moon_theta = -27.0
    moon_x, moon_y = col_at(moon_theta), 150.0
    cv.glow(moon_x, moon_y, 120, (0.35, 0.45, 0.75), 0.22)
    # milky way: a faint, noisy diagonal band
    yy, xx = np.mgrid[0:hz:4, 0:w:4].astype(np.float32)
    band = np.exp(-(((yy - (60 + (xx - 700) * 0.16)) / 120.0) ** 2))
    mw = band * (_fbm(xx, yy, 160.0, 5) - 0.35).clip(0, 1) * 0.16
    mw = cv2.resize(mw, (w, hz), interpolation=cv2.INTER_LINEAR)
    cv.rgb[:hz] += mw[..., None] * np.array([0.55, 0.6, 0.85], np.float32)
    # stars
    n_st = 1900
    sx = rng.uniform(0, w, n_st)
    sy = (hz - 20) * rng.random(n_st) ** 1.5
    sb = rng.random(n_st) ** 4
    star = np.zeros((hz, w), np.float32)
    np.add.at(star, (sy.astype(int), sx.astype(int)), 0.35 + 1.6 * sb)
    star = cv2.GaussianBlur(star, (0, 0), 0.7) * 3.0
    fade = np.clip((hz - 40 - rows[:hz]) / 200.0, 0, 1)[:, None]
    cv.rgb[:hz] += (np.clip(star, 0, 1.4) * fade)[..., None] * np.array([0.95, 0.95, 1.0])
    for i in np.nonzero(sb > 0.7)[0]:
        cv.glow(float(sx[i]), float(sy[i]), 1.2, (0.8, 0.85, 1.0), 0.5 * float(sb[i]))
        cv.glow(float(sx[i]), float(sy[i]), 0.7, (0.7, 0.8, 1.0), 0.25, squash=6.0)
    # moon with soft maria
    cv.glow(moon_x, moon_y, 40, (0.5, 0.6, 0.9), 0.3)
    cv.fill([("ellipse", (moon_x - 38, moon_y - 38, moon_x + 38, moon_y + 38))],
            _col((246, 240, 214)))
    for dx, dy, r in ((-12, -8, 11), (10, 6, 8), (-4, 14, 6), (14, -14, 5)):
        cv.fill([("ellipse", (moon_x + dx - r, moon_y + dy - r, moon_x + dx + r,
                              moon_y + dy + r))], _col((214, 208, 186)), alpha=0.7)
    # a few moonlit cloud streaks
    for cx, cy, length in ((moon_x + 150, moon_y + 70, 520), (col_at(20), 120, 700),
                           (col_at(55), 230, 460), (col_at(-62), 300, 380)):
        blobs = []
        for k in range(7):
            bx = cx - length / 2 + length * k / 6 + rng.uniform(-30, 30)
            by = cy + rng.uniform(-8, 8)
            blobs.append(("poly", _blob(bx, by, length * 0.13, 16 + rng.uniform(0, 10), rng)))
        near = math.exp(-abs(cx - moon_x) / 900.0)
        cv.fill([(s[0], [(x, y - 4) for x, y in s[1]]) for s in blobs],
                _col((60, 76, 120)) * (0.8 + 0.6 * near), alpha=0.55)
        cv.fill(blobs, _col((22, 32, 62)), alpha=0.72)

    # ---- ground (floor of the clearing) -------------------------------------------------
    # shading is computed at half resolution (it is smooth) and upsampled; depth is exact
    g_rows = hz + (np.arange((h - hz) // 2, dtype=np.float32)[:, None] + 0.5) * 2
    g_cols = (np.arange(w // 2, dtype=np.float32)[None, :] + 0.5) * 2
    th = (g_cols - w / 2) / f
    dist = ch * f / np.maximum(g_rows - hz, 0.05)
    dist = np.broadcast_to(dist, (len(g_rows), w // 2))
    gx = dist * np.sin(th)
    gz = dist * np.cos(th)
    fx, fz = _CF_FIRE
    rf = np.hypot(gx - fx, gz - fz)
    n1 = _fbm(gx, gz, 2.5, 11)
    n2 = _fbm(gx, gz, 0.6, 12, 2)
    grass = _lerp_stops(n1, [(0.0, (40, 58, 40)), (0.5, (52, 72, 46)), (1.0, (70, 84, 52))])
    dirt = _lerp_stops(n2, [(0.0, (92, 70, 50)), (1.0, (122, 94, 66))])
    # worn earth around the fire and a trail leading off to the right
    worn = _smoothstep(2.9, 2.1, rf + (n1 - 0.5) * 1.2)
    tx0, tz0, tx1, tz1 = fx + 0.8, fz + 0.6, 14.0, 13.0
    vx, vz = tx1 - tx0, tz1 - tz0
    tt = np.clip(((gx - tx0) * vx + (gz - tz0) * vz) / (vx * vx + vz * vz), 0, 1)
    dtrail = np.hypot(gx - (tx0 + tt * vx), gz - (tz0 + tt * vz))
    trail = _smoothstep(0.55, 0.3, dtrail + (n2 - 0.5) * 0.35) * 0.85
    mix = np.maximum(worn, trail)[..., None]
    albedo = grass * (1 - mix) + dirt * mix
    irr = _cf_light(gx, 0.0, gz)
    lit = albedo * (_MOON_AMBIENT + _FIRE_RGB * irr[..., None])
    fog = (1.0 - np.exp(-dist / 55.0))[..., None]
    lit = lit * (1 - fog) + _col((34, 50, 84)) * fog
    lit = cv2.resize(lit.astype(np.float32), (w, h - hz), interpolation=cv2.INTER_LINEAR)
    cv.rgb[hz:] = lit
    row_d = ch * f / (np.arange(hz, h, dtype=np.float32) + 0.5 - hz)
    cv.depth[hz:] = np.minimum(row_d * 1000.0, 65000.0)[:, None]

    def ground_color(xx: np.ndarray, yy: np.ndarray, dark: float = 0.62) -> np.ndarray:
        r = np.clip(yy.astype(int) - hz, 0, h - hz - 1)
        c = np.clip(xx.astype(int), 0, w - 1)
        return lit[r, c] * dark

    # ---- distant hills and tree lines ---------------------------------------------------
    ridge = []
    for i in range(0, w + 41, 40):
        y = hz - 34 - 26 * math.sin(i / 410.0 + 1.0) - 14 * math.sin(i / 130.0)
        ridge.append((float(i), y))
    ridge += [(w + 40.0, hz + 30.0), (-40.0, hz + 30.0)]
    cv.fill([("poly", ridge)], _col((24, 36, 68)), depth=65000.0)
    layers = [
        # (count, dist range, height range, theta range, colour)
        (150, (95.0, 150.0), (11.0, 20.0), (-78.0, 78.0), (15, 24, 48)),
        (44, (48.0, 75.0), (13.0, 22.0), (-78.0, 78.0), (9, 15, 32)),
    ]
    for count, (d0, d1), (h0, h1), (t0, t1), colr in layers:
        thetas = np.sort(rng.uniform(t0, t1, count))
        trees = []
        for t in thetas:
            d = float(rng.uniform(d0, d1))
            if d0 < 80 and abs(t) < 24 and rng.random() < 0.75:
                continue  # keep the middle open so the sky reads above the fire
            if d0 < 80 and abs(t - moon_theta) < 9:
                continue  # and the moon clear
            trees.append((d, float(t), float(rng.uniform(h0, h1))))
        polys = []
        for d, t, hm in sorted(trees, reverse=True):
            base = hz + f * ch / d
            hp = f * hm / d
            polys.append((_pine(col_at(t), base, hp, hp * rng.uniform(0.36, 0.46), rng), d))
        cv.fill_many(polys, _col(colr))
    # near pines at the edges, warm-rimmed on the side that faces the fire
    for t, d, hm in ((-71.0, 13.0, 19.0), (-60.0, 17.0, 21.0), (-49.0, 24.0, 17.0),
                     (49.0, 22.0, 18.0), (60.5, 15.5, 20.0), (72.0, 12.0, 22.0)):
        base = hz + f * ch / d
        hp = f * hm / d
        cx = col_at(t)
        poly = _pine(cx, base, hp, hp * 0.42, rng, tiers=11)
        sgn = -1.0 if t > 0 else 1.0
        half = hp * 0.21

        def near_col(xx: np.ndarray, yy: np.ndarray, cx=cx, sgn=sgn, half=half,
                     base=base, hp=hp) -> np.ndarray:
            side = np.clip((xx - cx) * sgn / half, 0, 1) ** 2
            low = np.clip((yy - (base - hp * 0.6)) / (hp * 0.6), 0, 1)
            tint = (side * (0.3 + 0.7 * low))[..., None]
            return _col((12, 18, 32)) + tint * _col((70, 34, 14))

        cv.fill([("poly", poly)], near_col, depth=d * 1000.0)

    # ---- props on the clearing ----------------------------------------------------------
    # grass tufts, darker than the ground they grow from; far ones before the props
    far_tufts: list[Shape] = []
    near_tufts: list[Shape] = []
    for _ in range(1100):
        d = float(3.0 + 45.0 * rng.random() ** 2.2)
        t = math.radians(rng.uniform(-76, 76))
        x, z = d * math.sin(t), d * math.cos(t)
        if math.hypot(x - fx, z - fz) < 2.3:
            continue
        cx, cy = proj(x, 0.0, z)
        size = f * rng.uniform(0.12, 0.26) / d
        for k in range(5):
            lean = (k - 2) * 0.35 + rng.uniform(-0.2, 0.2)
            bw = size * 0.12
            tip = (cx + lean * size * 0.6, cy - size * (0.7 + 0.3 * rng.random()))
            blade = ("poly", [(cx + (k - 2) * bw - bw, cy), tip, (cx + (k - 2) * bw + bw, cy)])
            (near_tufts if d < 6.0 else far_tufts).append(blade)
    cv.fill(far_tufts, ground_color)
    _cf_props(cv, proj, rng, f)
    cv.fill(near_tufts, ground_color)

    # ---- the fire -----------------------------------------------------------------------
    fire_px = _cf_fire(cv, proj, rng)

    # ---- warm glow in the air (before the foreground log, which is back-lit) -------------
    cv.glow(fire_px[0], fire_px[1] + 10, 90, (1.0, 0.55, 0.2), 0.5)
    cv.glow(fire_px[0], fire_px[1] + 40, 420, (1.0, 0.42, 0.14), 0.16, squash=0.6)
    for _ in range(22):
        t = math.radians(rng.uniform(-60, 60))
        d = rng.uniform(25, 60)
        ffx, ffy = proj(d * math.sin(t), rng.uniform(0.5, 2.5), d * math.cos(t))
        cv.glow(ffx, ffy, 1.6, (0.8, 1.0, 0.45), 0.8)

    # ---- foreground log ------------------------------------------------------------------
    log_cov = _cf_log(cv, f)

    # gentle vignette keeps the eye on the fire
    vy = (np.arange(h, dtype=np.float32)[:, None] - h * 0.55) / h
    vx = (np.arange(w, dtype=np.float32)[None, :] - w / 2) / w
    vig = 1.0 - 0.35 * np.clip(vx * vx * 2.2 + vy * vy * 1.2, 0, 1)
    cv.rgb *= vig[..., None]

    _save_rgb(np.clip(cv.rgb, 0, 1), out_dir / "plate.png")
    _save_depth(cv.depth, out_dir / "depth.png")
    _save_mask(log_cov, out_dir / "fg_log.png")
    _save_mask(_cf_fire_mask(np.clip(cv.rgb, 0, 1), fire_px, f), out_dir / "fire.png")
    return {
        "kind": "wide",
        "width": w,
        "height": h,
        "hfov_deg": _CF_HFOV,
        "horizon_row": hz,
        "camera_height_m": ch,
        "files": {"plate": "plate.png", "depth": "depth.png", "masks": {"log": "fg_log.png"},
                  "living": {"fire": "fire.png"}},
        "mask_depth_m": {"log": _CF_LOG["z"]},
        "living_preset": {"fire": "fire"},
        "seats": [{"name": "log", "position": [round((_CF_SEAT_LOG["x0"] + _CF_SEAT_LOG["x1"])
                                                     / 2, 2), _CF_SEAT_LOG["z"]],
                   "height_m": 2 * _CF_SEAT_LOG["r"],
                   "extent": [round(_CF_SEAT_LOG["x1"] - _CF_SEAT_LOG["x0"], 2),
                              2 * _CF_SEAT_LOG["r"]], "places": 3}],
        "props": [{"name": "fire", "position": [_CF_FIRE[0], _CF_FIRE[1]], "height_m": 0.45}],
        "light": {
            "key_azimuth_deg": round(math.degrees(math.atan2(_CF_FIRE[0], _CF_FIRE[1])), 2),
            "key_elevation_deg": 8.0,
            "key_color": [255, 146, 64],
            "ambient_color": [46, 58, 100],
            "rim_color": [120, 150, 220],
            "flicker": 0.35,
            "source_px": [round(fire_px[0], 1), round(fire_px[1], 1)],
            "source_m": [_CF_FIRE[0], 0.45, _CF_FIRE[1]],
        },
    }


def _cf_props(cv: _Canvas, proj, rng: np.random.Generator, f: float) -> None:
    """Tent, lantern, stump with an axe, a seat log behind the fire and scattered rocks."""
    w = cv.w

    def dist_depth(xx: np.ndarray, d_perp: float) -> np.ndarray:
        th = (xx - w / 2) / f
        return d_perp * 1000.0 / np.maximum(np.cos(th), 0.2)

    # rocks, far to near
    rocks = []
    for _ in range(18):
        t = math.radians(rng.uniform(-70, 70))
        d = float(rng.uniform(5.5, 22.0))
        x, z = d * math.sin(t), d * math.cos(t)
        if math.hypot(x - _CF_FIRE[0], z - _CF_FIRE[1]) < 2.2 or (-7 < x < -4 and 5 < z < 9):
            continue
        rocks.append((d, x, z))
    for d, x, z in sorted(rocks, reverse=True):
        cx, cy = proj(x, 0.0, z)
        s = f / d
        rx, ry = s * rng.uniform(0.18, 0.4), s * rng.uniform(0.1, 0.2)
        irr = float(_cf_light(np.float32(x), 0.2, np.float32(z)))
        base = _col((92, 96, 110)) * (_MOON_AMBIENT + _FIRE_RGB * irr * 0.8)
        shape = _blob(cx, cy - ry * 0.45, rx, ry, rng, flat_bottom=True)
        cv.fill([("poly", shape)], base * 0.75, depth=d * 1000.0)
        top = _blob(cx - rx * 0.1, cy - ry * 0.75, rx * 0.7, ry * 0.45, rng)
        cv.fill([("poly", top)], base * 1.1, alpha=0.8)

    # tent (A-frame, door facing the fire) with a lantern glowing inside
    x0, x1, zf, zb, top = -6.5, -4.7, 6.4, 8.4, 1.35
    xm = (x0 + x1) / 2
    pa, pb, pp = proj(x0, 0, zf), proj(x1, 0, zf), proj(xm, top, zf)
    pb2, pp2 = proj(x1, 0, zb), proj(xm, top, zb)
    pa2 = proj(x0, 0, zb)
    dt = math.hypot(xm, (zf + zb) / 2)
    cv.fill([("poly", [pa2, pp2, pp, pa])], _col((60, 44, 40)), depth=dt * 1000.0)
    cv.fill([("poly", [pb, pp, pp2, pb2])], _col((170, 108, 60)), depth=dt * 1000.0)
    cv.fill([("line", [pp, pp2], 3.0)], _col((90, 56, 34)))
    cv.fill([("poly", [pa, pp, pb])], _col((128, 84, 52)), depth=math.hypot(xm, zf) * 1000.0)
    door_l, door_r = proj(xm - 0.42, 0, zf), proj(xm + 0.42, 0, zf)
    door_t = proj(xm, top * 0.86, zf)
    cv.fill([("poly", [door_l, door_t, door_r])], _col((255, 196, 110)))
    cv.glow(door_t[0], (door_t[1] + door_l[1]) / 2 + 20, 18, (1.0, 0.7, 0.35), 0.35)
    flap = [door_t, (door_r[0] + 10, door_r[1] - 4), (door_r[0] - 18, door_r[1] - 2),
            ((door_t[0] + door_r[0]) / 2 + 4, (door_t[1] + door_r[1]) / 2 + 10)]
    cv.fill([("poly", flap)], _col((150, 98, 60)))
    cv.fill([("line", [pa, pp, pb], 2.5)], _col((70, 44, 30)))
    for px, py in ((pp[0] - 60, pa[1] + 6), (pp[0] + 70, pb[1] + 8)):
        cv.fill([("line", [pp, (px, py)], 1.2)], _col((140, 120, 100)), alpha=0.7)
    # lantern on the ground by the tent
    lx, ly = proj(-4.2, 0.0, 6.0)
    s = f / math.hypot(-4.2, 6.0)
    cv.fill([("poly", [(lx - 0.06 * s, ly), (lx + 0.06 * s, ly), (lx + 0.05 * s, ly - 0.2 * s),
                       (lx - 0.05 * s, ly - 0.2 * s)])], _col((255, 214, 140)))
    cv.fill([("line", [(lx - 0.07 * s, ly - 0.21 * s), (lx + 0.07 * s, ly - 0.21 * s)],
              0.03 * s)], _col((40, 32, 28)))
    cv.glow(lx, ly - 0.1 * s, 10, (1.0, 0.75, 0.35), 0.6)
    cv.glow(lx, ly - 0.05 * s, 60, (1.0, 0.6, 0.25), 0.12, squash=0.5)

    # tree stump with an axe, off to the right
    sx_, sz_ = 3.6, 7.6
    d = math.hypot(sx_, sz_)
    s = f / d
    cx, cy = proj(sx_, 0.0, sz_)
    rx, hgt = 0.3 * s, 0.5 * s
    ry = rx * 0.25
    irr = float(_cf_light(np.float32(sx_), 0.3, np.float32(sz_)))
    bark = _col((110, 74, 50)) * (_MOON_AMBIENT + _FIRE_RGB * irr * 2.5)
    body = [("poly", [(cx - rx, cy - hgt), (cx + rx, cy - hgt), (cx + rx * 1.08, cy),
                      (cx - rx * 1.08, cy)]),
            ("ellipse", (cx - rx * 1.08, cy - ry, cx + rx * 1.08, cy + ry))]
    cv.fill(body, bark * 0.8, depth=d * 1000.0)
    for k in range(5):
        bx = cx - rx * 0.8 + k * rx * 0.4
        cv.fill([("line", [(bx, cy - hgt + 3), (bx + 2, cy + ry * 0.6)], 1.6)], bark * 0.55)
    cv.fill([("ellipse", (cx - rx, cy - hgt - ry, cx + rx, cy - hgt + ry))],
            _col((196, 150, 100)) * (_MOON_AMBIENT + _FIRE_RGB * irr * 2.5) * 1.2)
    cv.fill([("ellipse", (cx - rx * 0.5, cy - hgt - ry * 0.5, cx + rx * 0.5,
                          cy - hgt + ry * 0.5))], bark * 0.9, alpha=0.5)
    handle = [(cx + rx * 0.1, cy - hgt), (cx - rx * 0.9, cy - hgt - 0.55 * s)]
    cv.fill([("line", handle, 0.05 * s)], _col((150, 104, 64)) * 1.1, depth=d * 1000.0)
    blade = [(cx - rx * 0.05, cy - hgt - 0.02 * s), (cx + rx * 0.55, cy - hgt - 0.12 * s),
             (cx + rx * 0.62, cy - hgt + 0.06 * s), (cx + rx * 0.2, cy - hgt + 0.03 * s)]
    cv.fill([("poly", blade)], _col((150, 156, 170)), depth=d * 1000.0)
    cv.fill([("line", [blade[1], blade[2]], 1.5)], _col((230, 230, 236)))

    # seat log behind the fire, facing it, warmly lit
    zl, rl = _CF_SEAT_LOG["z"], _CF_SEAT_LOG["r"]
    xs = np.linspace(_CF_SEAT_LOG["x0"], _CF_SEAT_LOG["x1"], 24)
    top_pts = [proj(float(x), 2 * rl, zl) for x in xs]
    bot_pts = [proj(float(x), 0.0, zl) for x in xs[::-1]]
    irr = float(_cf_light(np.float32(0.0), 0.2, np.float32(zl)))
    bark = _col((112, 76, 50)) * (_MOON_AMBIENT * 0.7 + _FIRE_RGB * irr * 1.15)
    y_top, y_bot = top_pts[len(xs) // 2][1], bot_pts[len(xs) // 2][1]

    def seat_col(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        v = np.clip((yy - y_top) / max(y_bot - y_top, 1.0), 0, 1)
        shade = 1.15 - 0.55 * v ** 1.5
        return bark * shade[..., None] + 0 * xx[..., None]

    cv.fill([("poly", top_pts + bot_pts)], seat_col,
            depth=lambda xx, yy: dist_depth(xx, zl) + 0 * yy)
    cv.fill([("line", top_pts, 2.0), ("line", bot_pts, 2.0)], bark * 0.4)
    mid = [proj(float(x), rl * 1.35, zl) for x in xs]
    cv.fill([("line", mid, 2.5)], bark * 1.25, alpha=0.7)
    for k in range(9):
        x = -1.4 + k * 0.32 + rng.uniform(-0.05, 0.05)
        a, b = proj(x, rl * 1.8, zl), proj(x + 0.22, rl * 1.6, zl)
        cv.fill([("line", [a, b], 1.5)], bark * 0.6)
    end = proj(-1.5, rl, zl)
    er = f / zl * rl
    cv.fill([("ellipse", (end[0] - er * 0.45, end[1] - er, end[0] + er * 0.45, end[1] + er))],
            _col((170, 130, 90)) * (_MOON_AMBIENT + _FIRE_RGB * irr * 2.0))


def _flame(cx: float, by: float, hgt: float, wid: float, lean: float, phase: float
           ) -> list[tuple[float, float]]:
    """A flame tongue: a rounded bulb at the base tapering to a curling tip."""
    left, right = [], []
    n = 28
    for i in range(n + 1):
        t = i / n
        wp = wid * (1 - t) ** 1.25 * (0.62 + 0.38 * min(1.0, t * 3.5))
        xc = cx + lean * hgt * t * t + wid * 0.22 * math.sin(t * 6.0 + phase) * t
        y = by - hgt * t
        left.append((xc - wp, y))
        right.append((xc + wp, y))
    bottom = [(cx + wid * 0.62 * math.cos(a), by + wid * 0.3 * math.sin(a))
              for a in np.linspace(0.15, math.pi - 0.15, 8)]
    return left + right[::-1] + bottom


def _cf_fire(cv: _Canvas, proj, rng: np.random.Generator) -> tuple[float, float]:
    """Stone ring, ember bed, crossed logs, layered flames and sparks; returns the flame centre."""
    fx, fz = _CF_FIRE
    cx, _ = proj(fx, 0.0, fz)
    d0 = math.hypot(fx, fz)
    s = (proj(fx + 0.5, 0.0, fz)[0] - cx) / 0.5  # pixels per metre at the fire
    # stones, far side first
    stones = []
    for k in range(13):
        a = 2 * math.pi * k / 13 + 0.2
        stones.append((fz + 0.62 * math.sin(a), a))
    for z, a in sorted(stones, reverse=True):
        x = fx + 0.62 * math.cos(a)
        px, py = proj(x, 0.0, z)
        ss = s * d0 / math.hypot(x, z)
        rx, ry = ss * rng.uniform(0.13, 0.17), ss * rng.uniform(0.08, 0.11)
        far = math.sin(a) > 0
        base = _col((196, 116, 70)) if far else _col((58, 52, 58))
        shape = _blob(px, py - ry * 0.55, rx, ry, rng, wobble=0.08, flat_bottom=True)
        cv.fill([("poly", shape)], base, depth=math.hypot(x, z) * 1000.0)
        if not far:
            rim = _blob(px, py - ry * 1.05, rx * 0.8, ry * 0.35, rng, wobble=0.05)
            cv.fill([("poly", rim)], _col((230, 140, 70)), alpha=0.85)
        else:
            cv.fill([("poly", _blob(px + rx * 0.1, py - ry * 0.4, rx * 0.6, ry * 0.5, rng))],
                    _col((255, 170, 96)), alpha=0.6)
    # ember bed
    ex0, _ey0 = proj(fx - 0.48, 0.0, fz)
    _, ey1 = proj(fx, 0.0, fz - 0.45)
    _, ey2 = proj(fx, 0.0, fz + 0.45)
    cv.fill([("ellipse", (ex0, ey2, 2 * cx - ex0, ey1 - 6))], _col((110, 30, 14)))
    cv.fill([("ellipse", (cx - (cx - ex0) * 0.6, ey2 + 10, cx + (cx - ex0) * 0.6, ey1 - 20))],
            _col((190, 60, 16)), alpha=0.8)
    for _ in range(22):
        ax = cx + rng.uniform(-0.8, 0.8) * (cx - ex0)
        ay = rng.uniform(ey2 + 8, ey1 - 12)
        r = rng.uniform(2, 6)
        cv.fill([("ellipse", (ax - r, ay - r * 0.5, ax + r, ay + r * 0.5))],
                _col((255, 150, 40)), alpha=0.8)
    # crossed logs
    for a, ln in ((0.5, 0.55), (2.2, 0.6), (3.6, 0.5), (5.0, 0.55)):
        x_out, z_out = fx + ln * math.cos(a), fz + ln * 0.8 * math.sin(a)
        p0 = proj(x_out, 0.05, z_out)
        p1 = proj(fx + 0.05 * math.cos(a), 0.32, fz + 0.05 * math.sin(a))
        width = 0.085 * s
        cv.fill([("line", [p0, p1], width)], _col((52, 30, 20)), depth=d0 * 1000.0)
        mx, my = (p0[0] * 0.3 + p1[0] * 0.7), (p0[1] * 0.3 + p1[1] * 0.7)
        cv.fill([("line", [(mx, my), p1], width * 0.6)], _col((255, 110, 30)), alpha=0.9)
        cv.fill([("ellipse", (p0[0] - width * 0.4, p0[1] - width * 0.5, p0[0] + width * 0.4,
                              p0[1] + width * 0.5))], _col((120, 80, 50)))
    # flames: four nested colour layers per tongue
    base_y = proj(fx, 0.12, fz)[1]
    tongues = [(-0.10, 0.72, 0.15, 0.08, 0.4), (0.08, 0.60, 0.13, -0.12, 2.0),
               (0.0, 0.92, 0.17, 0.05, 4.1), (-0.2, 0.42, 0.10, -0.2, 1.1),
               (0.2, 0.48, 0.10, 0.18, 3.0)]
    layers = [((255, 74, 20), 1.0, 1.0, 0.92), ((255, 140, 30), 0.8, 0.72, 0.95),
              ((255, 212, 80), 0.58, 0.46, 0.95), ((255, 246, 200), 0.34, 0.26, 0.95)]
    for colr, hs, ws, alpha in layers:
        shapes = []
        for ox, hm, wm, lean, ph in tongues:
            shapes.append(("poly", _flame(cx + ox * s, base_y, hm * s * hs, wm * s * ws,
                                          lean, ph)))
        cv.fill(shapes, _col(colr), depth=d0 * 1000.0 if hs == 1.0 else None, alpha=alpha)
    # sparks drifting up
    for _ in range(46):
        t = rng.random()
        px = cx + rng.normal(0, 0.25) * s * (0.4 + t)
        py = base_y - (0.7 + 1.4 * t) * s
        r = rng.uniform(1.0, 2.6) * (1.2 - t * 0.6)
        cv.fill([("ellipse", (px - r, py - r, px + r, py + r))], _col((255, 196, 90)),
                alpha=0.9 - 0.5 * t)
        cv.glow(px, py, 2.5, (1.0, 0.6, 0.2), 0.25 * (1 - t))
    return cx, base_y - 0.3 * s


def _cf_fire_mask(rgb: np.ndarray, fire_px: tuple[float, float], f: float) -> np.ndarray:
    """The fire's emissive region (flames, embers, glowing stone rims) for the set's `living`
    mask: the bright, warm pixels inside an ellipse round the flames (the fire ring, not the
    glow the plate paints on the ground), feathered by their warmth."""
    h, w = rgb.shape[:2]
    s = f / math.hypot(*_CF_FIRE)  # pixels per metre at the fire (the plate's focal / range)
    x0, x1 = int(max(0, fire_px[0] - 0.8 * s)), int(min(w, fire_px[0] + 0.8 * s))
    y0, y1 = int(max(0, fire_px[1] - 0.8 * s)), int(min(h, fire_px[1] + 0.5 * s))
    box = rgb[y0:y1, x0:x1]
    dx = (np.arange(x0, x1, dtype=np.float32)[None, :] - fire_px[0]) / (0.7 * s)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - fire_px[1]
    dy = dy / np.where(dy < 0, 0.72 * s, 0.42 * s)  # up to the tallest flame's tip
    inside = 1.0 - _smoothstep(0.85, 1.0, np.sqrt(dx * dx + dy * dy))
    warm = _smoothstep(0.35, 0.5, box[..., 0] - box[..., 2]) * _smoothstep(0.7, 0.85,
                                                                           box[..., 0])
    mask = np.zeros((h, w), np.float32)
    mask[y0:y1, x0:x1] = warm * inside
    return mask


def _cf_log_trace(cols: np.ndarray, rows: np.ndarray, f: float, w: int) -> dict:
    """Ray/cylinder intersection for the foreground log at the given pixel sample positions."""
    hz, ch = _CF_HORIZON, _CF_CAM_H
    x0w, x1w, zc, rad = _CF_LOG["x0"], _CF_LOG["x1"], _CF_LOG["z"], _CF_LOG["r"]
    yc = rad
    th = ((cols - w / 2) / f)[None, :]
    te = ((hz - rows) / f)[:, None]
    sn, cs = np.sin(th), np.cos(th)
    qa = te * te + cs * cs
    qb = 2 * ((ch - yc) * te - zc * cs)
    qc = (ch - yc) ** 2 + zc * zc - rad * rad
    disc = qb * qb - 4 * qa * qc
    t_body = (-qb - np.sqrt(np.maximum(disc, 0))) / (2 * qa)
    xb = t_body * sn
    body = (disc > 0) & (xb >= x0w) & (xb <= x1w) & (t_body > 0)
    t_cap = x1w / np.where(np.abs(sn) > 1e-6, sn, -1e-6)
    yk = ch + t_cap * te
    zk = np.broadcast_to(t_cap * cs, body.shape)
    rk = np.hypot(yk - yc, zk - zc)
    cap = (rk <= rad) & (t_cap > 0) & (~body | (t_cap < t_body))
    return {"hit": body | cap, "cap": cap, "t_body": t_body, "t_cap": t_cap, "sn": sn,
            "cs": cs, "te": te, "yk": yk, "zk": zk, "rk": rk}


def _cf_log(cv: _Canvas, f: float) -> np.ndarray:
    """Ray-trace the fallen foreground log (a cylinder along x) into the plate; returns its mask.

    Coverage is sampled 3x3 per pixel for a clean antialiased mask; shading once per pixel.
    """
    w, h = cv.w, cv.h
    hz, ch = _CF_HORIZON, _CF_CAM_H
    x0w, x1w, zc, rad = _CF_LOG["x0"], _CF_LOG["x1"], _CF_LOG["z"], _CF_LOG["r"]
    yc = rad
    c0 = int(w / 2 + f * math.atan2(x0w, zc)) - 4
    c1 = int(w / 2 + f * math.atan2(x1w, zc + rad)) + 6
    r0 = int(hz + f * (ch - 2 * rad) / math.hypot(x0w, zc)) - 40
    r1 = h
    ss = 3
    fine = _cf_log_trace(c0 + (np.arange((c1 - c0) * ss, dtype=np.float32) + 0.5) / ss,
                         r0 + (np.arange((r1 - r0) * ss, dtype=np.float32) + 0.5) / ss, f, w)
    hh, ww = r1 - r0, c1 - c0
    cov = fine["hit"].reshape(hh, ss, ww, ss).mean(axis=(1, 3)).astype(np.float32)
    tr = _cf_log_trace(c0 + np.arange(ww, dtype=np.float32) + 0.5,
                       r0 + np.arange(hh, dtype=np.float32) + 0.5, f, w)
    hit, cap = tr["hit"], tr["cap"]
    ii, jj = np.nonzero(hit)
    capv = cap[ii, jj]
    snv, csv, tev = tr["sn"][0, jj], tr["cs"][0, jj], tr["te"][ii, 0]
    t = np.where(capv, tr["t_cap"][0, jj], tr["t_body"][ii, jj])
    px, py, pz = t * snv, ch + t * tev, t * csv
    ny = np.where(capv, 0.0, (py - yc) / rad)
    nz = np.where(capv, 0.0, (pz - zc) / rad)
    nx = np.where(capv, 1.0, 0.0)
    yk, zk, rk = tr["yk"][ii, jj], tr["zk"][ii, jj], tr["rk"][ii, jj]
    # bark: grooves running along the log, moss on top; rings on the sawn end
    ang = np.arctan2(ny, -nz)
    groove_n = _wnoise(px * 3.0, ang * 2.0, 1.0, 31)
    grooves = np.abs(np.sin(ang * 22.0 + groove_n * 6.0 + px * 0.8))
    bark = _lerp_stops(grooves, [(0.0, (30, 20, 14)), (0.22, (30, 20, 14)), (0.4, (92, 62, 42)),
                                 (1.0, (116, 82, 54))])
    cracks = np.abs(np.sin(px * 9.0 + _wnoise(px * 4, ang * 4, 1.0, 37) * 4.0)) > 0.985
    bark = np.where(cracks[:, None], bark * 0.45, bark)
    moss_n = _wnoise(px * 2.0, ang * 3.0, 1.0, 33)
    moss = _smoothstep(0.62, 0.8, ny + (moss_n - 0.5) * 1.2)[:, None]
    bark = bark * (1 - moss) + _lerp_stops(moss_n, [(0, (58, 88, 40)), (1, (90, 122, 52))]) * moss
    ring_r = rk / rad
    rings = 0.5 + 0.5 * np.cos(ring_r * 38.0 + _wnoise(yk * 9, zk * 9, 1.0, 35) * 2.0)
    wood = _lerp_stops(rings, [(0, (150, 108, 70)), (1, (196, 150, 100))])
    wood = np.where((ring_r > 0.9)[:, None], _col((60, 40, 28)), wood)
    crack = (np.abs(np.arctan2(yk - yc, zk - zc) - 0.7) < 0.03) & (ring_r < 0.85)
    wood = np.where(crack[:, None], wood * 0.55, wood)
    albedo = np.where(capv[:, None], wood, bark).astype(np.float32)
    # light: cool sky fill from above, warm fire from behind-right, rim where it grazes
    fx, fz = _CF_FIRE
    lx, ly, lz = fx - px, 0.5 - py, fz - pz
    ln = np.sqrt(lx * lx + ly * ly + lz * lz)
    ndl = np.maximum((nx * lx + ny * ly + nz * lz) / ln, 0.0)
    irr = 2.4 / (1.0 + ln * ln / 0.8)
    fill = _MOON_AMBIENT[None, :] * (0.3 + 0.7 * np.clip(ny * 0.6 + 0.45, 0, 1))[:, None]
    warm = _FIRE_RGB[None, :] * (irr * ndl)[:, None] * 1.6
    rim = _smoothstep(0.25, 0.75, ny - nz * 0.6)[:, None] * _col((255, 150, 80)) * 0.22
    outline = _col((14, 10, 8))
    avg = np.empty((hh, ww, 3), np.float32)
    avg[:] = outline
    avg[ii, jj] = albedo * (fill + warm) + rim
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    inner_m = cv2.erode(hit.astype(np.uint8), ring, borderType=cv2.BORDER_CONSTANT,
                        borderValue=0) > 0
    edge = hit & ~inner_m
    edge[-2:, :] = False
    avg[edge] = avg[edge] * 0.35
    dep = np.full((hh, ww), zc * 1000.0, np.float32)
    dep[ii, jj] = t * 1000.0
    # a broken branch stub and two little toadstools: part of the same foreground object
    shaper = _Canvas(ww, hh, ss=3)
    lay_rgb = np.zeros((hh, ww, 3), np.float32)
    lay_a = np.zeros((hh, ww), np.float32)
    dim = _MOON_AMBIENT * 0.95 + _FIRE_RGB * 0.12

    def put(shapes: list[Shape], colr: np.ndarray) -> None:
        res = shaper.coverage(shapes)
        if res is None:
            return
        cc, xa, ya = res
        sl = (slice(ya, ya + cc.shape[0]), slice(xa, xa + cc.shape[1]))
        lay_rgb[sl] = lay_rgb[sl] * (1 - cc[..., None]) + colr * cc[..., None]
        lay_a[sl] = lay_a[sl] + cc * (1 - lay_a[sl])

    def surf(xw: float) -> tuple[float, float]:
        return (w / 2 + f * math.atan2(xw, zc) - c0,
                hz + f * (ch - 2 * rad) / math.hypot(xw, zc) - r0)

    bx, by = surf(-2.35)
    put([("poly", [(bx - 24, by + 14), (bx + 18, by + 16), (bx + 50, by - 66),
                   (bx + 26, by - 76)])], _col((96, 66, 46)) * dim)
    put([("ellipse", (bx + 25, by - 82, bx + 53, by - 62))], _col((170, 128, 86)) * dim * 1.2)
    put([("line", [(bx - 10, by + 10), (bx + 30, by - 64)], 2.0)], _col((50, 34, 24)) * dim)
    mx0, my0 = surf(-1.25)
    for dx, sz in ((0.0, 22.0), (30.0, 15.0)):
        mx, my = mx0 + dx, my0 + 10
        put([("poly", [(mx - sz * 0.22, my), (mx + sz * 0.22, my), (mx + sz * 0.17, my - sz),
                       (mx - sz * 0.17, my - sz)])], _col((226, 214, 196)) * dim * 1.3)
        cap = [(mx - sz, my - sz * 0.85)] + [
            (mx + sz * math.cos(a), my - sz * 0.85 - sz * 0.75 * math.sin(a))
            for a in np.linspace(math.pi, 0, 16)]
        put([("poly", cap)], _col((214, 56, 44)) * (dim * 1.2 + _FIRE_RGB * 0.1))
        for ddx, ddy in ((-0.5, -1.1), (0.15, -1.4), (0.55, -1.05)):
            r = sz * 0.12
            put([("ellipse", (mx + ddx * sz - r, my + ddy * sz - r, mx + ddx * sz + r,
                              my + ddy * sz + r))], _col((250, 244, 230)) * dim * 1.4)
    alpha = lay_a + (1 - lay_a) * cov
    premult = lay_rgb + (1 - lay_a)[..., None] * avg * cov[..., None]
    reg = cv.rgb[r0:r1, c0:c1]
    reg *= 1 - alpha[..., None]
    reg += premult
    dep = np.where(lay_a >= 0.5, zc * 1000.0 - 100.0, dep)
    np.copyto(cv.depth[r0:r1, c0:c1], dep.astype(np.float32), where=alpha >= 0.5)
    mask = np.zeros((h, w), np.float32)
    mask[r0:r1, c0:c1] = alpha
    return mask


# --------------------------------------------------------------------------------------------
# Set 2: sunny morning patio (flat pinhole plate)
# --------------------------------------------------------------------------------------------

_PT_SIZE = (1920, 1080)
_PT_HFOV = 70.0
_PT_HORIZON = 540
_PT_CAM_H = 1.5
_PT_WALL_Z = 7.0
_PT_WALL_X0 = -1.2  # the house wall starts here (metres, camera-right is +x)
_PT_TABLE = {"x0": -0.95, "x1": 0.95, "z0": 2.8, "z1": 3.7, "top": 0.76}
_PT_BENCH = {"x0": -1.55, "x1": 1.55, "z0": 3.78, "z1": 4.12, "top": 0.58}
"""The bench behind the table (metres): seats three, shows past both ends of the table."""
_SUN = (np.array([-0.75, 0.55, -0.35]) / np.linalg.norm([-0.75, 0.55, -0.35])).astype(np.float32)
_SUN_RGB = np.array([1.0, 0.95, 0.84], np.float32)
_SKY_RGB = np.array([0.62, 0.72, 0.86], np.float32)


def _pt_shade(albedo, normal: tuple[float, float, float], k_sun: float = 1.0) -> np.ndarray:
    """Flat Lambert shading of an albedo for a world normal under the morning sun + sky fill."""
    ndl = max(0.0, float(np.dot(np.asarray(normal, np.float32), _SUN)))
    return np.asarray(albedo, np.float32) * (0.55 * _SKY_RGB + 0.75 * k_sun * ndl * _SUN_RGB)


def paint_patio_set(out_dir: Path) -> dict:
    """Sunny morning patio; writes plate.png, depth.png, fg_table.png into out_dir.

    A flat 1920x1080 pinhole plate, 70 degree horizontal field of view (focal length
    ``f = 960 / tan(35 deg)`` pixels), camera 1.5 m above the paving looking level, horizon on
    row 540.  Warm sun from the left; a house wall with a window 7 m away on the right, the garden
    and sky on the left, a wooden table whose front edge is 2.8 m away in the lower middle.
    depth.png is the z-depth in millimetres (sky 65535); floor rows satisfy
    ``depth = camera_height * f / (row + 0.5 - horizon)``.  fg_table.png masks the table and what
    stands on it.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    w, h = _PT_SIZE
    hz, ch = _PT_HORIZON, _PT_CAM_H
    f = (w / 2) / math.tan(math.radians(_PT_HFOV / 2))
    cv = _Canvas(w, h, ss=3)
    rng = np.random.default_rng(9001)

    def proj(x: float, y: float, z: float) -> tuple[float, float]:
        return w / 2 + f * x / z, hz + f * (ch - y) / z

    # ---- sky, clouds, far hills -----------------------------------------------------------
    rows = np.arange(h, dtype=np.float32) + 0.5
    sky = _lerp_stops(rows, [(0, (104, 168, 222)), (300, (150, 200, 236)), (hz, (222, 238, 240)),
                             (h, (222, 238, 240))])
    cv.rgb[:] = sky[:, None, :]
    for cx, cy, sc in ((180, 150, 1.0), (560, 90, 0.7), (860, 210, 0.55), (60, 330, 0.5)):
        puffs = []
        for k in range(6):
            px = cx + (k - 2.5) * 55 * sc + rng.uniform(-10, 10)
            py = cy - math.sin(k / 5 * math.pi) * 38 * sc + rng.uniform(-6, 6)
            r = (42 + 26 * math.sin(k / 5 * math.pi)) * sc
            puffs.append(("ellipse", (px - r, py - r, px + r, py + r)))
        base = [("poly", [(cx - 190 * sc, cy + 20 * sc), (cx + 190 * sc, cy + 20 * sc),
                          (cx + 150 * sc, cy - 10 * sc), (cx - 150 * sc, cy - 10 * sc)])]
        cv.fill(puffs + base, _col((214, 226, 240)))
        cv.fill([(p[0], (p[1][0] - 6 * sc, p[1][1] - 8 * sc, p[1][2] - 10 * sc,
                         p[1][3] - 14 * sc)) for p in puffs], _col((255, 255, 255)))
    hill = [(float(x), hz - 40 - 30 * math.sin(x / 260.0 + 0.6) - 12 * math.sin(x / 90.0))
            for x in range(0, 900, 20)]
    cv.fill([("poly", [*hill, (900.0, hz + 5.0), (0.0, hz + 5.0)])], _col((150, 182, 170)),
            depth=65000.0)
    hill2 = [(float(x), hz - 16 - 16 * math.sin(x / 150.0 + 2.0)) for x in range(0, 900, 20)]
    cv.fill([("poly", [*hill2, (900.0, hz + 5.0), (0.0, hz + 5.0)])], _col((124, 164, 132)),
            depth=65000.0)

    # ---- floor: paving in front of the house, striped lawn beyond ------------------------
    g_rows = np.arange(hz, h, dtype=np.float32)[:, None] + 0.5
    g_cols = np.arange(w, dtype=np.float32)[None, :] + 0.5
    gz = np.broadcast_to(ch * f / np.maximum(g_rows - hz, 0.05), (h - hz, w))
    gx = (g_cols - w / 2) * gz / f
    tile = 0.6
    ti, tj = np.floor(gx / tile), np.floor(gz / tile)
    fu, fv = gx / tile - ti, gz / tile - tj
    gw = 0.035 / tile
    grout = (np.minimum(fu, 1 - fu) < gw) | (np.minimum(fv, 1 - fv) < gw)
    tint = _hash2(ti.astype(np.int64), tj.astype(np.int64), 3)[..., None]
    pave = _col((246, 208, 158)) * (0.9 + 0.14 * tint)
    pave = np.where(grout[..., None], _col((196, 160, 120)), pave)
    stripe = (np.floor(gx / 1.4).astype(np.int64) % 2).astype(np.float32)[..., None]
    lawn_n = _wnoise(gx * 1.5, gz * 1.5, 1.0, 41)[..., None]
    lawn = _col((120, 176, 72)) * (0.92 + 0.1 * stripe + 0.1 * lawn_n)
    is_lawn = (gz > _PT_WALL_Z - 0.05)[..., None]
    alb = np.where(is_lawn, lawn, pave)
    floor = _pt_shade(alb, (0.0, 1.0, 0.0), 1.25)
    haze = np.clip((gz - 10.0) / 60.0, 0, 1)[..., None] * 0.5
    cv.rgb[hz:] = floor * (1 - haze) + _col((200, 224, 226)) * haze
    cv.depth[hz:] = np.minimum(gz * 1000.0, 65000.0)

    # ---- garden: trees, hedge, flower bed -----------------------------------------------
    for x, z, r, trunk in ((-13.0, 30.0, 3.6, 2.5), (-7.5, 26.0, 3.0, 2.2), (-3.0, 34.0, 4.2, 3.0),
                           (-16.0, 22.0, 2.8, 2.0)):
        tx, ty = proj(x, 0.0, z)
        s = f / z
        cv.fill([("poly", [(tx - 0.18 * s, ty), (tx + 0.18 * s, ty),
                           (tx + 0.12 * s, ty - (trunk + r) * s), (tx - 0.12 * s,
                                                                   ty - (trunk + r) * s)])],
                _col((110, 86, 62)), depth=z * 1000.0)
        cyc = ty - (trunk + r) * s
        blobs = []
        for k in range(7):
            a = k / 7 * 2 * math.pi
            bx, by = tx + math.cos(a) * r * 0.55 * s, cyc + math.sin(a) * r * 0.45 * s
            rr = r * s * rng.uniform(0.45, 0.6)
            blobs.append(("ellipse", (bx - rr, by - rr, bx + rr, by + rr)))
        cv.fill(blobs, _col((92, 140, 78)), depth=z * 1000.0)
        lit = [(b[0], (b[1][0] - 0.15 * r * s, b[1][1] - 0.12 * r * s, b[1][2] - 0.55 * r * s,
                       b[1][3] - 0.5 * r * s)) for b in blobs[3:]]
        cv.fill(lit, _col((150, 190, 96)), alpha=0.9)
    hz_pts = []
    for x in np.linspace(-12.0, _PT_WALL_X0 + 0.1, 40):
        bump = 0.08 * math.sin(x * 3.1)
        hz_pts.append(proj(float(x), 1.25 + bump, 12.0))
    hedge = [*hz_pts, proj(_PT_WALL_X0 + 0.1, 0.0, 12.0), proj(-12.0, 0.0, 12.0)]
    cv.fill([("poly", hedge)], _col((66, 112, 60)), depth=12000.0)
    tops = []
    for k, (x, y) in enumerate(hz_pts[:-1]):
        r = 13.0 + 5.0 * math.sin(k * 1.7)
        tops.append(("ellipse", (x - r * 1.3, y - r * 0.6, x + r * 1.3, y + r * 1.4)))
    cv.fill(tops, _col((78, 128, 66)), depth=12000.0)
    cv.fill([(t_[0], (t_[1][0] + 2, t_[1][1] + 1, t_[1][2] - 10, t_[1][3] - 12)) for t_ in tops],
            _col((118, 166, 86)))
    flowers: dict[tuple[int, int, int], list[Shape]] = {}
    palette = [(236, 96, 120), (250, 210, 80), (246, 246, 250), (180, 120, 220), (255, 150, 60)]
    for _ in range(160):
        x = rng.uniform(-11.5, _PT_WALL_X0)
        z = rng.uniform(10.6, 11.8)
        y = rng.uniform(0.05, 0.5)
        px, py = proj(x, y, z)
        r = f * 0.06 / z
        c = palette[int(rng.integers(0, len(palette)))]
        flowers.setdefault(c, []).append(("ellipse", (px - r, py - r, px + r, py + r)))
    leaf = [("poly", [proj(-11.5, 0.0, 10.5), proj(_PT_WALL_X0, 0.0, 10.5),
                      proj(_PT_WALL_X0, 0.45, 11.2), proj(-11.5, 0.45, 11.2)])]
    cv.fill(leaf, _col((78, 128, 64)), depth=11000.0)
    for c, shapes in flowers.items():
        cv.fill(shapes, _col(c))
    # low stone edging where the paving meets the lawn
    edge = [proj(-12.0, 0.12, _PT_WALL_Z - 0.05), proj(_PT_WALL_X0, 0.12, _PT_WALL_Z - 0.05),
            proj(_PT_WALL_X0, 0.0, _PT_WALL_Z - 0.3), proj(-12.0, 0.0, _PT_WALL_Z - 0.3)]
    cv.fill([("poly", edge)], _pt_shade(_col((200, 184, 160)), (0, 0.7, -0.7)),
            depth=_PT_WALL_Z * 1000.0 - 100.0)

    _pt_house(cv, proj, f, rng)
    _pt_plants(cv, proj, f, rng)

    # soft morning light leak from the upper left
    yy, xx = np.mgrid[0:h:4, 0:w:4].astype(np.float32)
    leak = np.exp(-((xx + 200) ** 2 + (yy + 150) ** 2) / (2 * 700.0**2)) * 0.22
    leak = cv2.resize(leak, (w, h), interpolation=cv2.INTER_LINEAR)
    cv.rgb += leak[..., None] * np.array([1.0, 0.86, 0.6], np.float32)

    _pt_bench(cv, proj, f)
    table_cov = _pt_table(cv, proj, f)
    _save_rgb(np.clip(cv.rgb, 0, 1), out_dir / "plate.png")
    _save_depth(cv.depth, out_dir / "depth.png")
    _save_mask(table_cov, out_dir / "fg_table.png")
    return {
        "kind": "flat",
        "width": w,
        "height": h,
        "hfov_deg": _PT_HFOV,
        "horizon_row": hz,
        "camera_height_m": ch,
        "files": {"plate": "plate.png", "depth": "depth.png",
                  "masks": {"table": "fg_table.png"}},
        "mask_depth_m": {"table": _PT_TABLE["z0"]},
        "seats": [{"name": "bench", "position": [round((_PT_BENCH["x0"] + _PT_BENCH["x1"]) / 2, 2),
                                                 round((_PT_BENCH["z0"] + _PT_BENCH["z1"]) / 2, 2)],
                   "height_m": _PT_BENCH["top"],
                   "extent": [round(_PT_BENCH["x1"] - _PT_BENCH["x0"], 2),
                              round(_PT_BENCH["z1"] - _PT_BENCH["z0"], 2)], "places": 3}],
        "surfaces": [{"name": "table", "position": [round((_PT_TABLE["x0"] + _PT_TABLE["x1"]) / 2,
                                                          2),
                                                    round((_PT_TABLE["z0"] + _PT_TABLE["z1"]) / 2,
                                                          2)],
                      "height_m": _PT_TABLE["top"],
                      "extent": [round(_PT_TABLE["x1"] - _PT_TABLE["x0"], 2),
                                 round(_PT_TABLE["z1"] - _PT_TABLE["z0"], 2)], "mask": "table"}],
        "light": {
            "key_azimuth_deg": -60.0,
            "key_elevation_deg": 35.0,
            "key_color": [255, 242, 214],
            "ambient_color": [168, 190, 222],
            "flicker": 0.0,
            "source_px": None,
        },
    }


class _Layer:
    """A separate premultiplied RGBA layer (for foreground objects whose mask is exported)."""

    def __init__(self, cv: _Canvas) -> None:
        self.cv = cv
        self.rgb = np.zeros_like(cv.rgb)
        self.a = np.zeros(cv.depth.shape, np.float32)
        self.depth = np.zeros(cv.depth.shape, np.float32)

    def put(self, shapes: list[Shape], color, depth=None, alpha: float = 1.0) -> None:
        res = self.cv.coverage(shapes)
        if res is None:
            return
        cov, x0, y0 = res
        hh, ww = cov.shape
        if callable(color):
            xx, yy = self.cv.grid(x0, y0, hh, ww)
            color = color(xx, yy)
        c = (cov * alpha)[..., None]
        sl = (slice(y0, y0 + hh), slice(x0, x0 + ww))
        self.rgb[sl] = self.rgb[sl] * (1 - c) + np.asarray(color, np.float32) * c
        self.a[sl] = self.a[sl] + c[..., 0] * (1 - self.a[sl])
        if depth is not None:
            if callable(depth):
                xx, yy = self.cv.grid(x0, y0, hh, ww)
                depth = depth(xx, yy)
            np.copyto(self.depth[sl], np.broadcast_to(np.asarray(depth, np.float32), (hh, ww)),
                      where=cov >= 0.5)

    def shade(self, shapes: list[Shape], color, alpha: float) -> None:
        """Darken/tint what the layer already holds (cast shadows), keeping its coverage."""
        res = self.cv.coverage(shapes)
        if res is None:
            return
        cov, x0, y0 = res
        hh, ww = cov.shape
        sl = (slice(y0, y0 + hh), slice(x0, x0 + ww))
        c = (cov * alpha * self.a[sl])[..., None]
        self.rgb[sl] = self.rgb[sl] * (1 - c) + np.asarray(color, np.float32) * c

    def composite(self) -> np.ndarray:
        a = self.a[..., None]
        self.cv.rgb *= 1 - a
        self.cv.rgb += self.rgb
        np.copyto(self.cv.depth, self.depth, where=(self.a >= 0.5) & (self.depth > 0))
        return self.a.copy()


def _pt_house(cv: _Canvas, proj, f: float, rng: np.random.Generator) -> None:
    """House wall with a shuttered window, a French door, a lamp, a climbing rose and the roof."""
    z, x0, x1 = _PT_WALL_Z, _PT_WALL_X0, 6.5
    eave = 2.95
    wall_poly = [proj(x0, 0.0, z), proj(x1, 0.0, z), proj(x1, eave, z), proj(x0, eave, z)]
    wall_top_row = proj(0.0, eave, z)[1]

    def wall_col(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        n = _wnoise(xx, yy, 9.0, 51) * 0.5 + _wnoise(xx, yy, 2.5, 52) * 0.5
        base = _col((248, 228, 194)) * (0.94 + 0.08 * n)[..., None]
        under = _smoothstep(wall_top_row + 70, wall_top_row + 20, yy)[..., None]
        side = np.clip((xx - 700) / 1400.0, 0, 1)[..., None]
        return base * (1 - 0.22 * under) * (1 - 0.08 * side)

    cv.fill([("poly", wall_poly)], wall_col, depth=z * 1000.0)
    plinth = [proj(x0, 0.0, z), proj(x1, 0.0, z), proj(x1, 0.28, z), proj(x0, 0.28, z)]
    cv.fill([("poly", plinth)], _col((196, 178, 150)), depth=z * 1000.0)
    cv.fill([("line", [proj(x0, 0.28, z), proj(x1, 0.28, z)], 2.0)], _col((160, 140, 116)))
    corner = [proj(x0, 0.0, z), proj(x0 + 0.12, 0.0, z), proj(x0 + 0.12, eave, z),
              proj(x0, eave, z)]
    cv.fill([("poly", corner)], _col((250, 246, 236)), depth=z * 1000.0)
    # eave: soffit, fascia, gutter and a tiled roof rising out of frame
    zo = z - 0.5
    soffit = [proj(x0 - 0.4, eave, z), proj(x1, eave, z), proj(x1, eave, zo), proj(x0 - 0.4, eave,
                                                                                 zo)]
    cv.fill([("poly", soffit)], _col((176, 150, 124)), depth=zo * 1000.0)
    fascia = [proj(x0 - 0.4, eave, zo), proj(x1, eave, zo), proj(x1, eave + 0.2, zo),
              proj(x0 - 0.4, eave + 0.2, zo)]
    cv.fill([("poly", fascia)], _col((244, 240, 230)), depth=zo * 1000.0)
    roof_top = (5.2, 10.0)
    roof = [proj(x0 - 0.4, eave + 0.2, zo), proj(x1, eave + 0.2, zo), proj(x1, *roof_top),
            proj(x0 - 0.4, *roof_top)]
    roof_alb = _col((204, 104, 70))
    r_shade = _pt_shade(roof_alb, (0.0, 0.86, -0.5), 1.1)
    cv.fill([("poly", roof)], r_shade, depth=lambda xx, yy: (zo + (roof_top[1] - zo) * np.clip(
        (proj(0, eave, zo)[1] - yy) / max(proj(0, eave, zo)[1] - proj(0, *roof_top)[1], 1), 0,
        1)) * 1000.0 + 0 * xx)
    n_courses = 9
    for k in range(1, n_courses + 1):
        t = k / n_courses
        yk = eave + 0.2 + (roof_top[0] - eave - 0.2) * t
        zk = zo + (roof_top[1] - zo) * t
        pl, pr = proj(x0 - 0.4, yk, zk), proj(x1, yk, zk)
        cv.fill([("line", [pl, pr], max(1.5, 5.0 * (1 - t)))], r_shade * 0.72)
        step = f * 0.3 / zk
        x = pl[0] + (step / 2 if k % 2 else 0)
        y_prev = proj(0, eave + 0.2 + (roof_top[0] - eave - 0.2) * (k - 1) / n_courses,
                      zo + (roof_top[1] - zo) * (k - 1) / n_courses)[1]
        joints = []
        while x < pr[0]:
            joints.append(("line", [(x, pl[1]), (x, y_prev)], max(1.0, 2.5 * (1 - t))))
            x += step
        cv.fill(joints, r_shade * 0.8, alpha=0.8)
    gl, gr = proj(x0 - 0.45, eave + 0.02, zo - 0.08), proj(x1, eave + 0.02, zo - 0.08)
    cv.fill([("line", [gl, gr], f * 0.12 / zo)], _col((236, 236, 232)))
    cv.fill([("line", [(gl[0], gl[1] + 5), (gr[0], gr[1] + 5)], 3.0)], _col((180, 178, 176)))
    cv.fill([("line", [proj(x0 + 0.25, eave, z - 0.08), proj(x0 + 0.25, 0.05, z - 0.08)],
              f * 0.07 / z)], _col((226, 226, 224)), depth=(z - 0.08) * 1000.0)

    # window with shutters, flower box and curtains
    wx0, wx1, wy0, wy1 = 0.35, 1.85, 0.95, 2.25
    glass = [proj(wx0, wy0, z), proj(wx1, wy0, z), proj(wx1, wy1, z), proj(wx0, wy1, z)]
    g_top, g_bot = glass[3][1], glass[0][1]

    def glass_col(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        v = np.clip((yy - g_top) / (g_bot - g_top), 0, 1)[..., None]
        base = _col((150, 192, 222)) * (1 - v) + _col((74, 104, 140)) * v
        streak = np.abs(((xx - glass[0][0]) - (yy - g_top) * 0.6) % 260 - 60) < 18
        return np.where(streak[..., None], base * 0.7 + 0.3, base)

    cv.fill([("poly", glass)], glass_col, depth=z * 1000.0 + 100.0)
    for side in (0, 1):
        cx0 = wx0 + 0.12 if side == 0 else wx1 - 0.42
        drape = [proj(cx0, wy1 - 0.1, z), proj(cx0 + 0.3, wy1 - 0.1, z),
                 proj(cx0 + (0.12 if side == 0 else 0.18), wy0 + 0.1, z),
                 proj(cx0 + (0.0 if side == 0 else 0.3), wy0 + 0.1, z)]
        cv.fill([("poly", drape)], _col((250, 236, 214)), alpha=0.85)
    fw = 0.07
    frame = []
    for a, b, c_, d in ((wx0 - fw, wy0 - fw, wx1 + fw, wy0), (wx0 - fw, wy1, wx1 + fw, wy1 + fw),
                        (wx0 - fw, wy0, wx0, wy1), (wx1, wy0, wx1 + fw, wy1),
                        ((wx0 + wx1) / 2 - 0.03, wy0, (wx0 + wx1) / 2 + 0.03, wy1),
                        (wx0, (wy0 + wy1) / 2 + 0.1, wx1, (wy0 + wy1) / 2 + 0.15)):
        frame.append(("poly", [proj(a, b, z), proj(c_, b, z), proj(c_, d, z), proj(a, d, z)]))
    cv.fill([("poly", [proj(wx0, wy0, z), proj(wx0 + 0.06, wy0, z), proj(wx0 + 0.06, wy1, z),
                       proj(wx0, wy1, z)])], _col((40, 60, 80)), alpha=0.35)
    cv.fill(frame, _col((250, 250, 246)), depth=z * 1000.0 - 20.0)
    sill = [proj(wx0 - 0.12, wy0 - fw, z - 0.08), proj(wx1 + 0.12, wy0 - fw, z - 0.08),
            proj(wx1 + 0.12, wy0 - fw - 0.05, z - 0.08),
            proj(wx0 - 0.12, wy0 - fw - 0.05, z - 0.08)]
    cv.fill([("poly", sill)], _col((236, 232, 222)), depth=(z - 0.08) * 1000.0)
    for sx0 in (wx0 - fw - 0.4, wx1 + fw + 0.02):
        sh = [proj(sx0, wy0 - 0.02, z - 0.03), proj(sx0 + 0.38, wy0 - 0.02, z - 0.03),
              proj(sx0 + 0.38, wy1 + 0.04, z - 0.03), proj(sx0, wy1 + 0.04, z - 0.03)]
        cv.fill([("poly", sh)], _col((122, 160, 138)), depth=(z - 0.03) * 1000.0)
        slats = []
        for k in range(14):
            yk = wy0 + 0.08 + k * (wy1 - wy0 - 0.1) / 14
            slats.append(("line", [proj(sx0 + 0.05, yk, z - 0.03), proj(sx0 + 0.33, yk,
                                                                          z - 0.03)], 1.6))
        cv.fill(slats, _col((88, 124, 104)))
        cv.fill([("line", [sh[1], sh[2]], 4.0)], _col((60, 80, 70)), alpha=0.3)
    box = [proj(wx0 - 0.05, wy0 - 0.34, z - 0.2), proj(wx1 + 0.05, wy0 - 0.34, z - 0.2),
           proj(wx1 + 0.05, wy0 - 0.13, z - 0.2), proj(wx0 - 0.05, wy0 - 0.13, z - 0.2)]
    cv.fill([("poly", box)], _col((150, 96, 62)), depth=(z - 0.2) * 1000.0)
    leaves: list[Shape] = []
    blooms: list[Shape] = []
    for _ in range(46):
        x = rng.uniform(wx0, wx1)
        y = wy0 - 0.13 + rng.uniform(-0.04, 0.14)
        px, py = proj(x, y, z - 0.2)
        r = f * rng.uniform(0.05, 0.08) / z
        leaves.append(("ellipse", (px - r, py - r * 0.8, px + r, py + r * 0.8)))
    for _ in range(22):
        x = rng.uniform(wx0 + 0.05, wx1 - 0.05)
        y = wy0 - 0.05 + rng.uniform(0.0, 0.16)
        px, py = proj(x, y, z - 0.2)
        r = f * rng.uniform(0.03, 0.05) / z
        blooms.append(("ellipse", (px - r, py - r, px + r, py + r)))
    cv.fill(leaves, _col((74, 132, 60)))
    cv.fill(blooms, _col((226, 48, 60)))
    cv.fill([(b[0], (b[1][0] + 1, b[1][1] + 1, b[1][2] - 3, b[1][3] - 3)) for b in blooms],
            _col((250, 110, 110)))

    # French door on the right
    dx0, dx1, dy1 = 3.0, 4.15, 2.2
    door = [proj(dx0, 0.0, z), proj(dx1, 0.0, z), proj(dx1, dy1, z), proj(dx0, dy1, z)]
    cv.fill([("poly", door)], _col((64, 112, 122)), depth=z * 1000.0 + 50.0)
    panes: list[Shape] = []
    for leaf_x in (dx0, (dx0 + dx1) / 2):
        for r_ in range(4):
            for c_ in range(2):
                a = leaf_x + 0.08 + c_ * 0.23
                b = 0.85 + r_ * 0.31
                panes.append(("poly", [proj(a, b, z), proj(a + 0.19, b, z),
                                       proj(a + 0.19, b + 0.26, z), proj(a, b + 0.26, z)]))
    cv.fill(panes, _col((60, 80, 96)))
    cv.fill([("line", [proj(dx0 + 0.1, 1.9, z), proj(dx0 + 0.4, 1.25, z)], 6.0),
             ("line", [proj(dx0 + 0.7, 1.95, z), proj(dx0 + 0.95, 1.4, z)], 4.0)],
            _col((140, 170, 186)), alpha=0.6)
    cv.fill([("line", [proj((dx0 + dx1) / 2, 0.0, z), proj((dx0 + dx1) / 2, dy1, z)], 3.0)],
            _col((40, 72, 80)))
    trim = [("line", [proj(dx0 - 0.05, 0.0, z), proj(dx0 - 0.05, dy1 + 0.06, z),
                      proj(dx1 + 0.05, dy1 + 0.06, z), proj(dx1 + 0.05, 0.0, z)], 7.0)]
    cv.fill(trim, _col((250, 248, 240)))
    for kx in (dx0 + 0.5, dx0 + 0.65):
        kp = proj(kx, 1.05, z)
        cv.fill([("ellipse", (kp[0] - 3, kp[1] - 3, kp[0] + 3, kp[1] + 3))], _col((200, 170, 90)))
    step = [proj(dx0 - 0.15, 0.12, z - 0.3), proj(dx1 + 0.15, 0.12, z - 0.3),
            proj(dx1 + 0.15, 0.0, z - 0.3), proj(dx0 - 0.15, 0.0, z - 0.3)]
    cv.fill([("poly", step)], _col((210, 200, 186)), depth=(z - 0.3) * 1000.0)
    # wall lamp right of the door
    lp = proj(4.42, 1.95, z - 0.1)
    s = f / z
    cv.fill([("poly", [(lp[0] - 0.07 * s, lp[1]), (lp[0] + 0.07 * s, lp[1]),
                       (lp[0] + 0.09 * s, lp[1] - 0.2 * s), (lp[0] - 0.09 * s, lp[1] - 0.2 * s)]),
             ("poly", [(lp[0] - 0.11 * s, lp[1] - 0.2 * s), (lp[0] + 0.11 * s, lp[1] - 0.2 * s),
                       (lp[0], lp[1] - 0.3 * s)])], _col((48, 50, 54)))
    cv.fill([("poly", [(lp[0] - 0.05 * s, lp[1] - 0.02 * s), (lp[0] + 0.05 * s, lp[1] - 0.02 * s),
                       (lp[0] + 0.06 * s, lp[1] - 0.17 * s), (lp[0] - 0.06 * s,
                                                             lp[1] - 0.17 * s)])],
            _col((250, 226, 160)))
    # climbing rose at the corner
    leaves = []
    roses = []
    for _ in range(70):
        y = rng.uniform(0.2, 2.7) ** 1.0
        spread = 0.25 + 0.35 * (y / 2.7)
        x = x0 + 0.15 + rng.uniform(0, spread)
        px, py = proj(x, y, z - 0.05)
        r = f * rng.uniform(0.05, 0.09) / z
        leaves.append(("ellipse", (px - r, py - r * 0.75, px + r, py + r * 0.75)))
        if rng.random() < 0.3:
            rr = r * 0.6
            roses.append(("ellipse", (px - rr, py - rr, px + rr, py + rr)))
    stem = [proj(x0 + 0.2, 0.0, z - 0.05), proj(x0 + 0.3, 1.2, z - 0.05),
            proj(x0 + 0.45, 2.6, z - 0.05)]
    cv.fill([("line", stem, 4.0)], _col((92, 74, 50)))
    cv.fill(leaves, _col((70, 120, 58)), depth=(z - 0.05) * 1000.0)
    cv.fill([(lf[0], (lf[1][0] - 1, lf[1][1] - 2, lf[1][2] - 4, lf[1][3] - 3)) for lf in leaves
             [::2]], _col((112, 164, 78)))
    cv.fill(roses, _col((236, 112, 150)))


def _pt_plants(cv: _Canvas, proj, f: float, rng: np.random.Generator) -> None:
    """Terracotta pots against the wall (with cast shadows) and two framing plants up front."""

    def pot(x: float, z: float, hgt: float, r_top: float, colr=(196, 108, 70)) -> tuple:
        s = f / z
        bx, by = proj(x, 0.0, z)
        top_y = by - hgt * s
        shadow = [(bx - r_top * s * 0.6, by), (bx + r_top * s * 0.9, by + 0.05 * s),
                  (bx + (r_top + hgt * 1.3) * s, by - 0.04 * s), (bx + r_top * s, by - 0.08 * s)]
        cv.fill([("poly", shadow)], _col((120, 100, 84)), alpha=0.35)
        body = [(bx - r_top * s, top_y), (bx + r_top * s, top_y), (bx + r_top * 0.72 * s, by),
                (bx - r_top * 0.72 * s, by)]

        def pot_col(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
            u = np.clip((xx - (bx - r_top * s)) / (2 * r_top * s), 0, 1)[..., None]
            return _col(colr) * (1.12 - 0.45 * u ** 1.5)

        cv.fill([("poly", body)], pot_col, depth=z * 1000.0)
        rim = [(bx - r_top * 1.08 * s, top_y - 0.06 * s), (bx + r_top * 1.08 * s, top_y - 0.06 * s),
               (bx + r_top * 1.08 * s, top_y + 0.03 * s), (bx - r_top * 1.08 * s,
                                                          top_y + 0.03 * s)]
        cv.fill([("poly", rim)], _col(colr) * 1.08, depth=z * 1000.0)
        return bx, top_y - 0.06 * s, s

    def bush(cx: float, cy: float, r: float, s: float, z: float, green=(84, 140, 66),
             n: int = 11, flowers=None) -> None:
        blobs = []
        for _ in range(n):
            a = rng.uniform(0, 2 * math.pi)
            d = rng.uniform(0, 0.6) * r
            bx, by = cx + math.cos(a) * d * s, cy - r * s + math.sin(a) * d * 0.8 * s
            rr = r * s * rng.uniform(0.35, 0.55)
            blobs.append(("ellipse", (bx - rr, by - rr, bx + rr, by + rr)))
        cv.fill(blobs, _col(green) * 0.78, depth=z * 1000.0)
        lit = [(b[0], (b[1][0] - 2, b[1][1] - 2, b[1][2] - (b[1][2] - b[1][0]) * 0.35,
                       b[1][3] - (b[1][3] - b[1][1]) * 0.4)) for b in blobs]
        cv.fill(lit, _col(green) * 1.15)
        if flowers:
            dots = []
            for _ in range(14):
                a = rng.uniform(0, 2 * math.pi)
                d = rng.uniform(0, 0.8) * r
                bx, by = cx + math.cos(a) * d * s, cy - r * s + math.sin(a) * d * 0.8 * s
                rr = s * 0.035
                dots.append(("ellipse", (bx - rr, by - rr, bx + rr, by + rr)))
            cv.fill(dots, _col(flowers))

    # wall shadow of the big bush, then the bush itself
    z = _PT_WALL_Z
    bx, by, s = pot(-0.75, 6.45, 0.5, 0.3)
    bush(bx, by + 0.05 * s, 0.48, s, 6.45, flowers=(250, 250, 240))
    # lemon tree between window and door
    bx, by, s = pot(2.45, 6.55, 0.55, 0.27, (180, 96, 62))
    cv.fill([("line", [(bx, by), (bx + 2, by - 0.75 * s)], 0.05 * s)], _col((110, 84, 58)),
            depth=6550.0)
    bush(bx, by - 0.55 * s, 0.5, s, 6.55, green=(70, 128, 60), n=13, flowers=(250, 212, 60))
    # herbs by the door
    for x, hgt, colr in ((4.3, 0.3, (120, 90, 200)), (4.62, 0.25, (96, 150, 70))):
        bx, by, s = pot(x, 6.5, hgt, 0.15, (190, 104, 68))
        spikes = [("line", [(bx + k * 4 - 14, by), (bx + k * 5 - 18, by - 0.35 * s)], 3.0)
                  for k in range(8)]
        cv.fill(spikes, _col(colr), depth=6500.0)
    # framing plants up front: a broad-leaved plant on the left, lavender on the right
    z = 3.3
    s = f / z
    cx, cy = proj(-2.05, 0.0, z)
    leaves = []
    for k in range(11):
        a = math.radians(-160 + k * 15 + rng.uniform(-5, 5))
        ln = s * rng.uniform(0.7, 1.05)
        ex, ey = cx + math.cos(a) * ln * 0.75, cy - 0.35 * s + math.sin(a) * ln
        mx, my = (cx + ex) / 2, (cy - 0.35 * s + ey) / 2
        nx, ny = -(ey - cy), ex - cx
        nn = math.hypot(nx, ny) or 1.0
        wd = s * 0.12
        leaves.append(("poly", [(cx, cy - 0.35 * s), (mx + nx / nn * wd, my + ny / nn * wd),
                                (ex, ey), (mx - nx / nn * wd, my - ny / nn * wd)]))
    cv.fill(leaves, _col((46, 100, 56)), depth=z * 1000.0)
    cv.fill([(lv[0], [lv[1][0], lv[1][1], lv[1][2]]) for lv in leaves], _col((84, 150, 74)),
            depth=z * 1000.0)
    z = 3.2
    s = f / z
    cx, cy = proj(2.15, 0.0, z)
    cv.fill([("poly", [(cx - 0.24 * s, cy - 0.5 * s), (cx + 0.24 * s, cy - 0.5 * s),
                       (cx + 0.18 * s, cy + 0.2 * s), (cx - 0.18 * s, cy + 0.2 * s)])],
            lambda xx, yy: _col((196, 108, 70)) * (1.1 - 0.4 * np.clip(
                (xx - cx + 0.24 * s) / (0.48 * s), 0, 1) ** 1.5)[..., None],
            depth=z * 1000.0)
    stems, heads = [], []
    for k in range(18):
        a = math.radians(-90 + (k - 8.5) * 5.0)
        ln = s * rng.uniform(0.45, 0.62)
        x0_, y0_ = cx + (k - 8.5) * 0.02 * s, cy - 0.5 * s
        ex, ey = x0_ + math.cos(a) * ln, y0_ + math.sin(a) * ln
        stems.append(("line", [(x0_, y0_), (ex, ey)], 2.5))
        heads.append(("line", [(ex, ey), (ex - math.cos(a) * ln * 0.25,
                                          ey - math.sin(a) * ln * 0.25)], 7.0))
    cv.fill(stems, _col((100, 140, 86)), depth=z * 1000.0)
    cv.fill(heads, _col((150, 120, 210)), depth=z * 1000.0)


def _pt_bench(cv: _Canvas, proj, f: float) -> None:
    """A wooden bench behind the table, long enough to show past its ends (the seat John
    and Jane sit on: `[[seats]] bench` in the demo's patio set); painted into the plate with
    its depth, behind everything the table layer draws."""
    b = _PT_BENCH
    x0, x1, z0, z1, top = b["x0"], b["x1"], b["z0"], b["z1"], b["top"]
    hz, ch = _PT_HORIZON, _PT_CAM_H
    wood = _col((176, 118, 70))
    shadow = [proj(x0 + 0.2, 0.0, z0), proj(x1 + 0.5, 0.0, z0 + 0.1),
              proj(x1 + 0.5, 0.0, z1 + 0.3), proj(x0 + 0.2, 0.0, z1)]
    cv.fill([("poly", shadow)], _col((120, 96, 80)), alpha=0.35)
    for lx in (x0 + 0.12, x1 - 0.12):
        for lz, dark in ((z1 - 0.05, 0.42), (z0 + 0.05, 0.7)):
            a, c = proj(lx - 0.04, top - 0.05, lz), proj(lx + 0.04, 0.0, lz)
            cv.fill([("poly", [(a[0], a[1]), (c[0], a[1]), (c[0], c[1]), (a[0], c[1])])],
                    _pt_shade(wood * dark, (0.0, 0.0, -1.0), 1.0), depth=lz * 1000.0)
    front = [proj(x0, top, z0), proj(x1, top, z0), proj(x1, top - 0.06, z0),
             proj(x0, top - 0.06, z0)]
    cv.fill([("poly", front)], _pt_shade(wood * 0.8, (0.0, 0.0, -1.0), 1.0),
            depth=z0 * 1000.0)
    end = [proj(x0, top, z0), proj(x0, top, z1), proj(x0, top - 0.06, z1),
           proj(x0, top - 0.06, z0)]
    cv.fill([("poly", end)], _pt_shade(wood * 0.9, (-1.0, 0.0, 0.0), 1.0),
            depth=z0 * 1000.0)

    def seat_col(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        zz = f * (ch - top) / np.maximum(yy - hz, 1.0)
        slat = ((zz - z0) / (z1 - z0) * 3.0) % 1.0
        c = wood * (0.95 + 0.08 * np.sin(xx * 0.05))[..., None]
        c = np.where((slat < 0.08)[..., None], wood * 0.5, c)
        return _pt_shade(c, (0.0, 1.0, 0.0), 1.2)

    seat = [proj(x0, top, z0), proj(x1, top, z0), proj(x1, top, z1), proj(x0, top, z1)]
    cv.fill([("poly", seat)], seat_col,
            depth=lambda xx, yy: f * (ch - top) / np.maximum(yy - hz, 1.0) * 1000.0 + 0 * xx)


def _pt_table(cv: _Canvas, proj, f: float) -> np.ndarray:
    """The wooden table and its breakfast things on a separate layer; returns the layer mask."""
    t = _PT_TABLE
    x0, x1, z0, z1, top = t["x0"], t["x1"], t["z0"], t["z1"], t["top"]
    hz, ch = _PT_HORIZON, _PT_CAM_H
    lay = _Layer(cv)
    wood = _col((188, 128, 76))
    # shadow on the paving under and to the right of the table (not part of the table)
    sh = [proj(x0 + 0.3, 0.0, z0), proj(x1 + 0.9, 0.0, z0 + 0.3), proj(x1 + 0.9, 0.0, z1 + 0.4),
          proj(x0 + 0.3, 0.0, z1)]
    cv.fill([("poly", sh)], _col((120, 96, 80)), alpha=0.4)
    leg_w = 0.075
    for lx, lz, dark in ((x0 + 0.1, z1 - 0.08, 0.45), (x1 - 0.1, z1 - 0.08, 0.4),
                         (x0 + 0.08, z0 + 0.03, 0.8), (x1 - 0.08, z0 + 0.03, 0.62)):
        a, b = proj(lx - leg_w / 2, top, lz), proj(lx + leg_w / 2, 0.0, lz)
        lay.put([("poly", [(a[0], a[1]), (b[0], a[1]), (b[0], b[1]), (a[0], b[1])])],
                 wood * dark, depth=lz * 1000.0)
    apron = [proj(x0, top - 0.04, z0), proj(x1, top - 0.04, z0), proj(x1, top - 0.13, z0),
             proj(x0, top - 0.13, z0)]
    lay.put([("poly", apron)], wood * 0.62, depth=z0 * 1000.0)
    edge = [proj(x0, top, z0), proj(x1, top, z0), proj(x1, top - 0.04, z0), proj(x0, top - 0.04,
                                                                                z0)]
    lay.put([("poly", edge)], wood * 0.95, depth=z0 * 1000.0)
    lay.put([("line", [proj(x0, top - 0.13, z0), proj(x1, top - 0.13, z0)], 2.0)], wood * 0.4)
    plank = 0.18

    def top_col(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        zz = f * (ch - top) / np.maximum(yy - hz, 1.0)
        wx = (xx - cv.w / 2) * zz / f
        k = np.floor((zz - z0) / plank)
        fr = (zz - z0) / plank - k
        grain = _wnoise(wx * 6.0, k * 3.0 + fr * 2.0, 1.0, 61)
        streak = np.abs(np.sin(wx * 9.0 + grain * 7.0 + k * 1.3))
        tint = 0.9 + 0.12 * _hash2(k.astype(np.int64), np.zeros_like(k, np.int64), 5)
        c = wood * (tint * (0.9 + 0.16 * streak))[..., None]
        gap = (fr < 0.045) & (zz > z0 + 0.05)
        c = np.where(gap[..., None], wood * 0.45, c)
        return _pt_shade(c, (0.0, 1.0, 0.0), 1.25)

    tt = [proj(x0, top, z0), proj(x1, top, z0), proj(x1, top, z1), proj(x0, top, z1)]
    lay.put([("poly", tt)], top_col,
            depth=lambda xx, yy: f * (ch - top) / np.maximum(yy - hz, 1.0) * 1000.0 + 0 * xx)

    def on_table(x: float, z: float) -> tuple[float, float, float]:
        px, py = proj(x, top, z)
        return px, py, f / z

    def cast(x: float, z: float, r: float, hgt: float) -> None:
        ax, ay, s = on_table(x, z)
        bx, by, _ = on_table(x + hgt * 1.3, z + hgt * 0.6)
        lay.shade([("poly", [(ax - r * s, ay), (ax + r * s * 0.6, ay + r * s * 0.25),
                             (bx + r * s, by), (bx - r * s * 0.3, by - r * s * 0.2)])],
                  wood * 0.35, 0.55)

    # mug of coffee
    mx, my, s = on_table(-0.5, 3.12)
    cast(-0.5, 3.12, 0.05, 0.1)
    rx, hgt = 0.046 * s, 0.1 * s
    ry = rx * 0.28

    def ceramic(cx: float, rx_: float, colr) -> Callable:
        def fn(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
            u = np.clip((xx - (cx - rx_)) / (2 * rx_), 0, 1)[..., None]
            return _col(colr) * (1.08 - 0.4 * u ** 1.6) + 0 * yy[..., None]
        return fn

    lay.put([("line", [(mx + rx * 0.8, my - hgt * 0.75), (mx + rx * 1.55, my - hgt * 0.6),
                       (mx + rx * 1.5, my - hgt * 0.25), (mx + rx * 0.8, my - hgt * 0.2)],
              rx * 0.25)], _col((200, 200, 206)), depth=3120.0)
    lay.put([("poly", [(mx - rx, my - hgt), (mx + rx, my - hgt), (mx + rx, my), (mx - rx, my)]),
             ("ellipse", (mx - rx, my - ry, mx + rx, my + ry))], ceramic(mx, rx, (240, 240, 244)),
            depth=3120.0)
    lay.put([("poly", [(mx - rx, my - hgt * 0.55), (mx + rx, my - hgt * 0.55),
                       (mx + rx, my - hgt * 0.4), (mx - rx, my - hgt * 0.4)])],
            ceramic(mx, rx, (70, 110, 180)))
    lay.put([("ellipse", (mx - rx, my - hgt - ry, mx + rx, my - hgt + ry))],
            _col((226, 226, 232)))
    lay.put([("ellipse", (mx - rx * 0.82, my - hgt - ry * 0.75, mx + rx * 0.82,
                          my - hgt + ry * 0.75))], _col((92, 56, 34)))
    # bowl of oranges
    bx, by, s = on_table(0.6, 3.05)
    cast(0.62, 3.05, 0.13, 0.1)
    rx, hgt = 0.13 * s, 0.07 * s
    oranges = []
    for ox, oy, r_ in ((-0.06, -0.07, 0.042), (0.05, -0.075, 0.044), (0.0, -0.12, 0.043),
                       (-0.1, -0.05, 0.038), (0.1, -0.05, 0.04)):
        oranges.append((bx + ox * s, by + oy * s, r_ * s))
    for ox, oy, r_ in sorted(oranges, key=lambda o: o[1]):
        lay.put([("ellipse", (ox - r_, oy - r_, ox + r_, oy + r_))],
                ceramic(ox, r_, (246, 146, 36)), depth=3050.0)
        lay.put([("ellipse", (ox - r_ * 0.55, oy - r_ * 0.65, ox - r_ * 0.1, oy - r_ * 0.25))],
                _col((255, 214, 140)), alpha=0.7)
    lay.put([("ellipse", (oranges[2][0] - 3, oranges[2][1] - oranges[2][2] - 6,
                          oranges[2][0] + 9, oranges[2][1] - oranges[2][2] + 1))],
            _col((70, 140, 60)))
    lay.put([("poly", [(bx - rx, by - hgt), (bx + rx, by - hgt)] + [
        (bx + rx * math.cos(a), by - hgt + hgt * 1.1 * math.sin(a))
        for a in np.linspace(0, math.pi, 16)])], ceramic(bx, rx, (86, 150, 190)), depth=3050.0)
    lay.put([("line", [(bx - rx, by - hgt), (bx + rx, by - hgt)], 3.0)], _col((210, 230, 240)))
    # small jug with sunflowers
    vx, vy, s = on_table(0.18, 3.42)
    cast(0.18, 3.42, 0.05, 0.35)
    rx, hgt = 0.05 * s, 0.16 * s
    heads = []
    for ang, ln, r_ in ((-1.85, 0.3, 0.045), (-1.35, 0.34, 0.05), (-1.6, 0.26, 0.04)):
        ex, ey = vx + math.cos(ang) * ln * s * 0.9, vy - hgt + math.sin(ang) * ln * s
        lay.put([("line", [(vx, vy - hgt), (ex, ey)], 3.0)], _col((80, 130, 60)), depth=3420.0)
        heads.append((ex, ey, r_ * s))
    for hx, hy, r_ in heads:
        petals = [("poly", [(hx + r_ * 1.0 * math.cos(a), hy + r_ * 0.8 * math.sin(a)) for a in
                            np.linspace(0, 2 * math.pi, 25)])]
        lay.put(petals, _col((250, 200, 40)), depth=3420.0)
        for k in range(12):
            a = k / 12 * 2 * math.pi
            px_, py_ = hx + r_ * 1.15 * math.cos(a), hy + r_ * 0.95 * math.sin(a)
            lay.put([("ellipse", (px_ - r_ * 0.22, py_ - r_ * 0.22, px_ + r_ * 0.22,
                                  py_ + r_ * 0.22))], _col((246, 184, 30)), depth=3420.0)
        lay.put([("ellipse", (hx - r_ * 0.45, hy - r_ * 0.4, hx + r_ * 0.45, hy + r_ * 0.4))],
                _col((110, 64, 28)))
    lay.put([("poly", [(vx - rx * 0.7, vy - hgt), (vx + rx * 0.7, vy - hgt),
                       (vx + rx, vy - hgt * 0.4), (vx + rx * 0.9, vy), (vx - rx * 0.9, vy),
                       (vx - rx, vy - hgt * 0.4)])], ceramic(vx, rx, (236, 232, 220)),
            depth=3420.0)
    lay.put([("line", [(vx - rx * 0.95, vy - hgt * 0.45), (vx + rx * 0.95, vy - hgt * 0.45)],
              3.0)], _col((70, 110, 180)))
    return lay.composite()
