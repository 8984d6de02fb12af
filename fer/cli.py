"""Command line: ``python -m fer analyze PATH`` for an image or a video file.

An image gives an annotated copy (``<name>.annotated.png``) and ``<name>.faces.json``; a
video gives ``<name>.faces.csv`` (one row per face per analyzed frame), a timeline PNG of
the emotion mix, and with ``--annotated-video`` an annotated MP4. Every failure the user can
cause (missing or unreadable file, odd image, broken model) ends with one line on stderr
naming the file and the problem, and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

from fer.emotions import EMOTIONS
from fer.errors import FerError, InputError

EXIT_OK, EXIT_ERROR = 0, 1


def _parser() -> argparse.ArgumentParser:
    from fer.vision.classify import SERVED_MODEL_PATH
    from fer.vision.detect import DEFAULT_DETECTOR, DETECTORS

    parser = argparse.ArgumentParser(prog="python -m fer", description="ClassMood facial emotion analysis")
    commands = parser.add_subparsers(dest="command", required=True)
    analyze = commands.add_parser("analyze", help="analyze an image or a video file")
    analyze.add_argument("path", type=Path, help="image (png, jpg, ...) or video (mp4, webm, ...)")
    analyze.add_argument("--out", type=Path, default=Path("fer_output"), help="output folder (default: ./fer_output)")
    analyze.add_argument("--model", type=Path, default=SERVED_MODEL_PATH,
                         help=f"emotion model, .tflite or .keras (default: {SERVED_MODEL_PATH})")
    analyze.add_argument("--detector", choices=sorted(DETECTORS), default=DEFAULT_DETECTOR, help=f"face detector (default: {DEFAULT_DETECTOR})")
    analyze.add_argument("--search-size", type=int, default=None, metavar="PX",
                         help="longest side of the copy the detector searches; with yunet, smaller frames are "
                              "enlarged to it (default: 640, not enlarged). A photo or recording of a whole class: "
                              "--search-size 960 --recheck 0.2, which finds more small faces at 3x the time")
    analyze.add_argument("--recheck", type=float, default=None, metavar="SCORE",
                         help="yunet: score (0-1) from which a doubtful face gets a second look in an enlarged "
                              "cut-out (default 0.3; 0: none)")
    rate = analyze.add_mutually_exclusive_group()
    rate.add_argument("--every", type=int, default=1, metavar="N", help="video: analyze every N-th frame (default 1)")
    rate.add_argument("--fps", type=float, default=None, help="video: analyze at most this many frames per second")
    analyze.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                         help="classifier threads (default: all %(default)s cores; one stream has them to itself)")
    analyze.add_argument("--annotated-video", action="store_true", help="video: also write an annotated MP4")
    analyze.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image or video file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)")


def _media_type(path: Path):
    """The file's type by its first bytes (:func:`fer.vision.upload.identify`), as the web page does."""
    from fer.vision.upload import SNIFF_BYTES, identify

    with open(path, "rb") as handle:
        return identify(handle.read(SNIFF_BYTES), str(path))


def _limits():
    """The app's pixel limits; the length, frame and time bounds are the server's, not the CLI's
    (a file on one's own machine may be analyzed whole)."""
    from dataclasses import replace

    from fer.config import AppConfig

    return replace(AppConfig.from_env().upload_limits(), max_video_frames=None, max_video_s=None, max_analysis_s=None)


def _prefixed(path: Path, exc: Exception) -> str:
    message = str(exc)
    return message if message.startswith(str(path)) else f"{path}: {message}"


def analyze_image(path: Path, analyzer, out_dir: Path, limits=None) -> list[Path]:
    import cv2

    from fer.vision.media import analyze_image_array, decode_image
    from fer.vision.records import face_row

    image = decode_image(path.read_bytes(), str(path), limits or _limits())
    analysis = analyze_image_array(image, analyzer, name=str(path))
    result = analysis.result
    out_dir.mkdir(parents=True, exist_ok=True)
    picture = out_dir / f"{path.stem}.annotated.png"
    report = out_dir / f"{path.stem}.faces.json"
    if not cv2.imwrite(str(picture), analysis.annotated):
        raise FerError(f"{picture}: could not write the annotated image")
    width, height = result.frame_size
    report.write_text(json.dumps(
        {"source": str(path), "width": width, "height": height, "emotions": list(EMOTIONS),
         "faces": [face_row(f) for f in result.faces]}, indent=2))
    return [picture, report]


@contextlib.contextmanager
def _open_video(path: Path, limits=None):
    """The video's container, read by the demuxer its bytes name (:func:`fer.vision.upload.open_video`)."""
    from fer.vision.upload import open_video

    limits = limits or _limits()
    media = _media_type(path)
    with open(path, "rb") as handle:
        container = open_video(handle, str(path), media, limits.max_video_pixels)
        try:
            yield container
        finally:
            container.close()


def analyze_video(path: Path, analyzer, out_dir: Path, every: int = 1, fps: float | None = None,
                  annotated_video: bool = False, quiet: bool = False) -> list[Path]:
    import av
    from tqdm import tqdm

    from fer.charts import mix_timeline_png
    from fer.vision.annotate import annotate
    from fer.vision.media import video_steps
    from fer.vision.records import ROW_COLUMNS, face_row

    limits = _limits()
    closing = contextlib.ExitStack()
    container = closing.enter_context(_open_video(path, limits))
    stream = container.streams.video[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / f"{path.stem}.faces.csv"
    timeline = out_dir / f"{path.stem}.timeline.png"
    movie = out_dir / f"{path.stem}.annotated.mp4"
    times: list[float] = []
    mixes: list[np.ndarray | None] = []
    writer = out_stream = None
    analyzed = decoded = 0
    failure: str | None = None
    with open(table, "w", newline="") as handle, tqdm(
        total=stream.frames or None, unit="frame", disable=quiet, desc=path.name
    ) as progress:
        rows = csv.DictWriter(handle, ["time_s", "frame", *ROW_COLUMNS])
        rows.writeheader()
        try:
            for step in video_steps(container, analyzer, every=every, fps=fps, max_pixels=limits.max_video_pixels):
                decoded += 1
                progress.update(1)
                t, faces, image = step.time, step.faces, step.image
                if step.analyzed:
                    analyzed += 1
                    for f in faces:
                        rows.writerow(face_row(f, time_s=round(t, 3), frame=step.index))
                    times.append(t)
                    mixes.append(np.mean([f.probs for f in faces], axis=0) if faces else None)
                if annotated_video:
                    if writer is None:
                        writer = av.open(str(movie), "w")
                        out_stream = writer.add_stream("libx264", rate=stream.average_rate or 25)
                        out_stream.width, out_stream.height = image.shape[1] // 2 * 2, image.shape[0] // 2 * 2
                        out_stream.pix_fmt = "yuv420p"
                    drawn = annotate(image, faces)[: out_stream.height, : out_stream.width]
                    for packet in out_stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(drawn), format="bgr24")):
                        writer.mux(packet)
        except av.FFmpegError as exc:
            failure = f"{path}: video is corrupt after {decoded} frames ({exc})"
        except InputError as exc:  # a frame larger than the limit
            failure = _prefixed(path, exc)
        finally:
            closing.close()
            if writer is not None:
                for packet in out_stream.encode():
                    writer.mux(packet)
                writer.close()
    if decoded == 0:
        raise InputError(failure or f"{path}: the video has no decodable frames")
    timeline.write_bytes(mix_timeline_png(times, mixes, title=f"{path.name}: emotion mix ({analyzed} frames analyzed)"))
    if failure:
        raise InputError(failure + f"; partial results in {out_dir}")
    return [table, timeline] + ([movie] if writer is not None else [])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if args.every < 1:
            raise InputError(f"--every must be at least 1, got {args.every}")
        if args.threads < 1:
            raise InputError(f"--threads must be at least 1, got {args.threads}")
        if args.fps is not None and args.fps <= 0:
            raise InputError(f"--fps must be positive, got {args.fps}")
        if args.search_size is not None and not 64 <= args.search_size <= 4096:
            raise InputError(f"--search-size must be in [64, 4096], got {args.search_size}")
        if args.recheck is not None and not 0 <= args.recheck < 1:
            raise InputError(f"--recheck must be in [0, 1), got {args.recheck}")
        _check_file(args.path)
        image = _media_type(args.path).kind == "image"
        if not image:
            with _open_video(args.path):  # fail on a bad video before loading the model
                pass

        from fer.vision.pipeline import FrameAnalyzer

        analyzer = FrameAnalyzer(model_path=args.model, detector=args.detector, classifier_threads=args.threads,
                                 detect_max_side=args.search_size, detect_upscale=args.search_size is not None,
                                 detect_recheck=args.recheck).load()
        if image:
            written = analyze_image(args.path, analyzer, args.out)
        else:
            written = analyze_video(args.path, analyzer, args.out, args.every, args.fps,
                                    args.annotated_video, args.quiet)
    except FerError as exc:
        print(f"fer: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"fer: error: {exc.filename or args.path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("fer: interrupted", file=sys.stderr)
        return 130
    for path in written:
        print(path)
    return EXIT_OK
