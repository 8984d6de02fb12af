"""Write ``models/yunet.tflite``: YuNet with the ``yuface`` wheel's own weights, for LiteRT.

    python -m fer export-detector [--out models/yunet.tflite]

The wheel (BSD-3, libfacedetection by Shiqi Yu and contributors) compiles its weights in and
exports them with the table of its 53 convolutions (``param_pConvInfo``: input channels,
filters, depthwise or pointwise, ReLU, weight and bias pointers); this reads them through
ctypes, so nothing is downloaded. The network is rebuilt in Keras layer for layer as
libfacedetection runs it (a 3x3 stride-2 convolution, then pointwise + 3x3 depthwise pairs,
2x2 max pools, a top-down neck, and per stride one head of class, box, landmarks and
objectness), converted to LiteRT with float32 weights, and the written file is checked against
the wheel's own search on real photos before this returns. Why: see :mod:`fer.vision.yunet`.
Needs TensorFlow (``requirements-train.txt``) and the ``yuface`` wheel; serving needs neither.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer.errors import DetectorError, FerError
from fer.vision.yunet import HEAD, YUNET_MODEL_PATH, YuNetLite

NUM_CONV = 53
#: Layer indices in libfacedetection's table: the backbone's pointwise/depthwise pairs, the
#: neck's pair per stride and, per stride, the class, box, landmark and objectness heads.
BACKBONE = ((1, 2), ((3, 4), (5, 6)), ((7, 8), (9, 10)), ((11, 12), (13, 14)), ((15, 16), (17, 18)),
            ((19, 20), (21, 22)))
NECK = {8: (23, 24), 16: (25, 26), 32: (27, 28)}
HEADS = {8: (29, 35, 47, 41), 16: (31, 37, 49, 43), 32: (33, 39, 51, 45)}  # cls, box, kps, obj


@dataclass(frozen=True)
class Conv:
    channels: int
    filters: int
    depthwise: bool
    weights: np.ndarray  # pointwise (filters, channels); depthwise (9, filters); the first (16, 32)
    bias: np.ndarray


def wheel_weights() -> list[Conv]:
    """The 53 convolutions of the installed ``yuface`` wheel's libfacedetection."""
    try:
        import yuface
    except ImportError as exc:
        raise DetectorError(f"exporting YuNet needs the 'yuface' wheel (CPython 3.11, x86-64 Linux): {exc}") from None

    class ConvInfo(ctypes.Structure):
        _fields_ = [("channels", ctypes.c_int), ("num_filters", ctypes.c_int), ("is_depthwise", ctypes.c_bool),
                    ("is_pointwise", ctypes.c_bool), ("with_relu", ctypes.c_bool),
                    ("weights", ctypes.POINTER(ctypes.c_float)), ("biases", ctypes.POINTER(ctypes.c_float))]

    library = ctypes.CDLL(os.path.join(os.path.dirname(yuface.__file__), "libfacedetection.so"))
    table = (ConvInfo * NUM_CONV).in_dll(library, "param_pConvInfo")
    convs = []
    for info in table:
        size = info.num_filters * (9 if info.is_depthwise else info.channels)
        weights = np.ctypeslib.as_array(info.weights, (size,)).copy()
        convs.append(Conv(info.channels, info.num_filters, info.is_depthwise,
                          weights.reshape(9, info.num_filters) if info.is_depthwise
                          else weights.reshape(info.num_filters, info.channels),
                          np.ctypeslib.as_array(info.biases, (info.num_filters,)).copy()))
    return convs


def build(convs: list[Conv]):
    """The Keras YuNet (any input size that is a multiple of 32) with ``convs``' weights."""
    import keras
    from keras import layers

    def pointwise(x, conv: Conv):
        layer = layers.Conv2D(conv.filters, 1)
        y = layer(x)
        layer.set_weights([conv.weights.T[None, None], conv.bias])
        return y

    def depthwise(x, conv: Conv, relu: bool):
        layer = layers.DepthwiseConv2D(3, padding="same")
        y = layer(x)
        layer.set_weights([conv.weights.reshape(3, 3, conv.filters, 1), conv.bias])
        return layers.ReLU()(y) if relu else y

    def pair(x, indices, relu=True):
        return depthwise(pointwise(x, convs[indices[0]]), convs[indices[1]], relu)

    def head(x, firsts):
        # The four heads of a stride, each a pointwise + depthwise pair without ReLU, as one
        # pair of concatenated filters: the same arithmetic in two layers instead of eight.
        pw = [convs[i] for i in firsts]
        dw = [convs[i + 1] for i in firsts]
        merged_pw = Conv(pw[0].channels, sum(c.filters for c in pw), False,
                         np.concatenate([c.weights for c in pw]), np.concatenate([c.bias for c in pw]))
        merged_dw = Conv(merged_pw.filters, merged_pw.filters, True,
                         np.concatenate([c.weights for c in dw], 1), np.concatenate([c.bias for c in dw]))
        return depthwise(pointwise(x, merged_pw), merged_dw, relu=False)

    image = keras.Input((None, None, 3), name="bgr")
    first = convs[0]  # a 3x3 stride-2 convolution stored as 1x1 over 27 (+5 zero) channels, (row, col, colour) order
    stem = layers.Conv2D(first.filters, 3, strides=2, activation="relu")
    x = stem(layers.ZeroPadding2D(((1, 1), (1, 1)))(image))
    stem.set_weights([first.weights[:, :27].reshape(first.filters, 3, 3, 3).transpose(1, 2, 3, 0), first.bias])
    x = pair(x, BACKBONE[0])
    x = layers.MaxPool2D(2, padding="same")(x)
    x = pair(pair(x, BACKBONE[1][0]), BACKBONE[1][1])
    x = pair(pair(x, BACKBONE[2][0]), BACKBONE[2][1])
    x = layers.MaxPool2D(2, padding="same")(x)
    s8 = pair(pair(x, BACKBONE[3][0]), BACKBONE[3][1])
    s16 = pair(pair(layers.MaxPool2D(2, padding="same")(s8), BACKBONE[4][0]), BACKBONE[4][1])
    s32 = pair(pair(layers.MaxPool2D(2, padding="same")(s16), BACKBONE[5][0]), BACKBONE[5][1])
    s32 = pair(s32, NECK[32])
    s16 = pair(layers.Add()([s16, layers.UpSampling2D()(s32)]), NECK[16])
    s8 = pair(layers.Add()([s8, layers.UpSampling2D()(s16)]), NECK[8])
    outputs = [head(level, HEADS[stride]) for stride, level in ((8, s8), (16, s16), (32, s32))]
    assert [HEAD[k] for k in ("cls", "box", "kps", "obj")] == [slice(0, 1), slice(1, 5), slice(5, 15), slice(15, 16)]
    return keras.Model(image, outputs, name="yunet")


def to_litert(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def compare_with_wheel(path: Path, frames: list[np.ndarray]) -> float:
    """Largest score difference between the LiteRT file's faces and the wheel's, on ``frames``;
    raises when a face the wheel is sure of (0.5 and up) is missing or moved."""
    from yuface.yuface import detect

    from fer.vision.track import iou

    lite = YuNetLite(path)
    worst = 0.0
    for frame in frames:
        wheel = np.asarray(detect(np.ascontiguousarray(frame)), np.float32).reshape(-1, 16)
        ours = lite.search(frame)
        for row in wheel[wheel[:, 0] >= 50]:
            box = (row[1], row[2], row[1] + row[3], row[2] + row[4])
            match = [o for o in ours if iou(box, (o[1], o[2], o[1] + o[3], o[2] + o[4])) >= 0.9]
            if not match:
                raise FerError(f"{path}: the wheel's face at {box} (score {row[0] / 100:.2f}) is not found")
            worst = max(worst, abs(match[0][0] - row[0] / 100))
    return worst


def sample_frames() -> list[np.ndarray]:
    """Real photos at a few sizes (scikit-image's astronaut and coffee), for the comparison."""
    import cv2
    import skimage.data

    astronaut = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    coffee = np.ascontiguousarray(skimage.data.coffee()[:, :, ::-1])
    return [astronaut, cv2.resize(astronaut, (640, 480)), cv2.resize(astronaut, (200, 150)), coffee]


def export(out: Path = YUNET_MODEL_PATH) -> tuple[Path, float]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    content = to_litert(build(wheel_weights()))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(content)
    try:
        worst = compare_with_wheel(tmp, sample_frames())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out, worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer export-detector", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=YUNET_MODEL_PATH, help="LiteRT file to write (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        path, worst = export(args.out)
    except FerError as exc:
        print(f"fer.training.detector_export: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB); largest score difference from the wheel on real photos "
          f"{worst:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
