"""Face crops in the form the emotion model was trained on: square, gray, 48x48.

FER-2013 faces are square and framed from forehead to chin, while detector boxes are
tighter (Haar) or taller than wide (MTCNN); so each box becomes a square around its centre,
enlarged by ``margin``. Faces cut by the frame edge still get a full square: the missing
part is filled by replicating the edge pixels, which keeps the crop's statistics closer to a
real face than a black bar would.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from fer.data import IMAGE_SIZE
from fer.records import Box

#: Default enlargement of the square's side over the box's longer side.
DEFAULT_MARGIN = 0.1


def square_box(box: Box, margin: float = DEFAULT_MARGIN) -> Box:
    """The square ``(x1, y1, x2, y2)`` centred on ``box``; it may extend past the frame."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1.0 + margin)
    half = side / 2.0
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    sx1, sy1 = int(round(cx - half)), int(round(cy - half))
    side_px = max(1, int(round(side)))
    return (sx1, sy1, sx1 + side_px, sy1 + side_px)


def crop_face(gray: np.ndarray, box: Box, margin: float = DEFAULT_MARGIN, size: int = IMAGE_SIZE) -> np.ndarray:
    """One ``(size, size)`` uint8 crop of the gray frame around ``box``, edge-replicated."""
    height, width = gray.shape[:2]
    x1, y1, x2, y2 = square_box(box, margin)
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    if cx2 <= cx1 or cy2 <= cy1:
        raise ValueError(f"box {box} lies outside the {width}x{height} frame")
    patch = gray[cy1:cy2, cx1:cx2]
    pads = (cy1 - y1, y2 - cy2, cx1 - x1, x2 - cx2)
    if any(pads):
        patch = cv2.copyMakeBorder(patch, *pads, borderType=cv2.BORDER_REPLICATE)
    shrinking = patch.shape[0] > size
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def crop_faces(gray: np.ndarray, boxes: Sequence[Box], margin: float = DEFAULT_MARGIN, size: int = IMAGE_SIZE) -> np.ndarray:
    """All faces of one frame as a ``(N, size, size)`` uint8 batch (``N`` may be 0)."""
    crops = np.empty((len(boxes), size, size), np.uint8)
    for i, box in enumerate(boxes):
        crops[i] = crop_face(gray, box, margin, size)
    return crops
