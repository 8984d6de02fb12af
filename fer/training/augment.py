"""Training-time augmentation done on the host with OpenCV/numpy.

Host-side rather than Keras preprocessing layers so the same code runs fast on every backend
(Keras' random affine layers cost ~30x a training step under JAX on a GPU) and so that a
given ``(seed, epoch)`` always yields the same batch, which makes ``--resume`` reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentSpec:
    """Ranges of the random transforms; the defaults are the shipped model's."""

    flip: bool = True
    max_rotation_deg: float = 12.0
    max_shift: float = 0.10  # fraction of the side
    zoom: tuple[float, float] = (0.88, 1.15)
    brightness: float = 0.25  # +- fraction of the 0..255 range, scaled by contrast
    contrast: tuple[float, float] = (0.7, 1.3)
    erase_prob: float = 0.4
    erase_area: tuple[float, float] = (0.02, 0.15)


def augment_batch(images: np.ndarray, rng: np.random.Generator, spec: AugmentSpec = AugmentSpec()) -> np.ndarray:
    """Randomly transform uint8 ``(N, 48, 48)`` faces; returns float32 ``(N, 48, 48)`` in 0..255."""
    import cv2

    n, h, w = images.shape
    out = np.empty((n, h, w), np.float32)
    angles = rng.uniform(-spec.max_rotation_deg, spec.max_rotation_deg, n)
    scales = rng.uniform(*spec.zoom, n)
    shifts = rng.uniform(-spec.max_shift, spec.max_shift, (n, 2)) * (w, h)
    flips = rng.random(n) < 0.5 if spec.flip else np.zeros(n, bool)
    centre = (w / 2 - 0.5, h / 2 - 0.5)
    for i in range(n):
        matrix = cv2.getRotationMatrix2D(centre, angles[i], scales[i])
        matrix[:, 2] += shifts[i]
        if flips[i]:
            matrix[0, :] = -matrix[0, :]
            matrix[0, 2] += w - 1
        out[i] = cv2.warpAffine(
            images[i], matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
    contrast = rng.uniform(*spec.contrast, (n, 1, 1)).astype(np.float32)
    brightness = rng.uniform(-spec.brightness, spec.brightness, (n, 1, 1)).astype(np.float32) * 255
    mean = out.mean(axis=(1, 2), keepdims=True)
    out = np.clip((out - mean) * contrast + mean + brightness, 0, 255)
    for i in np.flatnonzero(rng.random(n) < spec.erase_prob):
        area = rng.uniform(*spec.erase_area) * h * w
        aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
        eh = int(min(h, round(np.sqrt(area * aspect))))
        ew = int(min(w, round(np.sqrt(area / aspect))))
        y0 = rng.integers(0, h - eh + 1)
        x0 = rng.integers(0, w - ew + 1)
        out[i, y0 : y0 + eh, x0 : x0 + ew] = rng.uniform(0, 255, (eh, ew))
    return out


#: An epoch is augmented in this many fixed chunks, each with its own random stream, so the
#: result depends on ``(seed, epoch)`` only, never on how many worker processes did the work.
EPOCH_CHUNKS = 16


def _augment_chunk(images: np.ndarray, seed: int, epoch: int, chunk: int, spec: AugmentSpec) -> np.ndarray:
    return augment_batch(images, np.random.default_rng([seed, epoch, chunk]), spec)


def augment_epoch(images: np.ndarray, seed: int, epoch: int, spec: AugmentSpec = AugmentSpec(), pool=None) -> np.ndarray:
    """Augment a whole epoch; with ``pool`` (a process pool) the chunks run in parallel.

    Parallel because on a GPU one epoch of training takes under a second while augmenting
    28,709 faces in one process takes two: the host, not the GPU, would set the pace.
    """
    bounds = np.linspace(0, len(images), EPOCH_CHUNKS + 1).astype(int)
    parts = [images[a:b] for a, b in zip(bounds, bounds[1:])]
    if pool is None:
        done = [_augment_chunk(p, seed, epoch, i, spec) for i, p in enumerate(parts)]
    else:
        done = list(pool.map(_augment_chunk, parts, [seed] * len(parts), [epoch] * len(parts),
                             range(len(parts)), [spec] * len(parts)))
    return np.concatenate(done) if done else np.empty((0,) + images.shape[1:], np.float32)
