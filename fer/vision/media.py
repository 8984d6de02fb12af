"""Analyze an image or a video held in memory: the core shared by the CLI and the web page.

The CLI reads files and writes its outputs next to them; the "Analyze media" page gets an
upload as bytes and must not write the picture anywhere (privacy), so the decoding and the
per-frame loop live here, on arrays and file-like objects, and each caller decides what to
keep.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterator

import numpy as np

from fer.errors import InputError
from fer.vision.records import Face, FrameResult, face_row
from fer.vision.upload import SNIFF_BYTES, UploadLimits, check_image, check_size, identify, open_video


@dataclass(frozen=True)
class ImageAnalysis:
    """One analyzed image: the result in input pixels, and an annotated copy.

    ``annotated`` is BGR at most 4096 px on a side (huge inputs are shrunk for drawing the
    same way they are for analysis).
    """

    result: FrameResult
    annotated: np.ndarray


@dataclass(frozen=True)
class VideoStep:
    """One decoded frame: its time, index, pixels and the latest faces (analyzed or carried)."""

    time: float
    index: int
    image: np.ndarray
    faces: list[Face]
    analyzed: bool


def decode_image(data: bytes, name: str = "upload", limits: UploadLimits = UploadLimits()) -> np.ndarray:
    """The image in ``data`` as 8-bit BGR, after its type and header passed the checks.

    Decoded to 8-bit colour (``IMREAD_COLOR``: 16-bit and alpha are reduced as the analysis
    would, and the camera's EXIF orientation is applied), so what is allocated is what
    :func:`fer.vision.upload.check_image` allowed.
    """
    import cv2

    media = identify(data[:SNIFF_BYTES], name)
    if media.kind != "image":
        raise InputError(f"{name}: is a {media.label} video, not an image")
    check_image(data, media, name, limits)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV's own limits (OPENCV_IO_MAX_IMAGE_PIXELS)
        raise InputError(f"{name}: the {media.label} image cannot be decoded ({str(exc).strip().splitlines()[-1]})") from None
    if image is None:
        raise InputError(f"{name}: the {media.label} image is truncated or corrupt")
    return image


def analyze_image_array(image: np.ndarray, analyzer, name: str = "image") -> ImageAnalysis:
    """Analyze one image and draw the faces on a (possibly shrunk) copy."""
    from fer.vision.annotate import annotate
    from fer.vision.frames import prepare_frame

    try:
        result = analyzer.analyze(image, timestamp=0.0)
        shown = prepare_frame(image)
    except InputError as exc:
        message = str(exc)
        raise InputError(message if message.startswith(name) else f"{name}: {message}") from None
    drawn = [f.scaled(shown.scale) for f in result.faces]
    return ImageAnalysis(result=result, annotated=annotate(shown.bgr, drawn))


class VideoSteps:
    """The decoded frames of a video as :class:`VideoStep`, within limits; iterate it once.

    Every frame is decoded; every ``every``-th one, or at most ``fps`` per second, is analyzed.
    It stops early after ``max_seconds`` of video, ``max_frames`` decoded frames or
    ``max_wall_s`` seconds of ``clock``, and says which in :attr:`stopped` (``"length"``,
    ``"frames"``, ``"time"``); a frame of more than ``max_pixels`` is refused. ``turn`` (a
    context manager factory, such as the server's fair queue) is held while frames are decoded
    up to and including each analyzed one, so a video takes the CPU in turns like a live
    student. ``threads`` sets the decoder's threads (0: FFmpeg's choice). Decoding errors
    propagate as ``av.FFmpegError`` so the caller can keep the partial results.
    """

    def __init__(self, container, analyzer, every: int = 1, fps: float | None = None,
                 max_seconds: float | None = None, max_frames: int | None = None, max_pixels: int | None = None,
                 max_wall_s: float | None = None, turn: Callable[[], ContextManager] | None = None,
                 clock: Callable[[], float] = time.monotonic, threads: int = 0) -> None:
        self.container, self.analyzer, self.every, self.fps = container, analyzer, every, fps
        self.max_seconds, self.max_frames, self.max_pixels, self.max_wall_s = max_seconds, max_frames, max_pixels, max_wall_s
        self.turn, self.clock, self.threads = turn or contextlib.nullcontext, clock, threads
        self.stopped: str | None = None
        self.decoded = 0

    def __iter__(self) -> Iterator[VideoStep]:
        stream = self.container.streams.video[0]
        if self.threads:
            stream.codec_context.thread_count = self.threads
        else:
            stream.thread_type = "AUTO"
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        faces: list[Face] = []
        next_time = 0.0
        frames = iter(self.container.decode(stream))
        start = self.clock()
        while True:
            with self.turn():
                while True:
                    if self.max_wall_s is not None and self.clock() - start > self.max_wall_s:
                        self.stopped = "time"
                        return
                    frame = next(frames, None)
                    if frame is None:
                        return
                    if self.max_frames is not None and self.decoded >= self.max_frames:
                        self.stopped = "frames"
                        return
                    t = float(frame.time) if frame.time is not None else self.decoded / rate
                    if self.max_seconds is not None and t > self.max_seconds:
                        self.stopped = "length"
                        return
                    if self.max_pixels is not None and frame.width * frame.height > self.max_pixels:
                        raise InputError(f"frame {self.decoded} is {frame.width}x{frame.height} pixels, more than "
                                         f"the {self.max_pixels / 1e6:.3g} megapixels allowed")
                    index = self.decoded
                    self.decoded += 1
                    take = t + 1e-9 >= next_time if self.fps else index % self.every == 0
                    image = frame.to_ndarray(format="bgr24")
                    if take and self.fps:
                        next_time = t + 1.0 / self.fps
                    if take:
                        faces = self.analyzer.analyze(image, timestamp=t).faces
                    yield VideoStep(time=t, index=index, image=image, faces=faces, analyzed=take)
                    if take:
                        break


#: The name callers use: ``for step in video_steps(container, analyzer, fps=2): ...``.
video_steps = VideoSteps


@dataclass(frozen=True)
class VideoAnalysis:
    """The per-face table of a video, its emotion mix over time and a timeline PNG.

    ``stopped`` names the limit that ended the analysis early (``"length"``, ``"frames"`` or
    ``"time"``, see :class:`VideoSteps`), ``None`` when the whole video was analyzed;
    ``until_s`` is the time of the last decoded frame.
    """

    rows: list[dict]
    times: list[float]
    mixes: list[np.ndarray | None]
    frames_decoded: int
    timeline_png: bytes
    truncated: bool
    problem: str | None
    stopped: str | None = None
    until_s: float = 0.0


def analyze_video_bytes(
    data: bytes, analyzer, name: str = "upload", fps: float = 2.0, max_seconds: float | None = None,
    limits: UploadLimits = UploadLimits(), turn: Callable[[], ContextManager] | None = None,
    clock: Callable[[], float] = time.monotonic, progress: Callable[[float], None] | None = None,
) -> VideoAnalysis:
    """Analyze an uploaded video in memory (nothing written to disk) within ``limits``.

    ``max_seconds`` overrides ``limits.max_video_s``. The decoder runs on one thread, so that an
    upload holding one slot of ``turn`` uses one core. ``progress`` is called after each
    analyzed frame with the share of the video (up to ``max_seconds``) done; an exception it
    raises (the page's visitor left) ends the analysis and gives the turn back.
    """
    import av

    from fer.charts import mix_timeline_png

    max_seconds = limits.max_video_s if max_seconds is None else max_seconds
    media = identify(data[:SNIFF_BYTES], name)
    if media.kind != "video":
        raise InputError(f"{name}: is a {media.label} image, not a video")
    container = open_video(io.BytesIO(data), name, media, limits.max_video_pixels)
    rows: list[dict] = []
    times: list[float] = []
    mixes: list[np.ndarray | None] = []
    decoded = 0
    problem = None
    truncated = False
    last_time = 0.0
    steps = VideoSteps(container, analyzer, fps=fps, max_seconds=max_seconds, max_frames=limits.max_video_frames,
                       max_pixels=limits.max_video_pixels, max_wall_s=limits.max_analysis_s, turn=turn,
                       clock=clock, threads=1)
    walk = iter(steps)
    length = float(container.duration / av.time_base) if container.duration else None
    target = min(x for x in (length, max_seconds, float("inf")) if x is not None)
    try:
        for step in walk:
            decoded += 1
            last_time = step.time
            if not step.analyzed:
                continue
            rows += [face_row(f, time_s=round(step.time, 3), frame=step.index) for f in step.faces]
            times.append(step.time)
            mixes.append(np.mean([f.probs for f in step.faces], axis=0) if step.faces else None)
            if progress is not None and math.isfinite(target) and target > 0:
                progress(min(1.0, step.time / target))
        duration = length if length is not None else last_time
        truncated = steps.stopped is not None or (max_seconds is not None and duration > max_seconds + 0.5)
    except av.FFmpegError as exc:
        problem = (f"{name}: the video cannot be decoded after {decoded} frames: it is corrupt, or a frame is larger "
                   f"than the {limits.max_video_pixels / 1e6:.3g} megapixels allowed ({exc}); results are partial")
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    finally:
        walk.close()  # gives back the turn it may hold
        container.close()
    if decoded == 0:
        raise InputError(problem or f"{name}: the video has no decodable frames")
    png = mix_timeline_png(times, mixes, title=f"{name}: emotion mix ({len(times)} frames analyzed)")
    return VideoAnalysis(rows=rows, times=times, mixes=mixes, frames_decoded=decoded, timeline_png=png,
                         truncated=truncated, problem=problem, stopped=steps.stopped, until_s=last_time)


def analyze_upload(
    data: bytes, name: str, analyzer, limits: UploadLimits = UploadLimits(), fps: float = 2.0,
    turn: Callable[[], ContextManager] | None = None, progress: Callable[[float], None] | None = None,
) -> ImageAnalysis | VideoAnalysis:
    """Analyze one uploaded file as the "Analyze media" page does: size, type and header first,
    then the image (decoded and analyzed in one ``turn``) or the video (a turn per analyzed frame)."""
    check_size(len(data), name, limits)
    media = identify(data[:SNIFF_BYTES], name)
    if media.kind == "video":
        return analyze_video_bytes(data, analyzer, name, fps=fps, limits=limits, turn=turn, progress=progress)
    check_image(data, media, name, limits)
    with (turn or contextlib.nullcontext)():
        return analyze_image_array(decode_image(data, name, limits), analyzer, name)
