"""Draw glasses, sunglasses, beards, mustaches and occluders onto canonical face crops.

Training data for models/accessories.py, made from real faces: each drawing follows the
face's own mesh points (moved into the canonical crop), with random shapes, sizes, colours
and textures, so the classifiers see many variants of each accessory on real skin, light and
pose. Drawings are made at ``S`` times the canonical size and shrunk, as real photos are.
"""

from __future__ import annotations

import cv2
import numpy as np

from facelake.models.facemesh import FACE_OVAL, LEFT_EYE_RING, RIGHT_EYE_RING

S = 4  # drawing oversample
JAW = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454]
LIPS_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]


def _blend(img: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(np.float32)
    return (img.astype(np.float32) * (1 - a) + colour.astype(np.float32) * a).clip(0, 255).astype(np.uint8)


def _poly(p: np.ndarray) -> np.ndarray:
    return np.round(p * 16).astype(np.int32)  # 4 fractional bits for cv2's shift=4


def _lens(centre: np.ndarray, a: float, b: float, n: float, k: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, k, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    return centre + np.stack([a * np.sign(c) * np.abs(c) ** (2 / n), b * np.sign(s) * np.abs(s) ** (2 / n)], 1)


def glasses(img: np.ndarray, pts: np.ndarray, rng: np.random.Generator, sun: bool) -> np.ndarray:
    """Spectacles (clear lenses) or sunglasses (dark lenses) over the eyes."""
    h, w = img.shape[:2]
    eyes = [pts[RIGHT_EYE_RING].mean(0), pts[LEFT_EYE_RING].mean(0)]
    iod = float(np.linalg.norm(eyes[1] - eyes[0]))
    a = iod * rng.uniform(0.40, 0.58)
    b = a * rng.uniform(0.55, 0.9)
    n = rng.uniform(2.0, 5.0)
    dy = iod * rng.uniform(-0.02, 0.12)
    lenses = [_lens(e + [0, dy], a, b, n) for e in eyes]
    thick = max(1, int(round(iod * rng.uniform(0.015, 0.08))))
    kind = rng.random()
    frame = (np.full(3, rng.uniform(0, 70)) if kind < 0.55 else
             np.full(3, rng.uniform(140, 230)) if kind < 0.75 else rng.uniform(0, 200, 3))
    out = img
    if sun:
        dark = rng.random() < 0.8
        tint = (np.full(3, rng.uniform(0, 50)) + rng.uniform(0, 40, 3)) if dark else rng.uniform(0, 160, 3)
        mask = np.zeros((h, w), np.uint8)
        for lens in lenses:
            cv2.fillPoly(mask, [_poly(lens)], 255, cv2.LINE_AA, 4)
        grad = np.linspace(1.0, rng.uniform(0.7, 1.0), h)[:, None]  # gradient lenses are lighter below
        out = _blend(out, tint, mask / 255.0 * rng.uniform(0.8, 0.98) * grad)
        if rng.random() < 0.5:  # a reflection
            blob = np.zeros((h, w), np.float32)
            e = lenses[rng.integers(2)].mean(0) + rng.uniform(-0.3, 0.3, 2) * a
            cv2.ellipse(blob, tuple(int(v) for v in e), (int(a * 0.4), int(b * 0.25)), rng.uniform(0, 180),
                        0, 360, 1.0, -1)
            shine = cv2.GaussianBlur(blob, (0, 0), a * 0.15) * rng.uniform(0.2, 0.6) * (mask / 255.0)
            out = _blend(out, np.full(3, 255.0), shine)
    elif rng.random() < 0.4:  # a faint reflection on a clear lens
        blob = np.zeros((h, w), np.float32)
        e = lenses[rng.integers(2)].mean(0) + rng.uniform(-0.3, 0.3, 2) * a
        cv2.ellipse(blob, tuple(int(v) for v in e), (int(a * 0.5), int(b * 0.3)), rng.uniform(0, 180), 0, 360, 1.0, -1)
        out = _blend(out, np.full(3, 255.0), cv2.GaussianBlur(blob, (0, 0), a * 0.2) * rng.uniform(0.05, 0.3))
    fm = np.zeros((h, w), np.uint8)
    rimless = not sun and rng.random() < 0.15
    for lens in lenses:
        if rimless:
            cv2.polylines(fm, [_poly(lens)], True, 255, max(1, thick // 3), cv2.LINE_AA, 4)
        elif rng.random() < 0.25:  # browline: heavy top, thin bottom
            top = lens[lens[:, 1] <= lens[:, 1].mean()]
            cv2.polylines(fm, [_poly(top[np.argsort(top[:, 0])])], False, 255, thick * 2, cv2.LINE_AA, 4)
            cv2.polylines(fm, [_poly(lens)], True, 255, max(1, thick // 2), cv2.LINE_AA, 4)
        else:
            cv2.polylines(fm, [_poly(lens)], True, 255, thick, cv2.LINE_AA, 4)
    inner = [lenses[0][np.argmax(lenses[0][:, 0])], lenses[1][np.argmin(lenses[1][:, 0])]]
    mid = (inner[0] + inner[1]) / 2 - [0, b * rng.uniform(0.1, 0.5)]
    cv2.polylines(fm, [_poly(np.array([inner[0] - [0, b * 0.2], mid, inner[1] - [0, b * 0.2]]))], False, 255,
                  thick, cv2.LINE_AA, 4)
    for lens, side in ((lenses[0], pts[234]), (lenses[1], pts[454])):  # temples toward the ears
        outer = lens[np.argmin(lens[:, 0])] if side[0] < lens[:, 0].mean() else lens[np.argmax(lens[:, 0])]
        cv2.line(fm, tuple(_poly(outer - [0, b * 0.3])), tuple(_poly(np.array([side[0], outer[1] - b * 0.3]))),
                 255, thick, cv2.LINE_AA, 4)
    return _blend(out, frame, fm / 255.0 * rng.uniform(0.75, 1.0))


def _hair(img: np.ndarray, region: np.ndarray, rng: np.random.Generator, density: float) -> np.ndarray:
    """Hair strands inside a soft ``region`` mask (float 0..1)."""
    h, w = img.shape[:2]
    base = rng.choice([0, 1, 2, 3], p=[0.45, 0.3, 0.15, 0.1])
    colour = [np.array([25, 20, 18]), np.array([70, 50, 35]), np.array([150, 145, 140]), np.array([150, 90, 50])][base]
    colour = colour * rng.uniform(0.7, 1.3)
    strands = np.zeros((h, w), np.float32)
    ys, xs = np.nonzero(region > 0.3)
    if len(xs) == 0:
        return img
    count = int(len(xs) / (S * S) * density * 1.5)
    pick = rng.integers(0, len(xs), count)
    length = S * rng.uniform(1.0, 3.5)
    for x, y in zip(xs[pick], ys[pick]):
        ang = np.pi / 2 + rng.normal(0, 0.5)
        dx, dy = np.cos(ang) * length, np.sin(ang) * length
        cv2.line(strands, (int(x), int(y)), (int(x + dx), int(y + dy)), float(rng.uniform(0.5, 1.0)), 1, cv2.LINE_AA)
    alpha = np.clip(strands * 0.8 + density * 0.5, 0, 1) * region
    shade = colour * rng.uniform(0.8, 1.2, (h, w, 1))
    return _blend(img, shade, alpha)


def beard(img: np.ndarray, pts: np.ndarray, rng: np.random.Generator, with_mustache: bool,
          density: tuple[float, float] = (0.55, 1.0)) -> np.ndarray:
    """A full beard or a chin beard along the jaw, below the mouth and up the cheeks; with a low
    ``density``, a light stubble instead (which our labels do not call a beard)."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.float32)
    jaw = pts[JAW]
    top = rng.uniform(0.25, 0.75)  # how far up the cheeks, between mouth level and the nose
    nose_y, mouth_y = pts[2, 1], pts[LIPS_OUTER, 1].mean()
    cheek_y = mouth_y - top * (mouth_y - nose_y)
    if rng.random() < 0.3:  # goatee / chin beard: only around the chin
        chin = pts[[172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397]]
        poly = np.vstack([chin, pts[[291, 0, 61]] + [0, (mouth_y - nose_y) * 0.3]])
    else:
        poly = np.vstack([jaw[jaw[:, 1] >= cheek_y], [[pts[454, 0], cheek_y], [pts[234, 0], cheek_y]]])
        poly = poly[np.argsort(np.arctan2(poly[:, 1] - poly[:, 1].mean(), poly[:, 0] - poly[:, 0].mean()))]
    cv2.fillPoly(mask, [_poly(poly)], 1.0, cv2.LINE_AA, 4)
    if with_mustache:
        cv2.fillPoly(mask, [_poly(_mustache_region(pts))], 1.0, cv2.LINE_AA, 4)
    lips = np.zeros((h, w), np.float32)
    cv2.fillPoly(lips, [_poly(pts[LIPS_OUTER])], 1.0, cv2.LINE_AA, 4)
    mask = cv2.GaussianBlur(mask * (1 - lips), (0, 0), S * 1.2)
    return _hair(img, mask, rng, rng.uniform(*density))


def _mustache_region(pts: np.ndarray) -> np.ndarray:
    return pts[[61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 410, 322, 2, 92, 186]] + [0, 0]


def mustache(img: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.float32)
    region = _mustache_region(pts)
    centre = region.mean(0)
    region = centre + (region - centre) * [rng.uniform(1.0, 1.3), rng.uniform(0.8, 1.2)]
    cv2.fillPoly(mask, [_poly(region)], 1.0, cv2.LINE_AA, 4)
    lips = np.zeros((h, w), np.float32)
    cv2.fillPoly(lips, [_poly(pts[LIPS_OUTER])], 1.0, cv2.LINE_AA, 4)
    mask = cv2.GaussianBlur(mask * (1 - lips * 0.8), (0, 0), S)
    return _hair(img, mask, rng, rng.uniform(0.5, 1.0))


def occluder(img: np.ndarray, pts: np.ndarray, rng: np.random.Generator, masks: list[np.ndarray]) -> np.ndarray:
    """A medical mask, a hand or an object over part of the face."""
    h, w = img.shape[:2]
    kind = rng.random()
    if kind < 0.4 and masks:  # mask texture warped from the nose bridge to below the chin
        tex = masks[rng.integers(len(masks))]
        top = pts[6, 1] + (pts[2, 1] - pts[6, 1]) * rng.uniform(0.1, 0.5)
        below = (pts[152, 1] - pts[2, 1]) * rng.uniform(0.05, 0.25)
        quad = np.float32([[pts[234, 0], top], [pts[454, 0], top],
                           [pts[397, 0], pts[152, 1] + below], [pts[172, 0], pts[152, 1] + below]])
        th, tw = tex.shape[:2]
        m = cv2.getPerspectiveTransform(np.float32([[0, 0], [tw, 0], [tw, th], [0, th]]), quad)
        warped = cv2.warpPerspective(tex, m, (w, h))
        alpha = cv2.warpPerspective(np.ones((th, tw), np.float32), m, (w, h))
        shade = rng.uniform(0.6, 1.1)
        return _blend(img, warped * shade, alpha)
    face = pts[FACE_OVAL]
    x0, y0 = face.min(0)
    x1, y1 = face.max(0)
    fw, fh = x1 - x0, y1 - y0
    alpha = np.zeros((h, w), np.float32)
    if kind < 0.75:  # hand: a palm and fingers, in a skin colour
        cx, cy = int(pts[50, 0]), int(pts[50, 1])  # a cheek point
        colour = np.median(img[cy - S:cy + S, cx - S:cx + S].reshape(-1, 3), 0)
        colour = colour * rng.uniform(0.7, 1.2, 3)
        c = np.array([rng.uniform(x0, x1), rng.uniform(y0 + 0.4 * fh, y1 + 0.2 * fh)])
        ang = rng.uniform(-np.pi, np.pi)
        palm = (int(fw * rng.uniform(0.2, 0.3)), int(fh * rng.uniform(0.15, 0.25)))
        cv2.ellipse(alpha, tuple(int(v) for v in c), palm, np.degrees(ang), 0, 360, 1.0, -1, cv2.LINE_AA)
        for k in range(4):
            a = ang + (k - 1.5) * 0.25
            tip = c + np.array([np.cos(a), np.sin(a)]) * fw * rng.uniform(0.4, 0.6)
            cv2.line(alpha, tuple(int(v) for v in c), tuple(int(v) for v in tip), 1.0, int(fw * 0.08), cv2.LINE_AA)
        mottle = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), S * 3)[..., None]
        shade = colour * (0.85 + 0.3 * mottle)
    else:  # an object: phone, cup, microphone, another head...
        colour = rng.uniform(0, 255, 3)
        side = rng.integers(4)
        cover = rng.uniform(0.25, 0.5)
        if side == 0:
            box = (x0 - fw * 0.2, y1 - cover * fh, x1 + fw * 0.2, y1 + fh * 0.2)
        elif side == 1:
            box = (x0 - fw * 0.2, y0 - 0.1 * fh, x0 + cover * fw, y1)
        elif side == 2:
            box = (x1 - cover * fw, y0 - 0.1 * fh, x1 + fw * 0.2, y1)
        else:
            cx, cy = rng.uniform(x0, x1), rng.uniform(y0 + 0.3 * fh, y1)
            box = (cx - cover * fw / 2, cy - cover * fh / 2, cx + cover * fw / 2, cy + cover * fh / 2)
        if rng.random() < 0.5:
            cv2.rectangle(alpha, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), 1.0, -1)
        else:
            cv2.ellipse(alpha, (int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)),
                        (int((box[2] - box[0]) / 2), int((box[3] - box[1]) / 2)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), S * rng.uniform(0.5, 4))
        shade = colour * (0.7 + 0.6 * noise[..., None])
    return _blend(img, shade, alpha)


def degrade(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photo conditions: a smaller face (down and up again), light and contrast changes."""
    h, w = face.shape[:2]
    s = rng.uniform(0.3, 1.0)
    if s < 0.95:
        small = cv2.resize(face, (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA)
        face = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    gain, bias = rng.uniform(0.7, 1.3), rng.uniform(-25, 25)
    return np.clip(face.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)

