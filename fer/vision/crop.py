"""Face crops in the form the emotion model was trained on: square, gray, 48x48.

FER-2013 faces are square and framed from forehead to chin, while each detector frames a
face its own way (Haar tight and square, MTCNN and YuNet taller than wide, YuNet down to
below the chin); so each box becomes a square around its centre, its side taken from the
box's longer side or its width and enlarged by ``margin``: a :class:`Framing`, chosen per
detector by ``python -m fer bench-detect --margins`` (:data:`FRAMINGS`). Faces cut by the frame edge still get a full square: the missing
part is filled by replicating the edge pixels, which keeps the crop's statistics closer to a
real face than a black bar would.

FER-2013 faces are also roughly upright (eyes level), while students tilt their heads. Where
the detector gives landmarks (MTCNN), the square can be turned about its centre so that the
eye line comes out horizontal, as in the training data; ``python -m fer bench-align``
measures whether that helps the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from fer.emotions import IMAGE_SIZE
from fer.vision.records import Box, Face

#: Default enlargement of the square's side over the box's side.
DEFAULT_MARGIN = 0.1
#: Which side of a box the square's side is taken from.
SIDES = ("longer", "width")

#: Eye-line tilts below this many degrees are left alone: landmark noise on an upright face
#: is of this order, and a resampled crop differs from the plain one for no gain.
MIN_ALIGN_DEGREES = 3.0
#: Tilts above this many degrees are taken for a landmark glitch (a head tilted further is
#: rare in class, and MTCNN then swaps or misplaces eyes), so the crop is not turned.
MAX_ALIGN_DEGREES = 45.0


@dataclass(frozen=True)
class Framing:
    """How a detector's box becomes the square crop: ``side`` (``"longer"`` or ``"width"``)
    of the box, enlarged by ``margin`` (0.1 = 10 %), centred on the box."""

    side: str = "longer"
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {self.side!r}")
        if not -0.5 < self.margin < 2.0:
            raise ValueError(f"margin must be in (-0.5, 2), got {self.margin}")

    def crops(self, gray: np.ndarray, faces: Sequence[Face], align: bool = True, size: int = IMAGE_SIZE) -> np.ndarray:
        """The ``(N, size, size)`` crops of these face records (eye line levelled where they
        have landmarks and ``align`` is on)."""
        landmarks = [f.landmarks for f in faces] if align else None
        return crop_faces(gray, [f.box for f in faces], self.margin, size, landmarks, side=self.side)


#: The framing of each detector's boxes, measured by ``python -m fer bench-detect --margins``
#: (the README's table): the one whose crops the model labels best, against the exact regions.
FRAMINGS: dict[str, Framing] = {
    "yunet": Framing("longer", 0.0),
    "haar": Framing("longer", 0.0),
    "mtcnn": Framing("longer", 0.0),
}


def framing_for(detector: str) -> Framing:
    """The measured framing of a named detector; the default one for others."""
    return FRAMINGS.get(detector, Framing())


def square_box(box: Box, margin: float = DEFAULT_MARGIN, side: str = "longer") -> Box:
    """The square ``(x1, y1, x2, y2)`` centred on ``box``; it may extend past the frame."""
    x1, y1, x2, y2 = box
    base = x2 - x1 if side == "width" else max(x2 - x1, y2 - y1)
    side = base * (1.0 + margin)
    half = side / 2.0
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    sx1, sy1 = int(round(cx - half)), int(round(cy - half))
    side_px = max(1, int(round(side)))
    return (sx1, sy1, sx1 + side_px, sy1 + side_px)


def eye_angle(landmarks: np.ndarray | None) -> float | None:
    """Degrees to turn the crop by to level the eyes, or None where it should stay as it is.

    Positive means the image-right eye sits lower (y grows downwards). Tiny tilts and
    implausible ones (see :data:`MIN_ALIGN_DEGREES` / :data:`MAX_ALIGN_DEGREES`) give None,
    so that a missing, noisy or glitched landmark set costs nothing but the plain crop.
    """
    if landmarks is None:
        return None
    points = np.asarray(landmarks, np.float64)
    if points.shape != (5, 2) or not np.isfinite(points[:2]).all():
        return None
    dx, dy = points[1] - points[0]
    if dx == 0.0 and dy == 0.0:
        return None
    angle = math.degrees(math.atan2(dy, dx))
    if abs(angle) < MIN_ALIGN_DEGREES or abs(angle) > MAX_ALIGN_DEGREES:
        return None
    return angle


def _rotated_crop(gray: np.ndarray, square: Box, angle: float, size: int) -> np.ndarray:
    """The square turned by ``angle`` about its centre, sampled straight from the frame.

    One inverse-mapped ``warpAffine`` reads only the pixels it needs, so no rotated copy of
    the frame is made, and ``BORDER_REPLICATE`` fills what lies past the frame edge the same
    way the plain crop's padding does. The map matches ``cv2.resize``'s pixel-centre
    convention, so a zero angle gives the plain crop's geometry. Bilinear sampling alone
    aliases when a large face shrinks to 48 pixels, where the plain crop averages with
    ``INTER_AREA``; so a face more than 1.5x larger than the output is sampled at k times
    the output size and then box-averaged by k (an exact ``INTER_AREA`` step), which keeps
    aligned and plain crops of the same face equally sharp.
    """
    x1, y1, x2, _ = square
    side = x2 - x1
    factor = max(1, int(math.ceil(side / size))) if side > 1.5 * size else 1
    out = size * factor
    step = side / out  # source pixels per output pixel
    radians = math.radians(angle)
    cos, sin = math.cos(radians) * step, math.sin(radians) * step
    centre_src = (x1 + side / 2.0 - 0.5, y1 + side / 2.0 - 0.5)
    centre_dst = out / 2.0 - 0.5
    inverse = np.array(
        [
            [cos, -sin, centre_src[0] - (cos - sin) * centre_dst],
            [sin, cos, centre_src[1] - (sin + cos) * centre_dst],
        ],
        np.float64,
    )
    crop = cv2.warpAffine(
        gray, inverse, (out, out),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )
    if factor > 1:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop


def crop_face(
    gray: np.ndarray,
    box: Box,
    margin: float = DEFAULT_MARGIN,
    size: int = IMAGE_SIZE,
    landmarks: np.ndarray | None = None,
    side: str = "longer",
) -> np.ndarray:
    """One ``(size, size)`` uint8 crop of the gray frame around ``box``, edge-replicated.

    ``landmarks`` (the detector's ``(5, 2)`` points, frame pixels) levels the eye line; without
    them, or for tilts :func:`eye_angle` rejects, the crop is the plain square, unchanged.
    """
    height, width = gray.shape[:2]
    x1, y1, x2, y2 = square_box(box, margin, side)
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    if cx2 <= cx1 or cy2 <= cy1:
        raise ValueError(f"box {box} lies outside the {width}x{height} frame")
    angle = eye_angle(landmarks)
    if angle is not None:
        return _rotated_crop(gray, (x1, y1, x2, y2), angle, size)
    patch = gray[cy1:cy2, cx1:cx2]
    pads = (cy1 - y1, y2 - cy2, cx1 - x1, x2 - cx2)
    if any(pads):
        patch = cv2.copyMakeBorder(patch, *pads, borderType=cv2.BORDER_REPLICATE)
    shrinking = patch.shape[0] > size
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def crop_faces(
    gray: np.ndarray,
    boxes: Sequence[Box],
    margin: float = DEFAULT_MARGIN,
    size: int = IMAGE_SIZE,
    landmarks: Sequence[np.ndarray | None] | None = None,
    side: str = "longer",
) -> np.ndarray:
    """All faces of one frame as a ``(N, size, size)`` uint8 batch (``N`` may be 0).

    ``landmarks``, when given, pairs each box with its detector landmarks or None, so one
    frame can mix faces the detector gave points for with faces it did not.
    """
    if landmarks is not None and len(landmarks) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(landmarks)} landmark entries")
    crops = np.empty((len(boxes), size, size), np.uint8)
    for i, box in enumerate(boxes):
        crops[i] = crop_face(gray, box, margin, size, None if landmarks is None else landmarks[i], side)
    return crops
