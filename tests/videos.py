"""Labelled test videos (H.264 MP4) built from still photos, for shot, black-frame, colour-bar and face tests.

A video is a list of `Shot`s rendered frame by frame in RGB (numpy/OpenCV) and streamed to libx264 with
PyAV; `make_video` returns the ground truth and writes it beside the video as `<path>.json`.

Frame conventions (frame numbers count from 0; a range [a, b] includes both ends):

* `Shot.frames` counts every frame on which the shot's picture is visible, transition frames included.
* dissolve of T frames into shot i: shot i's first T frames overlap shot i-1's last T frames; dissolve
  frame j (0..T-1) is (1 - a) * previous + a * next with a = (j + 1) / (T + 1), so the video is T frames
  shorter than the sum of `frames`. In "shots" the first T // 2 dissolve frames belong to shot i-1, the
  rest (those with a >= 1/2) to shot i.
* fade of T frames into shot i: shot i-1's last T frames are scaled by (T-1)/T, …, 1/T, 0 and shot i's first
  T frames by 0, 1/T, …, (T-1)/T; both 0-frames are exact black. No overlap: shot i starts where it is
  first visible (as a black frame).
* "cuts" holds only hard cuts: the first frame of each shot after the first one whose `into` is "cut". It
  is the whole ground truth for shot-boundary detection: a cut reported anywhere else is a false one.
  "gradual" (dissolve and fade frames), "flashes" (the flashed frames) and "fast_motion" (the frames of
  fast-motion shots, as in "shots") say where false cuts are likely; a reported cut at f falls "there"
  when f or f - 1 lies in one of them.
* "black" uses Rekognition's rule on the rendered RGB frame (see `is_black`); "bars" is a range per
  bars shot, as in "shots".
* "faces" maps a frame number (an int here, a string in the JSON) to the faces on it: [identity,
  x1/W, y1/H, x2/W, y2/H], the box clipped to the visible part of its photo. A face is listed when at
  least 90% of its box is visible and the visible part is at least 40 px wide; never on dissolve or
  fade frames, but still on (washed-out) flash frames.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

Box = tuple[float, float, float, float]

KINDS = ("photo", "two", "bars_smpte", "bars_ebu", "black", "flat")
# motion -> (zoom on the first frame, zoom on the last frame, pans horizontally)
MOTIONS = {"still": (1.0, 1.0, False), "zoom": (1.0, 1.15, False),
           "pan": (1.12, 1.12, True), "fast": (1.3, 1.5, True)}
INTOS = ("cut", "dissolve", "fade")
BACKGROUND = 64  # dark grey behind photos that do not cover their panel: not black by Rekognition's rule
FLAT = 128  # the "flat" card: mid grey
FACE_SPAN = 0.6  # at the shot's largest zoom, the faces span at most this share of their panel
MARGIN = 0.02  # the camera keeps faces this share of the canvas away from its edges
BT709 = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass
class Photo:
    """A still photo with its labelled faces: (identity, (x1, y1, x2, y2) in pixels of `rgb`)."""

    rgb: np.ndarray
    faces: list[tuple[str, Box]]

    def flipped(self) -> Photo:
        """The photo mirrored left to right, boxes included."""
        w = self.rgb.shape[1]
        faces = [(who, (w - x2, y1, w - x1, y2)) for who, (x1, y1, x2, y2) in self.faces]
        return Photo(self.rgb[:, ::-1].copy(), faces)


@dataclass
class Shot:
    """One shot of a test video; see the module docstring for how transitions are laid out.

    kind: "photo", "two" (two photos side by side), "bars_smpte", "bars_ebu", "black" or "flat" (mid grey).
    motion: "zoom" (15% in), "pan" (slow, horizontal), "fast" (fast pan and zoom, not a cut) or "still".
    flash_at: camera flashes (not cuts): frames o and o + 1 of the shot blended 70% toward white.
    into: how the shot begins: "cut", "dissolve" or "fade" (through black), taking `transition` frames
    (for a fade, each half does).
    """

    kind: str
    frames: int
    photos: Sequence[Photo] = ()
    motion: str = "zoom"
    flash_at: tuple[int, ...] = ()
    into: str = "cut"
    transition: int = 0


def is_black(rgb: np.ndarray) -> bool:
    """Rekognition's black frame: >= 99% of pixels have limited-range BT.709 luma <= 16 + 0.2 * (235 - 16)."""
    mean_luma = float(np.dot(cv2.mean(rgb)[:3], BT709))
    if mean_luma > 0.99 * 51 + 0.01 * 255:  # cheap bound: a black frame's full-range mean luma is at most this
        return False
    limited = 16 + rgb.reshape(-1, 3).astype(np.float32) @ BT709 * (219 / 255)
    return np.count_nonzero(limited <= 16 + 0.2 * (235 - 16)) >= 0.99 * limited.size


@lru_cache(maxsize=8)
def _card(kind: str, width: int, height: int) -> np.ndarray:
    """A static card, drawn numerically (read-only, shared between frames)."""
    img = np.zeros((height, width, 3), np.uint8)
    if kind == "flat":
        img[:] = FLAT
    elif kind == "bars_ebu":  # EBU 100/0/75/0: white at 100%, colours at 75%, black
        colours = [(255, 255, 255), (191, 191, 0), (0, 191, 191), (0, 191, 0),
                   (191, 0, 191), (191, 0, 0), (0, 0, 191), (0, 0, 0)]
        _stripes(img, 0, height, [(i / 8, c) for i, c in enumerate(colours)])
    elif kind == "bars_smpte":  # SMPTE EG 1-1990, NTSC-style 7.5 IRE black (19)
        top, mid = round(0.67 * height), round(0.75 * height)
        bars = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191)]
        _stripes(img, 0, top, [(i / 7, c) for i, c in enumerate(bars)])
        reverse = [(0, 0, 191), (19, 19, 19), (191, 0, 191), (19, 19, 19), (0, 191, 191), (19, 19, 19), (191, 191, 191)]
        _stripes(img, top, mid, [(i / 7, c) for i, c in enumerate(reverse)])
        # -I, 100% white, +Q, black (each 5/4 of a bar), PLUGE -4%/0/+4% (each 1/3 of a bar), black
        bottom = [(0, (0, 33, 76)), (5 / 28, (255, 255, 255)), (10 / 28, (50, 0, 106)), (15 / 28, (19, 19, 19)),
                  (5 / 7, (9, 9, 9)), (16 / 21, (19, 19, 19)), (17 / 21, (29, 29, 29)), (6 / 7, (19, 19, 19))]
        _stripes(img, mid, height, bottom)
    elif kind != "black":
        raise ValueError(f"not a card: {kind!r}")
    img.setflags(write=False)
    return img


def _stripes(img: np.ndarray, y0: int, y1: int, stripes: list[tuple[float, tuple[int, int, int]]]) -> None:
    """Paint rows y0..y1-1 with vertical stripes given as (left edge as a share of the width, colour)."""
    width = img.shape[1]
    edges = [round(x * width) for x, _ in stripes] + [width]
    for (_, colour), x0, x1 in zip(stripes, edges, edges[1:]):
        img[y0:y1, x0:x1] = colour


class _Scene:
    """Renders one shot: frame(j) and faces(j) for j in 0..frames-1 of the shot."""

    def __init__(self, shot: Shot, size: tuple[int, int]):
        self.shot, self.size = shot, size
        self.flashed = {o + k for o in shot.flash_at for k in (0, 1)}
        self.panels: list[tuple[np.ndarray, float, float, int, int, list]] = []
        if shot.kind not in ("photo", "two"):
            return
        width, height = size
        zmax = max(MOTIONS[shot.motion][:2])
        cells = [(0, width)] if shot.kind == "photo" else [(0, width // 2), (width // 2, width)]
        for photo, (cx0, cx1) in zip(shot.photos, cells):
            self.panels.append(self._place(photo, cx0, cx1 - cx0, height, zmax))
        boxes = [box for *_, faces in self.panels for _, box in faces]  # all faces, in canvas px at zoom 1
        self.span = [(min(b[k] for b in boxes), max(b[k + 2] for b in boxes)) if boxes else (n / 2, n / 2)
                     for k, n in enumerate(size)]
        self.anchor = [self._anchor(k, zmax) for k in (0, 1)]

    @staticmethod
    def _place(photo: Photo, x0: int, pw: int, ph: int, zmax: float):
        """Scale `photo` to cover its panel (or less, over grey, if its faces would be too big) with the
        faces as central as the cover allows; -> (scaled rgb, its offset, panel x0, x1, faces in canvas px)."""
        h, w = photo.rgb.shape[:2]
        scale = max(pw / w, ph / h)
        if photo.faces:
            fx0, fy0 = (min(b[k] for _, b in photo.faces) for k in (0, 1))
            fx1, fy1 = (max(b[k] for _, b in photo.faces) for k in (2, 3))
            scale = min(scale, FACE_SPAN / zmax * min(pw / max(fx1 - fx0, 1), ph / max(fy1 - fy0, 1)))
            centre = ((fx0 + fx1) / 2, (fy0 + fy1) / 2)
        else:
            centre = (w / 2, h / 2)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        rgb = cv2.resize(photo.rgb, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        sx, sy = sw / w, sh / h
        # put the faces' centre at the panel's centre, then keep the photo covering the panel (or inside it)
        ox = float(np.clip(pw / 2 - sx * centre[0], min(0, pw - sw), max(0, pw - sw))) + x0
        oy = float(np.clip(ph / 2 - sy * centre[1], min(0, ph - sh), max(0, ph - sh)))
        faces = [(who, (sx * a + ox, sy * b + oy, sx * c + ox, sy * d + oy)) for who, (a, b, c, d) in photo.faces]
        return rgb, ox, oy, x0, x0 + pw, faces

    def _anchor(self, axis: int, zmax: float) -> float:
        """The fixed point of a zoom on `axis`: keeps the faces inside the canvas up to `zmax`."""
        n, (f0, f1) = self.size[axis], self.span[axis]
        centre = (f0 + f1) / 2
        if zmax == 1:
            return centre
        m = MARGIN * n
        lo, hi = max(0, (zmax * f1 - n + m) / (zmax - 1)), min(n, (zmax * f0 - m) / (zmax - 1))
        return float(np.clip(centre, lo, hi) if lo <= hi else np.clip(centre, 0, n))

    def camera(self, j: int) -> tuple[float, float, float]:
        """Zoom z and offsets (bx, by) on frame j: canvas point = z * scene point + b."""
        z0, z1, pans = MOTIONS[self.shot.motion]
        u = j / max(1, self.shot.frames - 1)
        z = z0 + (z1 - z0) * u
        bx, by = (a * (1 - z) for a in self.anchor)
        if pans:  # sweep the offsets that keep the frame on the scene (and, where possible, the faces in)
            n, (f0, f1), m = self.size[0], self.span[0], MARGIN * self.size[0]
            lo, hi = n * (1 - z), 0.0
            if max(lo, m - z * f0) <= min(hi, n - m - z * f1):
                lo, hi = max(lo, m - z * f0), min(hi, n - m - z * f1)
            bx = hi + (lo - hi) * u
        return z, bx, by

    def _visible(self, j: int):
        """For each panel: (its photo, affine photo->canvas, its visible rect, faces in canvas px)."""
        if not self.panels:
            return
        z, bx, by = self.camera(j)
        width, height = self.size
        for rgb, ox, oy, x0, x1, faces in self.panels:
            rect = (max(0, round(z * x0 + bx)), max(0, round(by)),
                    min(width, round(z * x1 + bx)), min(height, round(z * height + by)))
            affine = np.array([[z, 0, z * ox + bx], [0, z, z * oy + by]])
            yield rgb, affine, rect, [(who, (z * a + bx, z * b + by, z * c + bx, z * d + by))
                                      for who, (a, b, c, d) in faces]

    def frame(self, j: int) -> np.ndarray:
        """The RGB frame j of the shot (possibly a shared read-only array)."""
        width, height = self.size
        if not self.panels:
            img = _card(self.shot.kind, width, height)
        else:
            img = np.empty((height, width, 3), np.uint8)
            for rgb, affine, (x0, y0, x1, y1), _ in self._visible(j):
                affine[:, 2] -= (x0, y0)
                img[y0:y1, x0:x1] = cv2.warpAffine(rgb, affine, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(BACKGROUND,) * 3)
        return cv2.convertScaleAbs(img, alpha=0.3, beta=0.7 * 255) if j in self.flashed else img

    def faces(self, j: int) -> list[list]:
        """Labels of the faces on frame j: [identity, x1/W, y1/H, x2/W, y2/H] of the visible box."""
        width, height = self.size
        out = []
        for _, _, (rx0, ry0, rx1, ry1), faces in self._visible(j):
            for who, (a, b, c, d) in faces:
                v = (max(a, rx0), max(b, ry0), min(c, rx1), min(d, ry1))
                seen = max(0, v[2] - v[0]) * max(0, v[3] - v[1])
                if seen >= 0.9 * (c - a) * (d - b) and v[2] - v[0] >= 40:
                    out.append([who, *(round(float(x) / n, 5) for x, n in zip(v, (width, height) * 2))])
        return out


def _starts(shots: Sequence[Shot]) -> list[int]:
    """Check the plan; -> the first frame on which each shot is visible."""
    if not shots:
        raise ValueError("no shots")
    starts = []
    for i, s in enumerate(shots):
        t_in = s.transition if s.into != "cut" else 0
        nxt = shots[i + 1] if i + 1 < len(shots) else None
        t_out = nxt.transition if nxt is not None and nxt.into != "cut" else 0
        if s.kind not in KINDS or s.motion not in MOTIONS or s.into not in INTOS:
            raise ValueError(f"shot {i}: unknown kind, motion or into: {s}")
        if len(s.photos) != {"photo": 1, "two": 2}.get(s.kind, 0):
            raise ValueError(f"shot {i}: wrong number of photos for a {s.kind!r} shot")
        if s.into != "cut" and s.transition < 1 or s.into == "dissolve" and i == 0:
            raise ValueError(f"shot {i}: a {s.into} needs transition >= 1 frames (and a previous shot)")
        if s.frames < max(1, t_in + t_out) or any(not 0 <= o <= s.frames - 2 for o in s.flash_at):
            raise ValueError(f"shot {i}: {s.frames} frames cannot hold its transitions and flashes")
        starts.append(0 if i == 0 else starts[-1] + shots[i - 1].frames - (t_in if s.into == "dissolve" else 0))
    return starts


def make_video(path: str | Path, shots: Sequence[Shot], fps: Fraction = Fraction(30000, 1001),
               size: tuple[int, int] = (1280, 720), crf: int = 20) -> dict:
    """Render `shots` to an H.264 MP4 at `path` (streamed, frame by frame); -> labels, also in `<path>.json`."""
    fps, (width, height) = Fraction(fps), size
    if width % 2 or height % 2:
        raise ValueError("yuv420p needs an even width and height")
    starts = _starts(shots)
    firsts = [start + s.transition // 2 if s.into == "dissolve" else start for start, s in zip(starts, shots)]
    shot_ranges = [[a, b - 1] for a, b in zip(firsts, firsts[1:] + [starts[-1] + shots[-1].frames])]
    gradual = [[start if s.into == "dissolve" else max(0, start - s.transition), start + s.transition - 1]
               for start, s in zip(starts, shots) if s.into != "cut"]
    labels: dict = {
        "fps": [fps.numerator, fps.denominator], "frames": shot_ranges[-1][1] + 1, "width": width, "height": height,
        "cuts": [starts[i] for i, s in enumerate(shots) if i and s.into == "cut"],
        "shots": shot_ranges,
        "gradual": gradual,
        "flashes": sorted(starts[i] + o + k for i, s in enumerate(shots) for o in s.flash_at for k in (0, 1)),
        "fast_motion": [r for r, s in zip(shot_ranges, shots) if s.kind in ("photo", "two") and s.motion == "fast"],
        "black": [],
        "bars": [r for r, s in zip(shot_ranges, shots) if s.kind.startswith("bars_")],
        "faces": {},
    }
    in_gradual = np.zeros(labels["frames"], bool)
    for a, b in gradual:
        in_gradual[a:b + 1] = True

    def fade(i: int, j: int) -> float:
        """Brightness of shot i's frame j from fades into it and out of it."""
        s, nxt = shots[i], shots[i + 1] if i + 1 < len(shots) else None
        k = 1.0
        if s.into == "fade" and j < s.transition:
            k = j / s.transition
        if nxt is not None and nxt.into == "fade" and j >= s.frames - nxt.transition:
            k = min(k, (s.frames - 1 - j) / nxt.transition)
        return k

    scenes: dict[int, _Scene] = {}

    def scene(i: int) -> _Scene:
        for old in [k for k in scenes if k < i - 1]:
            del scenes[old]  # a scene holds its scaled photos; keep only the live ones
        if i not in scenes:
            scenes[i] = _Scene(shots[i], size)
        return scenes[i]

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = 1 / fps
        cc = stream.codec_context  # tag the BT.709 limited range that frames are converted to below
        cc.colorspace, cc.color_primaries, cc.color_trc = Colorspace.ITU709, ColorPrimaries.BT709, ColorTrc.BT709
        cc.color_range = ColorRange.MPEG
        drop_frame = fps in (Fraction(30000, 1001), Fraction(60000, 1001))
        stream.metadata["timecode"] = "00:00:00;00" if drop_frame else "00:00:00:00"  # mov writes a tmcd track
        i = 0
        run: list[int] | None = None
        for f in range(labels["frames"]):
            while starts[i] + shots[i].frames <= f:
                i += 1
            if i + 1 < len(shots) and starts[i + 1] <= f:  # inside a dissolve into shot i + 1
                a = (f - starts[i + 1] + 1) / (shots[i + 1].transition + 1)
                img = cv2.addWeighted(scene(i).frame(f - starts[i]), 1 - a,
                                      scene(i + 1).frame(f - starts[i + 1]), a, 0)
            else:
                img, k = scene(i).frame(f - starts[i]), fade(i, f - starts[i])
                if k < 1:
                    img = cv2.convertScaleAbs(img, alpha=k)
                if not in_gradual[f] and (faces := scene(i).faces(f - starts[i])):
                    labels["faces"][f] = faces
            if is_black(img):
                if run is None or run[1] != f - 1:
                    labels["black"].append(run := [f, f])
                run[1] = f
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(  # swscale's default would be BT.601
                format="yuv420p", src_colorspace=Colorspace.ITU709, dst_colorspace=Colorspace.ITU709,
                src_color_range=ColorRange.JPEG, dst_color_range=ColorRange.MPEG,
                dst_color_trc=ColorTrc.BT709, dst_color_primaries=ColorPrimaries.BT709)
            frame.pts, frame.time_base = f, 1 / fps
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    Path(f"{path}.json").write_text(json.dumps(labels))
    return labels


def standard_plan(photos_by_identity: dict[str, list[Photo]]) -> list[Shot]:
    """The standard ~27 s test video (810 frames at 29.97 fps) from the first four identities A-D (sorted keys).

    bars_smpte 60 | black 30 | A zoom 90 | B pan 90 | C+D zoom 90 | dissolve 20 into B again 80 | A still
    90 with a flash at 40 | C fast 60 | fade 15+15 into D 90 | black 45 | bars_ebu 45 | A zoom 60.
    A re-appearing identity takes its next photo when it has one (B's second shot otherwise a mirror image).
    """
    if len(photos_by_identity) < 4 or not all(photos_by_identity.values()):
        raise ValueError("standard_plan needs photos of at least four identities")
    a, b, c, d = (photos_by_identity[k] for k in sorted(photos_by_identity)[:4])

    def nth(photos: list[Photo], k: int) -> Photo:
        return photos[k % len(photos)]

    return [
        Shot("bars_smpte", 60),
        Shot("black", 30),
        Shot("photo", 90, [a[0]], "zoom"),
        Shot("photo", 90, [b[0]], "pan"),
        Shot("two", 90, [c[0], d[0]], "zoom"),
        Shot("photo", 80, [b[1] if len(b) > 1 else b[0].flipped()], "zoom", into="dissolve", transition=20),
        Shot("photo", 90, [nth(a, 1)], "still", flash_at=(40,)),
        Shot("photo", 60, [nth(c, 1)], "fast"),
        Shot("photo", 90, [nth(d, 1)], "zoom", into="fade", transition=15),
        Shot("black", 45),
        Shot("bars_ebu", 45),
        Shot("photo", 60, [nth(a, 2)], "zoom"),
    ]


def photos_with_faces(files_by_identity: dict[str, list[Path]], max_side: int = 1024) -> dict[str, list[Photo]]:
    """Photos of labelled people, each photo's largest face boxed by facelake's own detector (the
    label is its box in the still; the video then moves it by a known transform)."""
    from PIL import Image

    from facelake.models.analyzer import FaceAnalyzer
    from facelake.models.images import DecodedImage

    analyzer = FaceAnalyzer()
    out: dict[str, list[Photo]] = {}
    for who, files in files_by_identity.items():
        for f in files:
            img = Image.open(f).convert("RGB")
            img.thumbnail((max_side, max_side))
            rgb = np.asarray(img)
            faces = analyzer.analyze(DecodedImage(rgb, rgb.shape[1], rgb.shape[0], "JPEG", None), embed=False)
            if faces:
                out.setdefault(who, []).append(Photo(rgb, [(who, tuple(float(v) for v in faces[0].box))]))
    return out
