"""The PNG timeline shared by the video analysis and the session report."""

import io

import numpy as np
from PIL import Image

from fer.charts import mix_timeline_png
from fer.emotions import COLORS_RGB01, NUM_CLASSES


def _image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _has_colour(pixels: np.ndarray, rgb01) -> bool:
    target = (0.9 * np.array(rgb01[:3]) + 0.1) * 255  # drawn at alpha 0.9 over white
    return bool((np.abs(pixels.astype(float) - target).max(axis=-1) < 3).any())


def test_a_mix_over_time_is_drawn_in_the_model_colours():
    happy = np.eye(NUM_CLASSES)[3]
    png = mix_timeline_png([0, 1, 2], [happy, happy, happy], title="lesson")
    assert png.startswith(b"\x89PNG")
    assert _has_colour(_image(png), COLORS_RGB01[3])


def test_a_visitor_title_with_math_text_and_dollars_renders_as_plain_text():
    png = mix_timeline_png([0, 1], [None, np.full(NUM_CLASSES, 1 / NUM_CLASSES)],
                           title=r"Cost $\foo$ and $5", marks=[(0.5, r"quiz $\bar{x}$")],
                           presence=[None, 1.0])
    assert _image(png).shape[0] == 600


def test_no_face_anywhere_still_gives_an_empty_chart_rather_than_an_error():
    png = mix_timeline_png([], [], title="nothing seen")
    assert png.startswith(b"\x89PNG")
