import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer.cli import main
from hostile_files import png_bomb


@pytest.fixture
def run(tiny_model_path, tmp_path, capsys):
    """Run the CLI in-process (TensorFlow is imported once for all tests)."""

    def _run(*args, model=tiny_model_path):
        code = main(["analyze", *map(str, args), "--out", str(tmp_path / "out"), "--model", str(model), "--quiet"])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


@pytest.fixture(scope="module")
def short_video(tmp_path_factory, classroom):
    """A 2-second 10 fps MP4 of the classroom frame drifting right, encoded with av."""
    import av

    path = tmp_path_factory.mktemp("video") / "lesson.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for i in range(20):
            frame = np.roll(classroom.frame, 2 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_an_image_gives_an_annotated_copy_and_a_json_of_its_faces(run, tmp_path, classroom):
    image = tmp_path / "class.png"
    cv2.imwrite(str(image), classroom.frame)
    code, out, err = run(image)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "class.faces.json").read_text())
    assert len(report["faces"]) >= len(classroom.boxes) - 2
    assert set(report["faces"][0]) >= {"x1", "y2", "label", "happy", "track_id", "yaw", "facing"}
    annotated = cv2.imread(str(tmp_path / "out" / "class.annotated.png"))
    assert annotated.shape == classroom.frame.shape and not np.array_equal(annotated, classroom.frame)


def test_a_video_gives_a_csv_per_face_per_frame_a_timeline_and_an_annotated_video(run, tmp_path, short_video):
    import av

    code, out, err = run(short_video, "--every", "4", "--annotated-video")
    assert code == 0, err
    with open(tmp_path / "out" / "lesson.faces.csv") as handle:
        rows = list(csv.DictReader(handle))
    frames = sorted({int(r["frame"]) for r in rows})
    assert frames == [0, 4, 8, 12, 16]
    assert {"time_s", "track_id", "x1", "y2", "happy", "neutral"} <= set(rows[0])
    first_ids = {r["track_id"] for r in rows if r["frame"] == "0"}
    last_ids = {r["track_id"] for r in rows if r["frame"] == "16"}
    assert len(first_ids & last_ids) >= len(first_ids) - 1  # the drifting faces keep their ids
    assert (tmp_path / "out" / "lesson.timeline.png").stat().st_size > 5000
    with av.open(str(tmp_path / "out" / "lesson.annotated.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 20


def test_fps_option_analyses_that_many_frames_per_second(run, tmp_path, short_video):
    code, _, err = run(short_video, "--fps", "2")
    assert code == 0, err
    with open(tmp_path / "out" / "lesson.faces.csv") as handle:
        times = sorted({float(r["time_s"]) for r in csv.DictReader(handle)})
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5], abs=0.06)


@pytest.mark.parametrize(
    "convert",
    [lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA),
     lambda f: f.astype(np.uint16) * 257],
    ids=["gray", "rgba", "16-bit"],
)
def test_gray_rgba_and_16_bit_images_are_analyzed(run, tmp_path, astronaut, convert):
    image = tmp_path / "odd.png"
    cv2.imwrite(str(image), convert(astronaut[0]))
    code, _, err = run(image)
    assert code == 0, err
    assert len(json.loads((tmp_path / "out" / "odd.faces.json").read_text())["faces"]) == 1


def test_a_12000_pixel_image_is_refused_by_default_and_the_pixel_limit_is_a_setting(run, tmp_path, monkeypatch):
    huge = _write(tmp_path, "huge.png", png_bomb(12000, 12000))
    code, _, err = run(huge)
    assert code == 1 and "12000x12000" in err and "50 megapixels" in err
    # The limit is a setting: the same check on a smaller picture, refused, then allowed.
    image = tmp_path / "big.png"
    cv2.imwrite(str(image), np.full((1500, 1500), 90, np.uint8))
    monkeypatch.setenv("CLASSMOOD_MAX_IMAGE_MEGAPIXELS", "2")
    code, _, err = run(image)
    assert code == 1 and "1500x1500" in err and "2 megapixels" in err
    monkeypatch.setenv("CLASSMOOD_MAX_IMAGE_MEGAPIXELS", "3")
    code, _, err = run(image)
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "big.faces.json").read_text())["width"] == 1500


def test_a_png_named_mp4_is_analyzed_as_the_image_its_bytes_say(run, tmp_path, astronaut):
    fake = _write(tmp_path, "clip.mp4", cv2.imencode(".png", astronaut[0])[1].tobytes())
    code, _, err = run(fake)
    assert code == 0, err
    assert len(json.loads((tmp_path / "out" / "clip.faces.json").read_text())["faces"]) == 1


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda d, v: d / "missing.png", "no such file"),
        (lambda d, v: _write(d, "empty.png", b""), "empty"),
        (lambda d, v: _write(d, "notes.txt", b"hello, these are not pixels\n" * 20), "neither an image nor a video"),
        (lambda d, v: _write(d, "broken.mp4", bytes(range(256)) * 40), "neither an image nor a video"),
        (lambda d, v: _write(d, "cut.mp4", v.read_bytes()[:3000]), "cut.mp4"),
        (lambda d, v: _write(d, "tiny.png", cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()), "too small"),
        (lambda d, v: _write(d, "fake.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200), "tiny"),
        (lambda d, v: _write(d, "clip.mp4", b"ffconcat version 1.0\nfile 'lesson.mp4'\n"), "FFmpeg concat script"),
        (lambda d, v: _write(d, "list.mp4", b"#EXTM3U\n#EXTINF:10,\nlesson.mp4\n#EXT-X-ENDLIST\n"), "HLS playlist"),
        (lambda d, v: _write(d, "bomb.png", png_bomb(20000, 20000)), "20000x20000 pixels"),
    ],
    ids=["missing", "zero-byte", "text", "random-bytes-video", "truncated-video", "1x1-image", "corrupt-png",
         "concat-script", "hls-playlist", "pixel-bomb"],
)
def test_bad_inputs_end_with_one_message_naming_the_file(run, tmp_path, short_video, make, problem):
    path = make(tmp_path, short_video)
    code, _, err = run(path)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path.name) in lines[0], err
    if problem != "tiny":
        assert problem in lines[0]


@pytest.mark.parametrize("content", [None, b"garbage"], ids=["missing-model", "corrupt-model"])
def test_a_missing_or_corrupt_model_ends_with_a_message_naming_it(run, tmp_path, astronaut, content):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), astronaut[0])
    model = tmp_path / "model.keras"
    if content is not None:
        model.write_bytes(content)
    code, _, err = run(image, model=model)
    assert code == 1 and "model.keras" in err and len(err.strip().splitlines()) == 1


def test_python_m_fer_reports_a_missing_file_without_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fer", "analyze", str(tmp_path / "ghost.jpg")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"fer: error: {tmp_path / 'ghost.jpg'}: no such file"


def test_zero_threads_end_with_one_message(run, tmp_path, astronaut):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), astronaut[0])
    code, _, err = run(image, "--threads", "0")
    assert code == 1 and err.strip() == "fer: error: --threads must be at least 1, got 0"


def test_the_search_size_and_second_look_options_reach_the_detector(run, tmp_path, astronaut, monkeypatch):
    import fer.vision.pipeline as pipeline

    built = []
    real_init = pipeline.FrameAnalyzer.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(self.detector)

    monkeypatch.setattr(pipeline.FrameAnalyzer, "__init__", spy)
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), astronaut[0])
    code, _, err = run(image, "--search-size", "960", "--recheck", "0.2")
    assert code == 0, err
    assert (built[0].max_side, built[0].upscale, built[0].recheck_from) == (960, True, 0.2)
    report = json.loads((tmp_path / "out" / "face.faces.json").read_text())
    assert len(report["faces"]) == 1
    code, _, err = run(image)
    assert code == 0 and (built[1].max_side, built[1].upscale) == (640, False)


@pytest.mark.parametrize("option, value, message", [
    ("--search-size", "32", "--search-size must be in [64, 4096], got 32"),
    ("--recheck", "1.5", "--recheck must be in [0, 1), got 1.5"),
])
def test_search_options_out_of_range_end_with_one_message(run, tmp_path, astronaut, option, value, message):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), astronaut[0])
    code, _, err = run(image, option, value)
    assert code == 1 and err.strip() == f"fer: error: {message}"
