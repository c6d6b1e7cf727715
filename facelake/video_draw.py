"""``--draw OUT.mp4`` of the video commands: the video again, with each face's box and person
number (held from one analysed frame to the next) and the current shot and cue written on it."""

from __future__ import annotations

import bisect
import sys
from collections import defaultdict

import av
import cv2

from facelake.models.video import frames, probe
from facelake.schemas.errors import RekognitionError

COLORS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
          (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def draw_video(uri: str, faces: list[dict], segments: list[dict], out: str) -> None:
    """Write ``out`` (H.264 MP4): ``uri``'s frames at their size (at most 1280 px) with ``faces``
    (video_faces rows) and ``segments`` (segments rows) drawn."""
    info = probe(uri)
    by_frame = defaultdict(list)
    for f in faces:
        by_frame[f["frame_number"]].append(f)
    analysed = sorted(by_frame)
    hold = max(1, round(float(info.rate)))  # a face stays drawn up to a second after its frame
    labels = sorted((s["start_frame_number"], s["end_frame_number"],
                     f"shot {s['shot_index']}" if s["type"] == "SHOT" else s["technical_cue_type"]) for s in segments)
    try:
        container = av.open(out, "w")
    except (av.FFmpegError, OSError) as e:
        raise RekognitionError(f"cannot write {out}: {e}") from None
    with container:
        stream = None
        for fr in frames(uri, info, 0, sys.maxsize, analyse=lambda n: True):  # to the end, whatever the header says
            rgb = fr.image.rgb.copy()
            h, w = rgb.shape[:2]
            if stream is None:
                stream = container.add_stream("libx264", rate=info.rate)
                stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
            i = bisect.bisect_right(analysed, fr.number) - 1
            if i >= 0 and fr.number - analysed[i] <= hold:
                for face in by_frame[analysed[i]]:
                    bb, color = face["bounding_box"], COLORS[face["person_index"] % len(COLORS)]
                    p1 = (round(bb["left"] * w), round(bb["top"] * h))
                    p2 = (round((bb["left"] + bb["width"]) * w), round((bb["top"] + bb["height"]) * h))
                    cv2.rectangle(rgb, p1, p2, color, 2)
                    cv2.putText(rgb, f"person {face['person_index']}", (p1[0], max(12, p1[1] - 6)),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 2)
            text = " | ".join(label for a, b, label in labels if a <= fr.number <= b)
            cv2.putText(rgb, f"{fr.number}  {text}", (10, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            frame = av.VideoFrame.from_ndarray(rgb[: stream.height, : stream.width], format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
