"""The model's contract: which emotions, in which order, from which input size, in which colour.

Every model output, stored sample, table and chart uses this order. It lives apart from the
FER-2013 loader (:mod:`fer.training.data`) because serving code needs the contract and must
never import training code.
"""

from __future__ import annotations

#: The label order of the original FER-2013 CSV.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
#: The model reads grayscale ``IMAGE_SIZE`` x ``IMAGE_SIZE`` crops.
IMAGE_SIZE = 48

#: One BGR colour per emotion, in EMOTIONS order, shared by boxes, bars, charts and reports.
COLORS_BGR: tuple[tuple[int, int, int], ...] = (
    (40, 40, 220),   # angry: red
    (40, 140, 60),   # disgust: green
    (160, 60, 150),  # fear: purple
    (30, 200, 250),  # happy: yellow
    (200, 120, 40),  # sad: blue
    (20, 140, 250),  # surprise: orange
    (160, 160, 160), # neutral: grey
)
#: The same colours as matplotlib RGB fractions.
COLORS_RGB01: tuple[tuple[float, float, float], ...] = tuple((r / 255, g / 255, b / 255) for b, g, r in COLORS_BGR)
