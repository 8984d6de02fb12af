"""Turn whatever a caller hands us as a frame into uint8 BGR, or say clearly why not.

Webcams, files and tests give frames in many forms: grayscale ``(H, W)`` or ``(H, W, 1)``,
BGRA from screenshots, 16-bit PNGs, float images in 0..1. Every later stage assumes one
form, so the conversion and the refusal of the hopeless cases live here, once. Huge frames
are shrunk rather than refused, because a 12000x12000 photo still has faces in it; the
returned scale lets the caller map boxes back to the pixels it passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fer.errors import InputError

#: Below this many pixels on a side no detector can find a face, so such a frame is an error.
MIN_SIDE = 16
#: Frames larger than this on their longest side are shrunk before anything else runs.
MAX_SIDE = 4096


@dataclass(frozen=True)
class PreparedFrame:
    """A frame ready for the stages: ``bgr`` uint8 ``(h, w, 3)``, ``gray`` uint8 ``(h, w)``.

    ``scale`` is working pixels per input pixel (1.0 unless the input was shrunk).
    """

    bgr: np.ndarray
    gray: np.ndarray
    scale: float
    input_size: tuple[int, int]  # (width, height) as passed in


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return frame
    if frame.dtype == np.uint16:
        return (frame >> 8).astype(np.uint8)
    if frame.dtype == np.bool_:
        return frame.astype(np.uint8) * 255
    if np.issubdtype(frame.dtype, np.floating):
        if not np.isfinite(frame).all():
            raise InputError("frame has NaN or infinite pixel values")
        # Floats in 0..1 are the usual convention; anything larger is taken as 0..255.
        top = 255.0 if frame.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(frame * top, 0, 255).round().astype(np.uint8)
    raise InputError(
        f"frame dtype {frame.dtype} is not supported; expected uint8 (or uint16, float 0..1)"
    )


def _to_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3:
        channels = frame.shape[2]
        if channels == 3:
            return frame
        if channels == 1:
            return cv2.cvtColor(frame[:, :, 0], cv2.COLOR_GRAY2BGR)
        if channels == 4:
            return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    raise InputError(
        f"frame shape {frame.shape} is not an image; expected (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA"
    )


def prepare_frame(frame: object, max_side: int = MAX_SIDE) -> PreparedFrame:
    """Validate and convert one frame; raises :class:`InputError` with the reason."""
    if not isinstance(frame, np.ndarray):
        raise InputError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim not in (2, 3):
        raise InputError(f"frame shape {frame.shape} is not an image; expected (H, W) or (H, W, C)")
    height, width = frame.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(
            f"frame is {width}x{height} pixels, too small to hold a face (at least {MIN_SIDE}x{MIN_SIDE})"
        )
    bgr = _to_bgr(_to_uint8(frame))
    scale = 1.0
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    bgr = np.ascontiguousarray(bgr)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return PreparedFrame(bgr=bgr, gray=gray, scale=scale, input_size=(width, height))
