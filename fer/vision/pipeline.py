"""FrameAnalyzer: one call per frame from pixels to tracked, smoothed emotions per face.

    >>> from fer import FrameAnalyzer
    >>> analyzer = FrameAnalyzer()                # nothing is loaded yet
    >>> result = analyzer.analyze(frame_bgr)      # uint8 (H, W, 3)
    >>> [(f.track_id, f.box, f.label) for f in result.faces]

Stages: :mod:`fer.vision.frames` (validate/convert) -> :mod:`fer.vision.detect` ->
:mod:`fer.vision.pose` -> :mod:`fer.vision.crop` -> :mod:`fer.vision.classify` (one batched
call) -> :mod:`fer.vision.track`, one :class:`fer.vision.records.Face` record per face filled
in stage by stage. An analyzer holds the tracking state of one video stream, so use one per
stream; the model and detector behind it are shared by all analyzers of the process.

With no arguments it is the fast served path: the LiteRT model, the YuNet detector, the
crop framing measured for it, and the classifier on every core (one stream has the machine
to itself). The live app, which runs one analysis per core, passes ``classifier_threads=1``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fer.vision.classify import SERVED_MODEL_PATH, EmotionClassifier
from fer.vision.crop import Framing, framing_for
from fer.vision.detect import DEFAULT_DETECTOR, FaceDetector, make_detector
from fer.vision.frames import MAX_SIDE, prepare_frame
from fer.vision.pose import head_pose
from fer.vision.records import Face, FrameResult
from fer.vision.track import FaceFollower, FaceTracker, TrackerOptions


@dataclass(frozen=True)
class AnalyzerOptions:
    """Settings of a :class:`FrameAnalyzer`; the defaults are the fast served path.

    ``model_path``: emotion model (default the LiteRT file the app serves; ``.keras`` works
    with TensorFlow installed).
    ``detector``: ``"yunet"``, ``"haar"`` or ``"mtcnn"`` (:data:`fer.vision.detect.DEFAULT_DETECTOR`).
    ``detect_max_side``: longest side of the copy the detector searches (None: detector default).
    ``detect_upscale``: YuNet only: enlarge frames smaller than ``detect_max_side`` to it, since
    YuNet finds small faces more often in an enlarged copy, at the cost of its pixels
    (:attr:`fer.vision.detect.YuNetDetector.upscale`; the "Analyze media" page's search).
    ``detect_recheck``: YuNet's second look, the score from which a doubtful face is searched
    again enlarged (:attr:`fer.vision.detect.YuNetDetector.recheck_from`; None: its default, 0: none).
    ``detect_every``: run the detector on every k-th frame and follow tracked boxes between (1 = always).
    ``framing``: how a box becomes the square crop (:class:`fer.vision.crop.Framing`); None takes
    the one measured for the detector (:data:`fer.vision.crop.FRAMINGS`).
    ``align``: level the eye line of each crop with the detector's landmarks (YuNet, MTCNN;
    Haar gives none, so it changes nothing there); ``python -m fer bench-align`` measured it.
    ``pose``: head pose and the facing flag from the landmarks (:mod:`fer.vision.pose`).
    ``follow``: between full searches, move each tracked box onto its face by template
    matching (:class:`fer.vision.track.FaceFollower`, any detector), so a moving face stays in its
    crop; off, boxes stay where the last search found them.
    ``classifier_threads``: threads of the classifier (LiteRT): all cores for one stream on
    its own (the CLI, a script); 1 where analyses already run one per core (the live app).
    ``max_frame_side``: larger frames are shrunk to this first (boxes are still reported in input pixels).
    ``smoothing``, ``iou_threshold``, ``max_missed_frames``, ``max_missed_seconds``: see
    :class:`fer.vision.track.TrackerOptions`.
    """

    model_path: str | os.PathLike = SERVED_MODEL_PATH
    detector: str = DEFAULT_DETECTOR
    detect_max_side: int | None = None
    detect_recheck: float | None = None
    detect_upscale: bool = False
    detect_every: int = 1
    framing: Framing | None = None
    align: bool = True
    pose: bool = True
    follow: bool = True
    classifier_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_frame_side: int = MAX_SIDE
    smoothing: float = 0.4
    iou_threshold: float = 0.3
    max_missed_frames: int = 10
    max_missed_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.classifier_threads < 1:
            raise ValueError(f"classifier_threads must be >= 1, got {self.classifier_threads}")


class FrameAnalyzer:
    """Detect, classify, track and smooth every face of a stream's frames.

    ``FrameAnalyzer(options)`` or ``FrameAnalyzer(detector="haar", detect_every=3)``
    (keyword overrides of :class:`AnalyzerOptions`). A custom ``face_detector`` object
    replaces the named one. Heavy resources load on the first :meth:`analyze`, or on
    :meth:`load` when a caller wants errors (e.g. a missing model) up front.
    """

    def __init__(
        self,
        options: AnalyzerOptions | None = None,
        *,
        face_detector: FaceDetector | None = None,
        **overrides,
    ) -> None:
        if options is None:
            options = AnalyzerOptions(**overrides)
        elif overrides:
            options = replace(options, **overrides)
        self.options = options
        if face_detector is None:
            extra = {"max_side": options.detect_max_side} if options.detect_max_side else {}
            if options.detector == "yunet":
                if options.detect_recheck is not None:
                    extra["recheck_from"] = options.detect_recheck
                if options.detect_upscale:
                    extra["upscale"] = True
            face_detector = make_detector(options.detector, **extra)
        self.detector = face_detector
        self.framing = options.framing or framing_for(getattr(face_detector, "name", options.detector))
        self.classifier = EmotionClassifier(Path(options.model_path), threads=options.classifier_threads)
        self.tracker = FaceTracker(
            TrackerOptions(
                iou_threshold=options.iou_threshold,
                smoothing=options.smoothing,
                max_missed_frames=options.max_missed_frames,
                max_missed_seconds=options.max_missed_seconds,
            )
        )
        self.follower = FaceFollower()
        self._frames = 0

    def load(self) -> "FrameAnalyzer":
        """Load the model and the detector now; raises ModelLoadError / DetectorError."""
        self.classifier.load()
        self.detector.detect(np.zeros((64, 64, 3), np.uint8))
        return self

    def reset(self) -> None:
        """Forget all tracks (a new stream or a scene cut)."""
        self.tracker.reset()
        self.follower.reset()
        self._frames = 0

    def _detect(self, bgr: np.ndarray) -> list[Face]:
        faces = self.detector.detect(bgr)
        if self.options.pose:
            size = (bgr.shape[1], bgr.shape[0])
            faces = [replace(f, pose=head_pose(f.landmarks, size)) for f in faces]
        return faces

    def _follow(self, gray: np.ndarray) -> list[Face]:
        """Between full searches, the live tracks' faces moved onto where they are in ``gray``.

        A face the follower cannot find keeps its box until the next full search decides
        whether it is gone; either way it is marked not detected, with the score of its last
        detection. Landmarks move with the box, so aligned crops stay aligned.
        """
        faces = self.tracker.live_faces()
        if not self.options.follow or not faces:
            return [f.moved(f.box) for f in faces]
        found = self.follower.follow(gray, [(f.track_id, f.box) for f in faces])
        return [f.moved(f.box if box is None else box) for f, box in zip(faces, found)]

    def analyze(self, frame: np.ndarray, timestamp: float | None = None) -> FrameResult:
        """Analyze one frame (uint8 BGR preferred; gray, BGRA, 16-bit and float are converted).

        ``timestamp`` in seconds drives track expiry; it defaults to the monotonic clock.
        Raises :class:`fer.errors.InputError` for frames that cannot be analyzed.
        """
        now = time.monotonic() if timestamp is None else float(timestamp)
        prepared = prepare_frame(frame, self.options.max_frame_side)
        run_detector = self._frames % self.options.detect_every == 0
        self._frames += 1
        faces = self._detect(prepared.bgr) if run_detector else self._follow(prepared.gray)
        crops = self.framing.crops(prepared.gray, faces, align=self.options.align)
        probs = self.classifier.predict(crops)
        faces = self.tracker.update([replace(f, probs=p) for f, p in zip(faces, probs)], now)
        if run_detector and self.options.follow:
            self.follower.remember(prepared.gray, [(f.track_id, f.box) for f in faces])
        if prepared.scale != 1.0:
            faces = [f.scaled(1.0 / prepared.scale, prepared.input_size) for f in faces]
        return FrameResult(faces=faces, timestamp=now, frame_size=prepared.input_size, detected=run_detector)
