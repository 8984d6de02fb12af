"""ClassMood's library: emotions of the faces in webcam frames.

``from fer import FrameAnalyzer`` is the entry point. Names are resolved on first use so
that ``import fer`` stays instant and never imports TensorFlow.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FrameAnalyzer": "fer.vision.pipeline",
    "AnalyzerOptions": "fer.vision.pipeline",
    "Face": "fer.vision.records",
    "FrameResult": "fer.vision.records",
    "HeadPose": "fer.vision.pose",
    "FerError": "fer.errors",
    "InputError": "fer.errors",
    "ModelLoadError": "fer.errors",
    "DetectorError": "fer.errors",
    "EMOTIONS": "fer.emotions",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
