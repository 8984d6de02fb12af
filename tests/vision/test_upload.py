"""fer.vision.upload and the upload path of fer.vision.media: hostile files are refused by their
bytes and headers before anything is decoded, and a video's analysis stays within its limits.

Every hostile file is generated here: a 20000x20000 PNG pixel bomb, a 16-bit RGBA bomb, an
FFmpeg concat script and an HLS playlist named .mp4 (with a real video beside them that they
point to), a PNG named .mp4, truncated files and headers declaring huge dimensions.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import subprocess
import sys
import threading

import av
import cv2
import numpy as np
import pytest

from fer.classroom.governor import AnalysisGate
from fer.errors import InputError
from fer.vision.media import ImageAnalysis, VideoAnalysis, analyze_upload, analyze_video_bytes, decode_image
from fer.vision.pipeline import FrameAnalyzer
from fer.vision.upload import MediaType, UploadLimits, check_image, identify, image_header, open_video
from hostile_files import png_bomb
from waiting import wait_until


@pytest.fixture(scope="module")
def analyzer(tiny_model_path):
    return FrameAnalyzer(model_path=tiny_model_path)


@pytest.fixture(scope="module")
def pixel_bomb() -> bytes:
    return png_bomb(20000, 20000)  # 400 megapixels, about 0.4 MB


@pytest.fixture(scope="module")
def deep_bomb() -> bytes:
    return png_bomb(5000, 5000, bits=16, colour=6)  # 25 megapixels at 8 bytes each: 200 MB decoded


def video_bytes(frame: np.ndarray, frames: int = 20, fps: int = 10, container: str = "mp4", codec: str = "libx264") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(frame, 3 * i, axis=1), format="bgr24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clip(astronaut) -> bytes:
    return video_bytes(astronaut[0][:256, :320].copy(), frames=30, fps=10)  # 3 s


# ---- typing by bytes


def small_image() -> np.ndarray:
    image = np.zeros((23, 37, 3), np.uint8)  # width 37, height 23: a swap would show
    image[5:15, 10:30] = (40, 120, 200)
    return image


@pytest.mark.parametrize("ext, label", [(".jpg", "JPEG"), (".png", "PNG"), (".webp", "WebP"), (".bmp", "BMP"),
                                        (".gif", "GIF"), (".tiff", "TIFF")])
def test_each_allowed_image_type_is_known_by_its_bytes_and_its_header_gives_its_size(ext, label):
    data = cv2.imencode(ext, small_image())[1].tobytes()
    media = identify(data[:64], "photo.bin")
    assert media == MediaType(label, "image")
    header = image_header(data, media, "photo.bin")
    assert (header.width, header.height) == (37, 23)
    assert decode_image(data, "photo.bin").shape == (23, 37, 3)


def test_a_lossless_webp_header_gives_its_size_too():
    data = cv2.imencode(".webp", small_image(), [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    assert data[12:16] == b"VP8L"
    header = image_header(data, identify(data, "x"), "x")
    assert (header.width, header.height) == (37, 23)


@pytest.mark.parametrize("container, codec, label, demuxer", [
    ("mp4", "libx264", "MP4/MOV", "mov"), ("mov", "libx264", "MP4/MOV", "mov"),
    ("webm", "libvpx", "WebM/Matroska", "matroska"), ("matroska", "libx264", "WebM/Matroska", "matroska"),
    ("avi", "mpeg4", "AVI", "avi"),
], ids=["mp4", "mov", "webm", "mkv", "avi"])
def test_each_allowed_video_container_is_known_by_its_bytes_and_analyzed(analyzer, astronaut, container, codec, label, demuxer):
    data = video_bytes(astronaut[0][:128, :160].copy(), frames=10, fps=10, container=container, codec=codec)
    assert identify(data[:64], "clip") == MediaType(label, "video", demuxer)
    video = analyze_video_bytes(data, analyzer, "clip", fps=5)
    assert video.frames_decoded == 10 and video.problem is None and video.stopped is None


@pytest.mark.parametrize("content, looks", [
    (b"ffconcat version 1.0\nfile 'secret.mp4'\n", "FFmpeg concat script"),
    (b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nsecret.mp4\n#EXT-X-ENDLIST\n", "HLS playlist"),
    (b'<?xml version="1.0"?><MPD><Period><AdaptationSet/></Period></MPD>', "XML document"),
    (b"hello, these are not pixels\n" * 4, "text file"),
    (bytes(range(256)), "unknown or unsupported format"),
    (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "HEIF/AVIF picture"),
], ids=["concat", "hls", "dash", "text", "random", "heic"])
def test_files_outside_the_allow_list_are_refused_by_name_with_what_they_look_like(content, looks):
    with pytest.raises(InputError) as refused:
        identify(content[:64], "clip.mp4")
    message = str(refused.value)
    assert message.startswith("clip.mp4: ") and looks in message
    assert "secret" not in message  # the content is never echoed


def test_a_png_named_mp4_is_analyzed_as_the_png_it_is(analyzer, astronaut):
    data = cv2.imencode(".png", astronaut[0])[1].tobytes()
    analysis = analyze_upload(data, "clip.mp4", analyzer)
    assert isinstance(analysis, ImageAnalysis) and len(analysis.result.faces) == 1
    with pytest.raises(InputError, match="clip.mp4: is a PNG image, not a video"):
        analyze_video_bytes(data, analyzer, "clip.mp4")


# ---- no demuxer that opens other files can be reached


@pytest.fixture
def secret_beside(tmp_path, monkeypatch, astronaut):
    """A real video in the working directory, the file a hostile playlist points to."""
    (tmp_path / "secret.mp4").write_bytes(video_bytes(astronaut[0][:64, :64].copy(), frames=5))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "secret.mp4"


CONCAT = b"ffconcat version 1.0\nfile 'secret.mp4'\n"
HLS = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nsecret.mp4\n#EXT-X-ENDLIST\n"


def test_an_ffconcat_script_named_mp4_is_refused_although_ffmpeg_alone_would_play_the_file_beside_it(analyzer, secret_beside):
    with av.open(io.BytesIO(CONCAT)) as guessed:  # FFmpeg's own guess: it opens secret.mp4
        assert guessed.format.name == "concat" and sum(1 for _ in guessed.decode(video=0)) == 5
    for upload in (analyze_upload, lambda d, n, a: analyze_video_bytes(d, a, n)):
        with pytest.raises(InputError, match="clip.mp4: neither an image nor a video.*FFmpeg concat script"):
            upload(CONCAT, "clip.mp4", analyzer)


@pytest.mark.parametrize("playlist, demuxer", [(HLS, "hls"), (CONCAT, "concat")])
def test_even_a_playlist_demuxer_could_open_no_other_file_through_open_video(secret_beside, playlist, demuxer):
    with av.open(io.BytesIO(playlist), format=demuxer) as unguarded:  # the danger being guarded against
        assert sum(1 for _ in unguarded.decode(video=0)) == 5
    with pytest.raises(InputError, match="list.mp4: cannot be read"):
        open_video(io.BytesIO(playlist), "list.mp4", MediaType("playlist", "video", demuxer), 10**7)


def test_a_video_is_read_only_by_the_demuxer_its_bytes_named(clip):
    with contextlib.closing(open_video(io.BytesIO(clip), "clip.mp4", identify(clip, "clip.mp4"), 10**7)) as container:
        assert container.format.name.split(",")[0] == "mov"


# ---- images: bounded before decoding


def run_isolated(code: str, data: bytes, tmp_path) -> dict:
    """Run ``code`` in a fresh interpreter on ``data`` and return its JSON: the peak memory
    (ru_maxrss) it grew by after the imports and reading the file, and what it printed."""
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    script = f"""
import json, resource, sys, time
import cv2, numpy
from fer.errors import InputError
from fer.vision.media import analyze_upload, decode_image
from fer.vision.upload import UploadLimits
data = open({str(path)!r}, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    {code}
    outcome = "accepted"
except InputError as exc:
    outcome = str(exc)
seconds = time.perf_counter() - start
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({{"outcome": outcome, "grown_mb": grown, "seconds": seconds}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("bomb, reason", [("pixel_bomb", "20000x20000 pixels (400 megapixels), more than the 50"),
                                          ("deep_bomb", "4 channels at 16 bits, 200 MB once decoded, more than the 150 MB")])
def test_a_pixel_bomb_is_refused_from_its_header_without_the_memory_growing(bomb, reason, request, tmp_path, record_property):
    data = request.getfixturevalue(bomb)
    assert len(data) < 500_000
    result = run_isolated('analyze_upload(data, "bomb.png", None, UploadLimits())', data, tmp_path)
    assert result["outcome"].startswith("bomb.png: the image is") and reason in result["outcome"]
    assert result["grown_mb"] < 100, result
    record_property("refusal_seconds", result["seconds"])  # a figure for the README, not asserted
    print(f"{bomb}: refused in {result['seconds'] * 1000:.1f} ms, peak memory +{result['grown_mb']:.1f} MB")


@pytest.fixture(scope="module")
def video_bomb() -> bytes:
    """A 0.5 MB MOV declaring 64x64 frames whose PNG-coded frames are 16000x16000 (near FFmpeg's
    own ceiling): unguarded, decoding its first frame took 8.9 s and 490 MB here."""
    from fractions import Fraction

    frame = png_bomb(16000, 16000)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mov") as output:
        stream = output.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt, stream.time_base = 64, 64, "gray", Fraction(1, 1)
        for i in range(2):
            packet = av.Packet(frame)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, 1)
            output.mux(packet)
    return buffer.getvalue()


def test_a_video_whose_frames_are_far_larger_than_its_header_says_is_stopped_by_the_decoder(video_bomb, tmp_path):
    assert len(video_bomb) < 600_000
    result = run_isolated('analyze_upload(data, "bomb.mov", None, UploadLimits())', video_bomb, tmp_path)
    assert result["outcome"].startswith("bomb.mov: the video cannot be decoded after 0 frames"), result
    assert "larger than the 8.29 megapixels allowed" in result["outcome"]
    assert result["grown_mb"] < 100, result
    print(f"video bomb: refused in {result['seconds'] * 1000:.1f} ms, peak memory +{result['grown_mb']:.1f} MB")


def test_a_bomb_under_a_lying_name_and_through_the_cli_path_is_refused_the_same(pixel_bomb):
    with pytest.raises(InputError, match="holiday.jpg: the image is 20000x20000 pixels"):
        decode_image(pixel_bomb, "holiday.jpg", UploadLimits())


def patch_png(data: bytes, width: int, height: int) -> bytes:
    return data[:16] + struct.pack(">II", width, height) + data[24:]


def patch_jpeg(data: bytes, width: int, height: int) -> bytes:
    at = data.index(b"\xff\xc0")
    return data[:at + 5] + struct.pack(">HH", height, width) + data[at + 9:]


def patch_webp(data: bytes, width: int, height: int) -> bytes:
    if data[12:16] == b"VP8L":  # lossless: 14 bits each of width - 1 and height - 1
        (bits,) = struct.unpack("<I", data[21:25])
        bits = (bits & ~0xFFFFFFF) | (width - 1) | (height - 1) << 14
        return data[:21] + struct.pack("<I", bits) + data[25:]
    assert data[12:16] == b"VP8 "
    return data[:26] + struct.pack("<HH", width, height) + data[30:]


def patch_bmp(data: bytes, width: int, height: int) -> bytes:
    return data[:18] + struct.pack("<ii", width, height) + data[26:]


def patch_gif(data: bytes, width: int, height: int) -> bytes:
    data = data[:6] + struct.pack("<HH", width, height) + data[10:]
    at = data.index(b"\x2c", 13)  # the first image descriptor (OpenCV writes no extension first)
    return data[:at + 5] + struct.pack("<HH", width, height) + data[at + 9:]


def patch_tiff(data: bytes, width: int, height: int) -> bytes:
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[offset:offset + 2])
    out = bytearray(data)
    for i in range(count):
        at = offset + 2 + 12 * i
        (tag,) = struct.unpack(order + "H", data[at:at + 2])
        if tag in (256, 257):
            out[at:at + 12] = struct.pack(order + "HHII", tag, 4, 1, width if tag == 256 else height)
    return bytes(out)


@pytest.mark.parametrize("ext, patch, size, params", [
    (".png", patch_png, (60000, 60000), []), (".jpg", patch_jpeg, (65000, 65000), []),
    (".webp", patch_webp, (16383, 16383), [cv2.IMWRITE_WEBP_QUALITY, 80]),
    (".webp", patch_webp, (16384, 16384), [cv2.IMWRITE_WEBP_QUALITY, 101]),
    (".bmp", patch_bmp, (100000, 100000), []), (".gif", patch_gif, (65535, 65535), []),
    (".tiff", patch_tiff, (100000, 100000), []),
], ids=["png", "jpeg", "webp-lossy", "webp-lossless", "bmp", "gif", "tiff"])
def test_huge_dimensions_in_any_image_header_are_refused_before_decoding(ext, patch, size, params, analyzer):
    data = patch(cv2.imencode(ext, small_image(), params)[1].tobytes(), *size)
    media = identify(data, "huge" + ext)
    header = image_header(data, media, "huge" + ext)
    assert (header.width, header.height) == size
    with pytest.raises(InputError, match=rf"huge\{ext}: the image is {size[0]}x{size[1]} pixels"):
        analyze_upload(data, "huge" + ext, analyzer)


def test_an_image_at_the_limit_is_decoded_and_one_pixel_row_more_is_refused():
    data = cv2.imencode(".png", np.zeros((100, 100, 3), np.uint8))[1].tobytes()
    assert decode_image(data, "x.png", UploadLimits(max_image_pixels=10_000)).shape == (100, 100, 3)
    with pytest.raises(InputError, match="more than the 0.0099 megapixels"):
        check_image(data, identify(data, "x.png"), "x.png", UploadLimits(max_image_pixels=9_900))


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".gif", ".tiff"])
def test_a_header_cut_short_is_refused_as_truncated(ext):
    data = cv2.imencode(ext, small_image())[1].tobytes()[:12]
    with pytest.raises(InputError, match=r"cut\.img: the .* header is truncated or corrupt"):
        decode_image(data, "cut.img")


def test_a_png_cut_after_its_header_is_refused_as_truncated(astronaut):
    data = cv2.imencode(".png", astronaut[0])[1].tobytes()
    with pytest.raises(InputError, match="cut.png: the PNG image is truncated or corrupt"):
        decode_image(data[: len(data) // 3], "cut.png")


def test_an_upload_over_the_size_limit_is_refused_before_it_is_typed(analyzer):
    with pytest.raises(InputError, match="big.mp4: 2.1 MB is more than the 2 MB allowed"):
        analyze_upload(b"\0" * (2 * 1024 * 1024 + 1), "big.mp4", analyzer, UploadLimits(max_bytes=2 * 1024 * 1024))


# ---- videos: resolution, frames and time


def test_a_truncated_video_is_refused_with_its_name(clip, analyzer):
    with pytest.raises(InputError, match="cut.mp4: cannot be read as MP4/MOV video"):
        analyze_video_bytes(clip[:3000], analyzer, "cut.mp4")


def test_a_video_larger_than_the_frame_limit_is_refused_from_its_header(clip, analyzer):
    with pytest.raises(InputError, match="wide.mp4: the video is 320x256 pixels per frame, more than the 0.08 megapixels"):
        analyze_video_bytes(clip, analyzer, "wide.mp4", limits=UploadLimits(max_video_pixels=80_000))


def h264_packets(width: int, height: int, frames: int, start: int) -> list:
    from fractions import Fraction

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, 10), 10
    packets = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 20 * i, np.uint8), format="bgr24")
        frame.pts = i
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    for packet in packets:
        packet.pts += start
        packet.dts += start
    return packets


def test_a_video_whose_frames_grow_past_the_limit_midway_is_stopped_by_the_decoder(analyzer):
    from fractions import Fraction

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as output:  # declares 64x64, then switches to 640x480
        stream = output.add_stream("h264", rate=10)
        stream.width, stream.height, stream.time_base = 64, 64, Fraction(1, 10)
        for packet in h264_packets(64, 64, 10, 0) + h264_packets(640, 480, 10, 10):
            packet.stream = stream
            output.mux(packet)
    data = buffer.getvalue()
    with av.open(io.BytesIO(data)) as unguarded:
        assert {(f.width, f.height) for f in unguarded.decode(video=0)} == {(64, 64), (640, 480)}
    video = analyze_video_bytes(data, analyzer, "grow.mkv", fps=1, limits=UploadLimits(max_video_pixels=100 * 100))
    assert video.problem.startswith("grow.mkv: the video cannot be decoded after") and video.frames_decoded <= 10
    assert "larger than the 0.01 megapixels allowed" in video.problem


def test_a_video_stops_at_the_frame_limit_and_says_so(clip, analyzer):
    video = analyze_video_bytes(clip, analyzer, "clip.mp4", fps=2, limits=UploadLimits(max_video_frames=12))
    assert video.frames_decoded == 12 and video.stopped == "frames" and video.truncated
    assert video.until_s == pytest.approx(1.1, abs=0.01)


def test_a_video_stops_at_the_time_limit_and_keeps_what_it_analyzed(clip, analyzer):
    ticks = iter(range(1000))  # a fake clock: one second per reading
    video = analyze_video_bytes(clip, analyzer, "clip.mp4", fps=2, limits=UploadLimits(max_analysis_s=7),
                                clock=lambda: float(next(ticks)))
    assert video.stopped == "time" and video.truncated
    assert video.frames_decoded == 7 and video.times == [0.0, 0.5]


def test_a_video_stops_at_the_length_limit(clip, analyzer):
    video = analyze_video_bytes(clip, analyzer, "clip.mp4", fps=2, limits=UploadLimits(max_video_s=1.0))
    assert video.stopped == "length" and len(video.times) == 3


# ---- the fair queue


class CountingTurns:
    """A turn factory around a real gate that counts the turns and checks none is nested."""

    def __init__(self, gate: AnalysisGate) -> None:
        self.gate, self.turns, self.holding = gate, 0, False

    @contextlib.contextmanager
    def __call__(self):
        assert not self.holding, "an upload holds one slot at a time"
        with self.gate.turn():
            self.holding, self.turns = True, self.turns + 1
            try:
                yield
            finally:
                self.holding = False


def test_a_video_takes_one_turn_of_the_fair_queue_per_analyzed_frame_and_gives_it_back(clip, analyzer):
    gate = AnalysisGate(1)
    turns = CountingTurns(gate)
    video = analyze_video_bytes(clip, analyzer, "clip.mp4", fps=2, turn=turns)
    assert len(video.times) == 6 and turns.turns == 7  # the last turn decodes to the end
    assert gate.stats().busy == 0 and gate.stats().turns == 7


def test_a_video_stopped_early_or_failing_gives_its_turn_back(clip, analyzer):
    gate = AnalysisGate(1)
    analyze_video_bytes(clip, analyzer, "clip.mp4", fps=2, turn=gate.turn, limits=UploadLimits(max_video_frames=4))
    assert gate.stats().busy == 0
    broken = clip[: len(clip) * 2 // 3]  # the index is at the end: a cut file does not open
    with pytest.raises(InputError):
        analyze_video_bytes(broken, analyzer, "clip.mp4", fps=2, turn=gate.turn)
    assert gate.stats().busy == 0


def test_an_upload_waits_for_a_slot_a_student_holds_and_goes_on_when_it_is_free(clip, analyzer, astronaut):
    gate = AnalysisGate(1)
    assert gate.acquire()  # a student's analysis is running
    results: list = []
    worker = threading.Thread(target=lambda: results.append(
        analyze_upload(clip, "clip.mp4", analyzer, fps=2, turn=gate.turn)), daemon=True)
    worker.start()
    wait_until(lambda: gate.stats().waiting == 1, what="the upload to queue for the slot")
    assert not results
    gate.release()
    worker.join(timeout=120)
    assert isinstance(results[0], VideoAnalysis) and len(results[0].times) == 6
    image = cv2.imencode(".png", astronaut[0])[1].tobytes()
    assert isinstance(analyze_upload(image, "a.png", analyzer, turn=gate.turn), ImageAnalysis)
    assert gate.stats().turns == 1 + 7 + 1 and gate.stats().busy == 0


def test_progress_is_reported_and_a_visitor_leaving_midway_ends_the_analysis_and_frees_the_slot(clip, analyzer):
    gate = AnalysisGate(1)
    seen: list[float] = []
    analyze_video_bytes(clip, analyzer, "clip.mp4", fps=2, turn=gate.turn, progress=seen.append)
    assert seen == sorted(seen) and seen[0] == 0.0 and 0.8 < seen[-1] <= 1.0 and len(seen) == 6

    class Left(Exception):
        """What Streamlit raises in the script thread when the visitor leaves or reruns."""

    def leave(done: float) -> None:
        if done >= 0.3:
            raise Left

    with pytest.raises(Left):
        analyze_upload(clip, "clip.mp4", analyzer, fps=2, turn=gate.turn, progress=leave)
    assert gate.stats().busy == 0
