"""Deterministic street-like scenes written in exactly the Cityscapes on-disk layout.

They let the whole pipeline (train, export, evaluate, benchmark) run without the real data set:
sky, buildings with windows, vegetation, a perspective road with lane marks, sidewalks, terrain,
walls, fences, poles with traffic signs, persons and cars, plus an occasional ego-vehicle bonnet
(a void id, so ignored pixels occur as in the real data). Every class has its own colour range
and texture, and layout, sizes and lighting vary per image, so a small network has to learn
appearance rather than positions. Thin classes stay >= ~8 px wide at 256x512 so they survive an
8x-downsampling network.

Each image's random stream is seeded by (seed, split, index) alone, so a file's bytes do not
depend on `count` or on the other images.
"""

from __future__ import annotations

import json
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from cityscapesscripts.helpers.labels import labels as _CS_LABELS
from PIL import Image

from segdeploy.data.cityscapes import ID_TO_TRAINID
from segdeploy.data.images import save_image_png
from segdeploy.data.transforms import resize_bilinear
from segdeploy.reporting.atomic import write_json_atomic

_VERSION = 1  # bump when the drawing changes, so old datasets are regenerated
# Cityscapes label ids drawn here (trainIds in brackets).
EGO_VEHICLE, ROAD, SIDEWALK, BUILDING, WALL, FENCE = 1, 7, 8, 11, 12, 13  # (255, 0, 1, 2, 3, 4)
POLE, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY, PERSON, CAR = 17, 20, 21, 22, 23, 24, 26  # (5, 7..11, 13)

_ID_COLOURS = np.zeros((256, 4), dtype=np.uint8)  # label id -> RGBA of gtFine_color.png
for _lb in _CS_LABELS:
    if 0 <= _lb.id <= 33:
        _ID_COLOURS[_lb.id] = (*_lb.color, 255)


@dataclass(frozen=True)
class _Canvas:
    """The scene being drawn; the arrays are filled in place, back to front."""

    image: np.ndarray  # (H, W, 3) float32, 0..255 before lighting
    label: np.ndarray  # (H, W) uint8 label ids
    instance: np.ndarray  # (H, W) uint16 Cityscapes instance ids
    scale: float  # pixel sizes are given at 256x512 and multiplied by this

    @property
    def height(self) -> int:
        return self.image.shape[0]

    @property
    def width(self) -> int:
        return self.image.shape[1]


def _box(c: _Canvas, y0: float, y1: float, x0: float, x1: float):
    """Clip a box to the canvas: its slices and absolute pixel coordinates, or None if empty."""
    top, bottom = max(int(y0), 0), min(int(np.ceil(y1)), c.height)
    left, right = max(int(x0), 0), min(int(np.ceil(x1)), c.width)
    if top >= bottom or left >= right:
        return None
    ys = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5  # (h, 1) pixel centres
    xs = np.arange(left, right, dtype=np.float32)[None, :] + 0.5  # (1, w)
    return (slice(top, bottom), slice(left, right)), ys, xs


def _paint(c: _Canvas, where, mask: np.ndarray, colour: np.ndarray, label_id: int,
           instance_id: int | None = None) -> None:
    """Draw `colour` ((3,) or (h, w, 3)) where `mask` holds inside the clipped box `where`."""
    mask = np.broadcast_to(mask, (where[0].stop - where[0].start, where[1].stop - where[1].start))
    # copyto on the sliced views: much faster than boolean fancy indexing, and writes in place.
    np.copyto(c.image[where], np.asarray(colour, dtype=np.float32), where=mask[:, :, None])
    np.copyto(c.label[where], label_id, where=mask)
    np.copyto(c.instance[where], label_id if instance_id is None else instance_id, where=mask)


def _noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Smooth value noise in -1..1 with features about `cell` pixels wide."""
    grid = rng.uniform(-1.0, 1.0, (max(int(shape[0] / cell), 1) + 2, max(int(shape[1] / cell), 1) + 2))
    return resize_bilinear(grid.astype(np.float32), shape)


def _texture(rng: np.random.Generator, shape: tuple[int, int], base, jitter: float,
             blotch: float, cell: float, grain: float) -> np.ndarray:
    """A class colour field: jittered base colour, blotchy brightness at `cell` px, fine grain."""
    colour = np.asarray(base, dtype=np.float32) * rng.uniform(1 - jitter, 1 + jitter, 3).astype(np.float32)
    shade = 1.0 + blotch * _noise(rng, shape, cell)
    fine = grain * rng.standard_normal(shape, dtype=np.float32)
    return colour * shade[:, :, None] + fine[:, :, None]  # (h, w, 3)


def _draw_sky(rng: np.random.Generator, c: _Canvas, horizon: int) -> None:
    clear = rng.random() < 0.7
    top, bottom = ((60, 120, 200), (165, 200, 235)) if clear else ((175, 180, 192), (215, 218, 225))
    t = np.linspace(0.0, 1.0, c.height, dtype=np.float32)[:, None, None] * (c.height / max(horizon, 1))
    t = np.minimum(t, 1.0)
    sky = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t  # (H, 1, 3)
    sky = sky + 6.0 * _noise(rng, (c.height, c.width), 40 * c.scale)[:, :, None]
    _paint(c, (slice(0, c.height), slice(0, c.width)), np.ones((c.height, c.width), bool), sky, SKY)


def _draw_buildings(rng: np.random.Generator, c: _Canvas, horizon: int) -> None:
    """A row of facades standing on the horizon, each with its own colour and window grid."""
    bases = ((190, 170, 140), (150, 85, 65), (125, 125, 130), (205, 200, 190), (95, 85, 90))
    x = -rng.uniform(0, 40) * c.scale
    while x < c.width:
        w = rng.uniform(0.07, 0.24) * c.width
        if rng.random() < 0.15:  # a gap showing the sky
            x += w * 0.5
            continue
        top = horizon * rng.uniform(0.02, 0.75)
        box = _box(c, top, horizon + 2, x, x + w)
        if box is not None:
            where, ys, xs = box
            shape = (ys.shape[0], xs.shape[1])
            wall = _texture(rng, shape, bases[rng.integers(len(bases))], 0.08, 0.06, 30 * c.scale, 3.0)
            px, py = rng.uniform(12, 22) * c.scale, rng.uniform(14, 24) * c.scale
            fx, fy = rng.uniform(0.4, 0.65), rng.uniform(0.4, 0.65)
            windows = (((xs - x) % px) < fx * px) & (((ys - top) % py) < fy * py) & (ys > top + py * 0.6)
            glass = np.asarray((40, 50, 70), np.float32) * rng.uniform(0.7, 1.6)
            _paint(c, where, np.ones(shape, bool), np.where(windows[:, :, None], glass, wall), BUILDING)
        x += w


def _draw_trees(rng: np.random.Generator, c: _Canvas, horizon: int) -> None:
    """Tree crowns with ragged outlines above the horizon, sometimes a hedge along it."""
    for _ in range(rng.integers(1, 6)):
        cx, cy = rng.uniform(0, c.width), horizon - rng.uniform(0.05, 0.5) * horizon
        rx = rng.uniform(15, 55) * c.scale
        ry = rx * rng.uniform(0.8, 1.3)
        box = _box(c, cy - 1.4 * ry, min(cy + 1.4 * ry, horizon + 4 * c.scale), cx - 1.4 * rx, cx + 1.4 * rx)
        if box is not None:
            where, ys, xs = box
            shape = (ys.shape[0], xs.shape[1])
            ragged = 1.0 + 0.35 * _noise(rng, shape, 6 * c.scale)
            crown = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 < ragged
            _paint(c, where, crown, _leaves(rng, c, shape), VEGETATION)
    if rng.random() < 0.4:
        x0 = rng.uniform(0, 0.6) * c.width
        x1 = x0 + rng.uniform(0.15, 0.4) * c.width
        box = _box(c, horizon - 22 * c.scale, horizon + 3 * c.scale, x0, x1)
        if box is not None:
            where, ys, xs = box
            shape = (ys.shape[0], xs.shape[1])
            edge = horizon - (8 + 10 * (1 + _noise(rng, (1, shape[1]), 8 * c.scale)) / 2) * c.scale
            _paint(c, where, ys > edge, _leaves(rng, c, shape), VEGETATION)


def _leaves(rng: np.random.Generator, c: _Canvas, shape: tuple[int, int]) -> np.ndarray:
    return _texture(rng, shape, (70, 125, 50), 0.15, 0.32, 4 * c.scale, 6.0)


@dataclass(frozen=True)
class _Street:
    """Perspective geometry of the ground: edges are straight lines from the horizon down.

    Half-widths are given at the horizon (`*_top`) and at the bottom row; t = 0 at the horizon
    and 1 at the bottom row.
    """

    horizon: int
    height: int
    vanish_x: float
    bottom_x: float
    road_top: float
    road_bottom: float
    walk_top: float
    walk_bottom: float

    def t(self, y):
        return (y - self.horizon) / max(self.height - self.horizon, 1)

    def centre(self, t):
        return self.vanish_x + t * (self.bottom_x - self.vanish_x)

    def road_half(self, t):
        return self.road_top + t * (self.road_bottom - self.road_top)

    def walk_half(self, t):
        return self.road_half(t) + self.walk_top + t * (self.walk_bottom - self.walk_top)


def _random_street(rng: np.random.Generator, c: _Canvas) -> _Street:
    w = c.width
    return _Street(int(c.height * rng.uniform(0.36, 0.5)), c.height, w * rng.uniform(0.38, 0.62),
                   w * rng.uniform(0.35, 0.65), w * rng.uniform(0.015, 0.04), w * rng.uniform(0.4, 0.8),
                   w * rng.uniform(0.005, 0.015), w * rng.uniform(0.12, 0.3))


def _draw_ground(rng: np.random.Generator, c: _Canvas, s: _Street) -> None:
    """Terrain or sidewalk to the sides, sidewalks along the road, the road with its markings."""
    box = _box(c, s.horizon, c.height, 0, c.width)
    if box is None:
        return
    where, ys, xs = box
    shape = (ys.shape[0], xs.shape[1])
    t = s.t(ys)
    offset = np.abs(xs - s.centre(t))  # (h, w) distance from the road's centre line
    left_outer = rng.random() < 0.5
    outer = np.where(xs < s.centre(t), left_outer, rng.random() < 0.5) & (offset >= s.walk_half(t))
    _paint(c, where, outer, _texture(rng, shape, (140, 128, 78), 0.1, 0.16, 12 * c.scale, 5.0), TERRAIN)
    tiles = _texture(rng, shape, (168, 158, 152), 0.06, 0.05, 20 * c.scale, 4.0)
    period = rng.uniform(10, 16) * c.scale
    joints = ((xs % period) < 1.2) | (((ys - s.horizon) / (0.2 + t)) % period < 1.2)
    tiles = np.where(joints[:, :, None], tiles * 0.78, tiles)
    _paint(c, where, ~outer & (offset >= s.road_half(t)), tiles, SIDEWALK)
    road = _texture(rng, shape, (96, 96, 102), 0.08, 0.08, 25 * c.scale, 5.0)
    depth = 1.0 / (t + 0.05)  # lane dashes repeat evenly in depth, so they shrink towards the horizon
    dashes = (offset < (0.6 + 4.0 * t) * c.scale) & ((depth * rng.uniform(0.3, 0.45)) % 1.0 < 0.5)
    edge_lines = rng.random() < 0.5
    lines = dashes | (edge_lines & (np.abs(offset - 0.93 * s.road_half(t)) < (0.4 + 2.5 * t) * c.scale))
    road = np.where(lines[:, :, None], np.float32(225.0) + road * 0.1 - 9.6, road)
    _paint(c, where, offset < s.road_half(t), road, ROAD)


def _draw_barrier(rng: np.random.Generator, c: _Canvas, s: _Street, label_id: int) -> None:
    """A wall (concrete panels) or fence (slats between rails) beside the street, off the road."""
    width = rng.uniform(0.12, 0.3) * c.width
    left_side = rng.random() < 0.5
    limit = s.vanish_x - 0.12 * c.width if left_side else s.vanish_x + 0.12 * c.width
    if left_side:
        x0 = rng.uniform(0, max(limit - width, 1))
    else:
        x0 = rng.uniform(limit, max(c.width - width, limit + 1))
    top = s.horizon - rng.uniform(0.05, 0.12) * c.height
    box = _box(c, top, s.horizon + rng.uniform(0.02, 0.05) * c.height, x0, x0 + width)
    if box is None:
        return
    where, ys, xs = box
    shape = (ys.shape[0], xs.shape[1])
    if label_id == WALL:
        colour = _texture(rng, shape, (172, 166, 154), 0.1, 0.12, 10 * c.scale, 4.0)
        joints = ((xs - x0) % (rng.uniform(20, 34) * c.scale) < 1.5) | ((ys - top) % (9 * c.scale) < 1.2)
        colour = np.where(joints[:, :, None], colour * 0.72, colour)
    else:
        colour = _texture(rng, shape, (128, 92, 58) if rng.random() < 0.6 else (72, 72, 78), 0.1, 0.1,
                          15 * c.scale, 4.0)
        gaps = ((xs - x0) % (rng.uniform(5, 8) * c.scale)) < 2.0 * c.scale
        rails = ((ys - top) < 2.5 * c.scale) | (np.abs(ys - (top + s.horizon) / 2) < 1.5 * c.scale)
        colour = np.where((gaps & ~rails)[:, :, None], colour * 0.45, colour)
    _paint(c, where, np.ones(shape, bool), colour, label_id)


_CAR_COLOURS = ((180, 30, 35), (35, 70, 160), (220, 220, 215), (160, 162, 168), (30, 30, 34), (215, 180, 40),
                (40, 110, 70))


def _draw_car(rng: np.random.Generator, c: _Canvas, cx: float, base: float, width: float,
              instance: int) -> None:
    """Rear view: rounded body, narrower cabin with dark glass, wheels and red lights."""
    height = width * rng.uniform(0.6, 0.75)
    box = _box(c, base - height, base + 0.04 * height, cx - width / 2, cx + width / 2)
    if box is None:
        return
    where, ys, xs = box
    shape = (ys.shape[0], xs.shape[1])
    u, v = np.abs(xs - cx) / (width / 2), (base - ys) / height  # u 0..1 from the middle, v 0..1 upwards
    body = (u**6 + ((v - 0.3) / 0.3) ** 6) < 1.0
    cabin = (v >= 0.5) & (v < 0.97) & (u < 0.86 - 0.3 * (v - 0.5))
    glass = (v > 0.6) & (v < 0.92) & (u < 0.74 - 0.3 * (v - 0.5))
    wheels = ((u - 0.66) / 0.17) ** 2 + ((v - 0.08) / 0.12) ** 2 < 1.0
    lights = (v > 0.3) & (v < 0.42) & (u > 0.7) & (u < 0.92)
    colour = _texture(rng, shape, _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))], 0.1, 0.04, 20 * c.scale, 3.0)
    colour = np.where(glass[:, :, None], np.float32(55.0) + 0.2 * colour, colour)
    colour = np.where(lights[:, :, None], np.asarray((205, 35, 30), np.float32), colour)
    colour = np.where((wheels & ~body)[:, :, None] | (wheels & (v < 0.12))[:, :, None],
                      np.asarray((25, 25, 28), np.float32), colour)
    _paint(c, where, body | cabin | wheels, colour, CAR, CAR * 1000 + instance)


def _draw_person(rng: np.random.Generator, c: _Canvas, cx: float, base: float, height: float,
                 instance: int) -> None:
    """Head, shirt and two legs; at least ~10 px wide at 256x512."""
    width = max(0.3 * height, 10 * c.scale)
    box = _box(c, base - height, base, cx - width / 2, cx + width / 2)
    if box is None:
        return
    where, ys, xs = box
    u, v = np.abs(xs - cx) / (width / 2), (base - ys) / height
    head = (xs - cx) ** 2 + (ys - (base - 0.89 * height)) ** 2 < max(0.095 * height, 0.3 * width) ** 2
    torso = (v > 0.45) & (v < 0.8) & (u < 1.0)
    legs = (v <= 0.47) & (u > 0.1) & (u < 0.85)
    skin = np.asarray((225, 180, 150) if rng.random() < 0.6 else (140, 100, 70), np.float32)
    shirt = rng.uniform(40, 230, 3).astype(np.float32)
    trousers = np.asarray((40, 45, 70), np.float32) * rng.uniform(0.6, 1.6)
    colour = np.where(head[:, :, None], skin, np.where(torso[:, :, None], shirt, trousers))
    colour = colour + 4.0 * rng.standard_normal(colour.shape, dtype=np.float32)
    _paint(c, where, head | torso | legs, colour, PERSON, PERSON * 1000 + instance)


def _draw_pole(rng: np.random.Generator, c: _Canvas, cx: float, base: float, top: float,
               width: float) -> None:
    """A shaded metal pole, often carrying a round, triangular or square sign at its top."""
    box = _box(c, top, base, cx - width / 2, cx + width / 2)
    if box is not None:
        where, ys, xs = box
        shade = 1.15 - 0.5 * ((xs - cx) / (width / 2)) ** 2  # (1, w) cylinder highlight
        metal = np.asarray((128, 130, 134), np.float32) * rng.uniform(0.8, 1.15) * shade[:, :, None]
        column = metal + np.zeros_like(ys)[:, :, None]  # (h, w, 3)
        _paint(c, where, np.ones(column.shape[:2], bool), column, POLE)
    if rng.random() < 0.75:
        size = max(2.2 * width, 18 * c.scale) * rng.uniform(1.0, 1.5)
        box = _box(c, top - size / 2, top + size / 2, cx - size / 2, cx + size / 2)
        if box is not None:
            _draw_sign(rng, c, box, cx, top, size)


def _draw_sign(rng: np.random.Generator, c: _Canvas, box, cx: float, cy: float, size: float) -> None:
    where, ys, xs = box
    du, dv = (xs - cx) / (size / 2), (ys - cy) / (size / 2)  # -1..1 across the sign
    kind = rng.integers(3)
    if kind == 0:  # round: red rim, white face
        r = np.sqrt(du**2 + dv**2)
        shape, face = r < 1.0, r < 0.68
        rim, inner = (200, 30, 35), (235, 235, 235)
    elif kind == 1:  # triangle pointing up: red border, white face
        shape = (dv < 0.8) & (np.abs(du) < (dv + 1.0) / 1.8 * 1.0)
        face = (dv < 0.55) & (np.abs(du) < (dv + 0.55) / 1.8)
        rim, inner = (200, 30, 35), (240, 240, 230)
    else:  # square: white border, blue face
        shape = (np.abs(du) < 0.9) & (np.abs(dv) < 0.9)
        face = (np.abs(du) < 0.7) & (np.abs(dv) < 0.7)
        rim, inner = (235, 235, 235), (35, 75, 170)
    colour = np.where(face[:, :, None], np.asarray(inner, np.float32), np.asarray(rim, np.float32))
    _paint(c, where, shape, colour, TRAFFIC_SIGN)


def _draw_ego_vehicle(rng: np.random.Generator, c: _Canvas) -> None:
    """The bonnet at the bottom: a void id, so these pixels are ignored as in real Cityscapes."""
    rise = rng.uniform(0.05, 0.1) * c.height
    where, ys, xs = _box(c, c.height - rise, c.height, 0, c.width)
    curve = c.height - rise * (1.0 - ((xs - c.width / 2) / (0.75 * c.width)) ** 2)
    gloss = np.asarray((38, 38, 44), np.float32) * (1.0 + 0.4 * (ys - (c.height - rise)) / rise)[:, :, None]
    _paint(c, where, ys > curve, gloss + np.zeros_like(xs)[:, :, None], EGO_VEHICLE)


def _place_objects(rng: np.random.Generator, c: _Canvas, s: _Street) -> list[tuple[float, partial]]:
    """Cars on the road, persons and poles on the sidewalks, as (base_y, draw) pairs."""
    objects = []
    for k in range(rng.integers(0, 5)):
        t = rng.uniform(0.2, 1.0)
        x = s.centre(t) + rng.uniform(-0.75, 0.75) * s.road_half(t)
        width = max(t * c.width * rng.uniform(0.26, 0.36), 26 * c.scale)
        base = s.horizon + t * (c.height - s.horizon)
        objects.append((base, partial(_draw_car, rng, c, x, base, width, k)))
    for k in range(rng.integers(0, 5)):
        t = rng.uniform(0.2, 0.95)
        x = _on_sidewalk(rng, s, t)
        height = max(t * c.height * rng.uniform(0.32, 0.45), 30 * c.scale)
        base = s.horizon + t * (c.height - s.horizon)
        objects.append((base, partial(_draw_person, rng, c, x, base, height, k)))
    for _ in range(rng.integers(0, 4)):
        t = rng.uniform(0.15, 0.9)
        x = _on_sidewalk(rng, s, t)
        top = max(s.horizon - rng.uniform(0.15, 0.45) * c.height * (0.6 + t), 12 * c.scale)
        base = s.horizon + t * (c.height - s.horizon)
        objects.append((base, partial(_draw_pole, rng, c, x, base, top, (8 + 7 * t) * c.scale)))
    return objects


def _on_sidewalk(rng: np.random.Generator, s: _Street, t: float) -> float:
    side = 1.0 if rng.random() < 0.5 else -1.0
    return s.centre(t) + side * (s.road_half(t) + rng.uniform(0.2, 0.8) * (s.walk_half(t) - s.road_half(t)))


def _render(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: (H, W, 3) uint8 image, (H, W) uint8 label ids, (H, W) uint16 instance ids."""
    h, w = size
    c = _Canvas(np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint16),
                min(h / 256, w / 512))
    street = _random_street(rng, c)
    _draw_sky(rng, c, street.horizon)
    _draw_buildings(rng, c, street.horizon)
    _draw_trees(rng, c, street.horizon)
    _draw_ground(rng, c, street)
    for label_id in (WALL, FENCE):
        if rng.random() < 0.4:
            _draw_barrier(rng, c, street, label_id)
    for _, draw in sorted(_place_objects(rng, c, street), key=lambda item: item[0]):  # far to near
        draw()
    if rng.random() < 0.25:
        _draw_ego_vehicle(rng, c)
    # Global lighting and a colour cast, so absolute colours alone do not give the class away.
    light = rng.uniform(0.7, 1.25) * rng.uniform(0.93, 1.07, 3).astype(np.float32)
    sigma = np.float32(rng.uniform(2.0, 5.0))
    noisy = c.image * light + sigma * rng.standard_normal(c.image.shape, dtype=np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), c.label, c.instance


def _sample_files(root: Path, split: str, city: str, core: str, size: tuple[int, int],
                  rng: np.random.Generator) -> dict[Path, Image.Image]:
    """Render one scene and name each of its five PNGs."""
    image, label_ids, instance_ids = _render(rng, size)
    gt = root / "gtFine" / split / city / core
    return {
        root / "leftImg8bit" / split / city / f"{core}_leftImg8bit.png": Image.fromarray(image),
        Path(f"{gt}_gtFine_labelIds.png"): Image.fromarray(label_ids),
        Path(f"{gt}_gtFine_labelTrainIds.png"): Image.fromarray(ID_TO_TRAINID[label_ids].astype(np.uint8)),
        Path(f"{gt}_gtFine_instanceIds.png"): Image.fromarray(instance_ids),  # uint16 -> mode I;16
        Path(f"{gt}_gtFine_color.png"): Image.fromarray(_ID_COLOURS[label_ids]),  # RGBA, as shipped
    }


def _manifest_matches(manifest: Path, params: dict, root: Path) -> bool:
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("params") == params and all((root / p).is_file() for p in recorded.get("files", []))


def _remove_stale(root: Path, split: str, city: str, cores: set[str]) -> None:
    """Delete this generator's files for cores no longer wanted (e.g. after a smaller `count`)."""
    for folder in (root / "leftImg8bit" / split / city, root / "gtFine" / split / city):
        for path in folder.glob(f"{city}_*_*_*.png") if folder.is_dir() else ():
            if "_".join(path.name.split("_")[:3]) not in cores:
                path.unlink()


def _wait(futures: list[Future]) -> None:
    for future in futures:
        future.result()  # re-raises a failed write here


def generate_cityscapes_like(root: str | Path, split: str, count: int, size: tuple[int, int] = (256, 512),
                             seed: int = 0, city: str = "synthtown") -> list[Path]:
    """Write `count` scenes of `size` = (H, W) as Cityscapes `split`; return the image paths.

    Files: `leftImg8bit/<split>/<city>/<core>_leftImg8bit.png` and, in `gtFine/<split>/<city>/`,
    `_labelIds` (label ids), `_labelTrainIds`, `_instanceIds` (uint16, id*1000+k for cars and
    persons) and `_color` PNGs. `root/synthetic_<split>.json`, written last, records the
    parameters: a complete dataset with the same parameters is returned without rewriting.
    """
    if count < 1 or min(size) < 16 or "_" in city:
        raise ValueError(f"need count >= 1, size >= 16 px and a city without '_' "
                         f"(got {count}, {size}, {city!r})")
    root = Path(root)
    params = {"version": _VERSION, "split": split, "count": count, "size": list(size), "seed": seed,
              "city": city}
    manifest = root / f"synthetic_{split}.json"
    cores = [f"{city}_000000_{i:06d}" for i in range(count)]
    images = [root / "leftImg8bit" / split / city / f"{core}_leftImg8bit.png" for core in cores]
    if _manifest_matches(manifest, params, root):
        return images
    manifest.unlink(missing_ok=True)  # an interrupted rewrite must not look complete
    _remove_stale(root, split, city, set(cores))
    split_key = zlib.crc32(split.encode())  # train and val differ even with the same seed
    # PNG encoding and fsync release the GIL, so writing in threads overlaps with drawing the next
    # scene. Level 1 compression: several times faster than the default, same bytes every run.
    with ThreadPoolExecutor(max_workers=4) as pool:
        pending = []
        for i, core in enumerate(cores):
            if len(pending) > 40:  # bound the images held in memory
                _wait(pending)
                pending = []
            rng = np.random.default_rng([seed, split_key, i])
            files = _sample_files(root, split, city, core, tuple(size), rng)
            pending += [pool.submit(save_image_png, path, img, 1) for path, img in files.items()]
        _wait(pending)
    files = [p.relative_to(root).as_posix() for p in images]
    write_json_atomic(manifest, {"params": params, "files": files})
    return images
