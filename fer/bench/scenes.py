"""Real-face test frames with known ("golden") boxes, for tests and benchmarks.

Photos of groups with hand-drawn boxes would need licences and labelling; instead real
FER-2013 faces are scaled and placed at known positions on real photos that ship with
scikit-image (a development dependency). The astronaut photo adds one natural face, boxed
by hand. Nothing here is used when serving.

:func:`compose` makes clean scenes (tests rely on them); :func:`hard_scene` makes the
benchmarks' scenes, closer to a webcam in a real room: a texture laid over the photo (stripes,
checks or blotches, which make edges where there is no face), faces from 40 to 200 pixels,
uneven light over the whole frame (faces included), sensor noise and JPEG compression.
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
    return _place(frame, boxes, [-1] * len(boxes), faces, labels, n_faces, rng, face_px)


def _place(frame, boxes, placed_labels, faces, labels, n_faces, rng, face_px, log_sizes=False) -> Scene:
    """Paste ``n_faces`` random faces into ``frame`` (in place) where they overlap nothing."""
    height, width = frame.shape[:2]
    boxes, placed_labels = list(boxes), list(placed_labels)
    for _ in range(n_faces):
        for _attempt in range(200):
            if log_sizes:
                side = int(round(np.exp(rng.uniform(np.log(face_px[0]), np.log(face_px[1])))))
            else:
                side = int(rng.integers(face_px[0], face_px[1] + 1))
            x = int(rng.integers(0, width - side + 1))
            y = int(rng.integers(0, height - side + 1))
            box = (x, y, x + side, y + side)
            if not _overlaps(box, boxes, gap=side // 3):
                break
        else:
            break
        index = int(rng.integers(len(faces)))
        shrink = side < faces.shape[1]
        face = cv2.resize(faces[index], (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        frame[y : y + side, x : x + side] = face[:, :, None]
        boxes.append(box)
        placed_labels.append(int(labels[index]))
    return Scene(frame=frame, boxes=boxes, labels=placed_labels)


#: Face sides of the benchmarks' hard scenes, in pixels of a 640x480 frame; sides are drawn
#: log-uniformly, so small faces (the hard ones) are as common as in a room seen from the front.
HARD_FACE_PX = (40, 200)
#: The "small faces" of the benchmarks: sides in this range.
SMALL_FACE_PX = (40, 60)


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A gray ``(height, width)`` float texture in [0, 1]: stripes, checks or blotches."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = int(rng.integers(3))
    if kind == 0:  # stripes at a random angle and period
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 30)
        return 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    if kind == 1:  # a checkerboard
        cell = int(rng.integers(8, 40))
        return ((xx // cell + yy // cell) % 2).astype(np.float32)
    coarse = rng.random((max(2, height // 24), max(2, width // 24))).astype(np.float32)  # blotches
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def hard_scene(
    faces: np.ndarray,
    labels: np.ndarray,
    n_faces: int,
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
    face_px: tuple[int, int] = HARD_FACE_PX,
    background: str = "coffee",
) -> Scene:
    """A :func:`compose` scene made harder (see the module docstring); same golden boxes.

    Faces are drawn log-uniformly in ``face_px``; the texture covers the background only, the
    light and the noise cover everything.
    """
    width, height = size
    base = compose(faces, labels, 0, rng, size=size, background=background)
    texture = _texture(rng, width, height)[:, :, None]
    strength = rng.uniform(0.15, 0.4)
    frame = (base.frame.astype(np.float32) * (1 - strength) + 255.0 * texture * strength).astype(np.uint8)
    scene = _place(frame, base.boxes, base.labels, faces, labels, n_faces, rng, face_px, log_sizes=True)
    # Uneven light: a ramp across the frame in a random direction, and one bright spot.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - width / 2) * np.cos(angle) + (yy - height / 2) * np.sin(angle)) / max(width, height)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.25 * width) ** 2))
    light = 0.85 + rng.uniform(0.4, 0.9) * ramp + rng.uniform(0.0, 0.4) * spot
    lit = scene.frame.astype(np.float32) * light[:, :, None]
    lit += rng.normal(0.0, rng.uniform(3.0, 9.0), lit.shape)  # sensor noise
    frame = lit.clip(0, 255).astype(np.uint8)
    quality = int(rng.integers(55, 91))  # webcam streams are compressed
    frame = cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
    return Scene(frame=frame, boxes=scene.boxes, labels=scene.labels)


def hard_scenes(count: int, seed: int, n_faces: tuple[int, int] = (1, 10), face_px: tuple[int, int] = HARD_FACE_PX):
    """``count`` hard scenes of FER-2013 PrivateTest faces, ``n_faces`` (inclusive range) each,
    on the backgrounds in turn; ``None`` when the data set is not present."""
    faces = fer_faces()
    if faces is None:
        return None
    rng = np.random.default_rng(seed)
    return [
        hard_scene(faces.images, faces.labels, int(rng.integers(n_faces[0], n_faces[1] + 1)), rng,
                   face_px=face_px, background=BACKGROUNDS[i % len(BACKGROUNDS)])
        for i in range(count)
    ]


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
