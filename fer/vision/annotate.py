"""Draw analyzed faces onto a copy of a frame: box, track id, label and probability bars.

Used by the CLI's annotated outputs; drawing never modifies the caller's frame.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from fer.emotions import COLORS_BGR, EMOTIONS
from fer.vision.records import Face


def annotate(frame_bgr: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A copy of ``frame_bgr`` with each face's box, ``#id label`` and seven bars drawn."""
    out = frame_bgr.copy()
    height, width = out.shape[:2]
    unit = max(1.0, min(width, height) / 480.0)  # keep text readable on large frames
    thickness = max(1, int(round(2 * unit)))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for face in faces:
        x1, y1, x2, y2 = face.box
        top = int(np.argmax(face.probs))
        color = COLORS_BGR[top]
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        bar_h = max(3, int(round((y2 - y1) / len(EMOTIONS))))
        bar_w = max(20, int(round((x2 - x1) * 0.6)))
        bx = x2 + thickness * 2 if x2 + thickness * 2 + bar_w < width else max(0, x1 - bar_w - thickness * 2)
        for i, (name, p) in enumerate(zip(EMOTIONS, face.probs)):
            by = y1 + i * bar_h
            if by + bar_h > height:
                break
            cv2.rectangle(out, (bx, by), (bx + bar_w, by + bar_h - 1), (50, 50, 50), -1)
            cv2.rectangle(out, (bx, by), (bx + int(bar_w * float(p)), by + bar_h - 1), COLORS_BGR[i], -1)
            if bar_h >= 10:
                cv2.putText(out, name[:3], (bx + 2, by + bar_h - 2), font, bar_h / 30.0, (255, 255, 255), 1)
    for face in faces:  # tags last, so no face's bars cover another's tag
        x1, y1 = face.box[:2]
        top = int(np.argmax(face.probs))
        text = f"#{face.track_id} {face.label} {face.probs[top]:.0%}"
        scale = 0.5 * unit
        (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
        ty = max(th + base, y1 - int(4 * unit))
        # A filled tag in the emotion's colour with white text reads on any background
        # (coloured text alone vanished on similar colours).
        cv2.rectangle(out, (x1, ty - th - base), (min(width - 1, x1 + tw + 4), ty + base // 2), COLORS_BGR[top], -1)
        cv2.putText(out, text, (x1 + 2, ty - base // 2), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out
