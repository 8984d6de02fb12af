"""fer.vision.media: uploads analyzed in memory, shared with the CLI."""

import av
import cv2
import numpy as np
import pytest

from fer.errors import InputError
from fer.vision.media import analyze_image_array, analyze_video_bytes, decode_image
from fer.vision.pipeline import FrameAnalyzer


@pytest.fixture(scope="module")
def analyzer(tiny_model_path):
    return FrameAnalyzer(model_path=tiny_model_path)


def mp4_bytes(frame: np.ndarray, frames: int = 20, fps: int = 10) -> bytes:
    import io

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(frame, i, axis=1), format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def test_an_image_upload_is_decoded_analyzed_and_annotated_in_memory(analyzer, astronaut):
    frame, _ = astronaut
    image = decode_image(cv2.imencode(".png", frame)[1].tobytes())
    analysis = analyze_image_array(image, analyzer)
    assert len(analysis.result.faces) >= 1
    assert analysis.annotated.shape == frame.shape and not np.array_equal(analysis.annotated, frame)


def test_bytes_that_are_no_image_and_empty_bytes_are_refused_with_the_reason():
    with pytest.raises(InputError, match="upload: neither an image nor a video.*text file"):
        decode_image(b"not an image")
    with pytest.raises(InputError, match="empty"):
        decode_image(b"")


def test_a_video_upload_gives_face_rows_a_timeline_png_and_respects_the_length_limit(analyzer, astronaut):
    frame, _ = astronaut
    data = mp4_bytes(frame, frames=30, fps=10)  # 3 s
    video = analyze_video_bytes(data, analyzer, "clip.mp4", fps=2, max_seconds=1.0)
    assert video.truncated and 2 <= len(video.times) <= 3
    assert video.rows and set(video.rows[0]) >= {"time_s", "label", "confidence"}
    assert video.timeline_png.startswith(b"\x89PNG")


def test_text_posing_as_a_video_is_refused_with_its_name(analyzer):
    with pytest.raises(InputError, match="notes.mp4"):
        analyze_video_bytes(b"hello " * 100, analyzer, "notes.mp4")
