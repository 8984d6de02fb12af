"""Real-face test frames with known ("golden") boxes, for tests and benchmarks.

Photos of groups with hand-drawn boxes would need licences and labelling; instead real
FER-2013 faces are scaled up and placed at known positions on real photos that ship with
scikit-image (a development dependency). The astronaut photo adds one natural face, boxed
by hand. Nothing here is used when serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from fer.vision.records import Box

#: scikit-image photos used as backgrounds (the cat tests that detectors skip animal faces).
BACKGROUNDS = ("coffee", "rocket", "chelsea", "astronaut")
#: Hand-drawn box of Eileen Collins' face in ``skimage.data.astronaut()`` (512x512).
ASTRONAUT_FACE: Box = (180, 60, 268, 172)


@dataclass(frozen=True)
class Scene:
    """A BGR uint8 frame, its golden face boxes and the FER-2013 label of each placed face."""

    frame: np.ndarray
    boxes: list[Box] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


def photo(name: str) -> tuple[np.ndarray, list[Box]]:
    """A scikit-image photo as BGR uint8, with the boxes of the real faces in it."""
    try:
        import skimage.data
    except ImportError:
        raise RuntimeError("test scenes need scikit-image (pip install -r requirements-dev.txt)") from None
    rgb = getattr(skimage.data, name)()
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    bgr = np.ascontiguousarray(rgb[:, :, :3][:, :, ::-1])
    return bgr, [ASTRONAUT_FACE] if name == "astronaut" else []


def _scale_box(box: Box, sx: float, sy: float) -> Box:
    return (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))


def _overlaps(box: Box, others: list[Box], gap: int) -> bool:
    return any(
        box[0] < o[2] + gap and o[0] < box[2] + gap and box[1] < o[3] + gap and o[1] < box[3] + gap
        for o in others
    )


def compose(
    faces: np.ndarray,
    labels: np.ndarray,
    n_faces: int,
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
    face_px: tuple[int, int] = (64, 112),
    background: str = "coffee",
) -> Scene:
    """Place ``n_faces`` random FER-2013 faces (``(N, 48, 48)`` uint8) without overlap.

    Faces are drawn from ``faces`` at random, scaled to a side in ``face_px`` and pasted
    gray into the colour photo resized to ``size`` (width, height). Fewer faces are placed
    when the frame is full.
    """
    width, height = size
    bg, real = photo(background)
    sy, sx = height / bg.shape[0], width / bg.shape[1]
    frame = cv2.resize(bg, (width, height), interpolation=cv2.INTER_AREA)
    boxes = [_scale_box(b, sx, sy) for b in real]
    placed_labels = [-1] * len(boxes)
    for _ in range(n_faces):
        for _attempt in range(200):
            side = int(rng.integers(face_px[0], face_px[1] + 1))
            x = int(rng.integers(0, width - side + 1))
            y = int(rng.integers(0, height - side + 1))
            box = (x, y, x + side, y + side)
            if not _overlaps(box, boxes, gap=side // 3):
                break
        else:
            break
        index = int(rng.integers(len(faces)))
        face = cv2.resize(faces[index], (side, side), interpolation=cv2.INTER_CUBIC)
        frame[y : y + side, x : x + side] = face[:, :, None]
        boxes.append(box)
        placed_labels.append(int(labels[index]))
    return Scene(frame=frame, boxes=boxes, labels=placed_labels)


def swaying(frame: np.ndarray, count: int, period: int = 16) -> list[np.ndarray]:
    """``count`` copies of ``frame`` shifted back and forth, up to 16x24 pixels each ``period``.

    Why: a student in front of a webcam never holds still, so benchmarks of a stream must make
    the tracker follow a moving face between full searches, not find it where it was.
    """
    half = max(1, period // 2)
    steps = [min(i % period, period - i % period) * 8 / half for i in range(count)]
    return [np.roll(frame, (round(2 * k), round(3 * k)), axis=(0, 1)) for k in steps]


def fer_faces(split: str = "PrivateTest"):
    """The FER-2013 split used for scenes; ``None`` when the data set is not present."""
    from fer.training.data import default_dataset_path, load_fer2013

    path = default_dataset_path()
    if path is None:
        return None
    return load_fer2013(path)[split]
