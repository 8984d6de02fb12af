"""Analyze an image or a video held in memory: the core shared by the CLI and the web page.

The CLI reads files and writes its outputs next to them; the "Analyze media" page gets an
upload as bytes and must not write the picture anywhere (privacy), so the decoding and the
per-frame loop live here, on arrays and file-like objects, and each caller decides what to
keep.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np

from fer.errors import InputError
from fer.vision.records import Face, FrameResult


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


def decode_image(data: bytes, name: str = "upload") -> np.ndarray | None:
    """The image in ``data`` (any bit depth and channel count), or ``None`` if not an image."""
    import cv2

    if not data:
        raise InputError(f"{name}: file is empty (0 bytes)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
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
    s = shown.scale
    drawn = [Face(tuple(int(round(v * s)) for v in f.box), f.probs, f.track_id, f.score) for f in result.faces]
    return ImageAnalysis(result=result, annotated=annotate(shown.bgr, drawn))


def open_video(source: str | BinaryIO, name: str):
    """An opened ``av`` container with a video stream, or :class:`InputError` saying why not."""
    import av

    try:
        container = av.open(source)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{name}: neither an image nor a video that can be decoded ({exc})") from None
    if container.format.name == "tty":  # FFmpeg "plays" any text file as ANSI art
        container.close()
        raise InputError(f"{name}: neither an image nor a video that can be decoded (text file)")
    if not container.streams.video:
        container.close()
        raise InputError(f"{name}: has no video stream")
    return container


def video_steps(
    container, analyzer, every: int = 1, fps: float | None = None, max_seconds: float | None = None
) -> Iterator[VideoStep]:
    """Decode every frame, analyzing every ``every``-th one or at most ``fps`` per second.

    Stops after ``max_seconds`` of video when given. Decoding errors propagate as
    ``av.FFmpegError`` so the caller can keep the partial results.
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = float(stream.average_rate) if stream.average_rate else 25.0
    faces: list[Face] = []
    next_time = 0.0
    decoded = 0
    for frame in container.decode(stream):
        t = float(frame.time) if frame.time is not None else decoded / rate
        if max_seconds is not None and t > max_seconds:
            return
        index = decoded
        decoded += 1
        take = t + 1e-9 >= next_time if fps else index % every == 0
        image = frame.to_ndarray(format="bgr24")
        if take and fps:
            next_time = t + 1.0 / fps
        if take:
            faces = analyzer.analyze(image, timestamp=t).faces
        yield VideoStep(time=t, index=index, image=image, faces=faces, analyzed=take)


@dataclass(frozen=True)
class VideoAnalysis:
    """The per-face table of a video, its emotion mix over time and a timeline PNG."""

    rows: list[dict]
    times: list[float]
    mixes: list[np.ndarray | None]
    frames_decoded: int
    timeline_png: bytes
    truncated: bool
    problem: str | None


def analyze_video_bytes(
    data: bytes, analyzer, name: str = "upload", fps: float = 2.0, max_seconds: float = 60.0
) -> VideoAnalysis:
    """Analyze an uploaded video in memory (nothing written to disk)."""
    import av

    from fer.emotions import EMOTIONS
    from fer.charts import mix_timeline_png

    container = open_video(io.BytesIO(data), name)
    rows: list[dict] = []
    times: list[float] = []
    mixes: list[np.ndarray | None] = []
    decoded = 0
    problem = None
    truncated = False
    last_time = 0.0
    try:
        for step in video_steps(container, analyzer, fps=fps, max_seconds=max_seconds):
            decoded += 1
            last_time = step.time
            if not step.analyzed:
                continue
            for f in step.faces:
                rows.append({"time_s": round(step.time, 3), "frame": step.index, "track_id": f.track_id,
                             "label": f.label, "confidence": round(float(np.max(f.probs)), 4),
                             **{n: round(float(p), 4) for n, p in zip(EMOTIONS, f.probs)}})
            times.append(step.time)
            mixes.append(np.mean([f.probs for f in step.faces], axis=0) if step.faces else None)
        duration = float(container.duration / av.time_base) if container.duration else last_time
        truncated = duration > max_seconds + 0.5
    except av.FFmpegError as exc:
        problem = f"{name}: the video is corrupt after {decoded} frames ({exc}); results are partial"
    finally:
        container.close()
    if decoded == 0:
        raise InputError(problem or f"{name}: the video has no decodable frames")
    png = mix_timeline_png(times, mixes, title=f"{name}: emotion mix ({len(times)} frames analyzed)")
    return VideoAnalysis(rows=rows, times=times, mixes=mixes, frames_decoded=decoded,
                         timeline_png=png, truncated=truncated, problem=problem)
