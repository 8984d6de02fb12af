"""FER-2013 loading: one set of arrays from any of the three shapes users have it in.

Users download FER-2013 either as the Kaggle folder-layout zip (``train/<emotion>/...jpg``,
``test/<emotion>/PublicTest_...jpg``), the same tree unpacked, or the original
``fer2013.csv`` (``emotion,pixels,Usage``). All three give the same :class:`FerSplit` arrays,
so training and evaluation never care which one the user has.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from fer.emotions import EMOTIONS, IMAGE_SIZE, NUM_CLASSES

#: Split names as the CSV's ``Usage`` column and the image file-name prefixes spell them.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")


class DatasetError(ValueError):
    """The data set path or file is not what FER-2013 should look like."""


@dataclass(frozen=True)
class FerSplit:
    """One split of FER-2013: ``images`` uint8 ``(N, 48, 48)``, ``labels`` int64 ``(N,)``."""

    name: str
    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(self.images) != len(self.labels):
            raise DatasetError(
                f"split {self.name}: images {self.images.shape} and labels {self.labels.shape} do not match"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=NUM_CLASSES)

    def subset(self, index: np.ndarray | slice) -> "FerSplit":
        return FerSplit(self.name, self.images[index], self.labels[index])


def _split_of_filename(filename: str) -> str | None:
    stem = os.path.basename(filename)
    for split in SPLITS:
        if stem.startswith(split + "_"):
            return split
    return None


def _decode_gray(data: bytes, source: str) -> np.ndarray:
    import cv2  # local: keeps `import fer.training.data` light for code that only needs EMOTIONS

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"{source}: not a readable image")
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return image


def _collect(entries: Iterable[str], origin: str, read: Callable[[str], bytes]) -> dict[str, FerSplit]:
    """Group the relative paths of the folder layout into splits; ``read(path)`` gives the bytes."""
    by_split: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    unknown_dirs: set[str] = set()
    for rel in entries:
        parts = rel.replace("\\", "/").split("/")
        if len(parts) < 2 or not parts[-1].lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        emotion = parts[-2].lower()
        split = _split_of_filename(parts[-1])
        if emotion not in EMOTIONS:
            unknown_dirs.add(emotion)
            continue
        if split is None:
            # Some copies name files by index only; the top folder then tells train vs test.
            top = parts[-3].lower() if len(parts) >= 3 else ""
            split = "Training" if top == "train" else None
        if split is None:
            continue
        by_split[split].append((rel, EMOTIONS.index(emotion)))
    total = sum(len(v) for v in by_split.values())
    if total == 0:
        raise DatasetError(
            f"{origin}: found no FER-2013 images; expected train/<emotion>/Training_*.jpg and "
            f"test/<emotion>/PublicTest_*.jpg / PrivateTest_*.jpg with <emotion> one of "
            f"{', '.join(sorted(EMOTIONS))}"
            + (f" (saw folders: {', '.join(sorted(unknown_dirs)[:8])})" if unknown_dirs else "")
        )
    splits: dict[str, FerSplit] = {}
    for split, items in by_split.items():
        items.sort(key=lambda item: (item[1], item[0]))  # canonical order: label, then file name
        images = np.empty((len(items), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        for i, (rel, _) in enumerate(items):
            images[i] = _decode_gray(read(rel), f"{origin}:{rel}")
        labels = np.array([label for _, label in items], np.int64)
        splits[split] = FerSplit(split, images, labels)
    return splits


def _load_zip(path: Path) -> dict[str, FerSplit]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"{path}: not a readable zip file ({exc})") from None
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        return _collect(names, str(path), archive.read)


def _load_tree(path: Path) -> dict[str, FerSplit]:
    files = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
    return _collect(files, str(path), lambda rel: (path / rel).read_bytes())


def _iter_csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(
                f"{path}: expected a CSV with columns emotion,pixels,Usage; missing {', '.join(sorted(missing))}"
            )
        for line, row in enumerate(reader, start=2):
            yield line, row


def _load_csv(path: Path) -> dict[str, FerSplit]:
    images: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    labels: dict[str, list[int]] = {s: [] for s in SPLITS}
    for line, row in _iter_csv_rows(path):
        where = f"{path}, line {line}"
        try:
            label = int(row["emotion"])
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: emotion {row['emotion']!r} is not an integer 0..6") from None
        if not 0 <= label < NUM_CLASSES:
            raise DatasetError(f"{where}: emotion {label} is outside 0..6")
        usage = (row["Usage"] or "").strip()
        if usage not in SPLITS:
            raise DatasetError(f"{where}: Usage {usage!r} is not one of {', '.join(SPLITS)}")
        try:
            pixels = np.array((row["pixels"] or "").split(), dtype=np.int64)
        except ValueError:
            raise DatasetError(f"{where}: pixels must be space-separated integers") from None
        if pixels.size != IMAGE_SIZE * IMAGE_SIZE or pixels.min() < 0 or pixels.max() > 255:
            raise DatasetError(
                f"{where}: expected {IMAGE_SIZE * IMAGE_SIZE} pixel values 0..255, got {pixels.size}"
            )
        images[usage].append(pixels.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
        labels[usage].append(label)
    if not any(labels.values()):
        raise DatasetError(f"{path}: the CSV has no data rows")
    splits = {}
    for s in SPLITS:
        order = np.argsort(np.array(labels[s], np.int64), kind="stable")  # canonical: label, then row
        stacked = np.stack(images[s]) if images[s] else np.empty((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        splits[s] = FerSplit(s, stacked[order], np.array(labels[s], np.int64)[order])
    return splits


PACK_SPLITS = {"train": "Training", "publictest": "PublicTest", "privatetest": "PrivateTest"}


def _load_pack(path: Path) -> dict[str, FerSplit]:
    """The compact ``.npz`` pack carried to the lent GPU machine (see ../shared/notes/gpu-training.md).

    Every FER-2013 JPEG starts with the same header, stored once; each image is that header plus
    its own bytes. A pack may omit splits (the shared one holds Training and PublicTest only).
    """
    try:
        pack = np.load(path)
        header = pack["jpeg_header"]
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{path}: not a FER-2013 pack (.npz with jpeg_header, <split>_bytes, "
                           f"<split>_offsets, <split>_y): {exc}") from None
    splits = {s: FerSplit(s, np.empty((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.empty(0, np.int64)) for s in SPLITS}
    for key, split in PACK_SPLITS.items():
        if f"{key}_bytes" not in pack:
            continue
        blob, offsets, labels = pack[f"{key}_bytes"], pack[f"{key}_offsets"], pack[f"{key}_y"].astype(np.int64)
        images = np.empty((len(labels), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        for i in range(len(labels)):
            data = np.concatenate([header, blob[offsets[i] : offsets[i + 1]]]).tobytes()
            images[i] = _decode_gray(data, f"{path}:{key}[{i}]")
        order = np.argsort(labels, kind="stable")
        splits[split] = FerSplit(split, images[order], labels[order])
    return splits


def write_pack(splits: dict[str, FerSplit], path: str | os.PathLike, quality: int = 95) -> None:
    """Write splits as a compact pack (JPEG-encoded, shared header stored once)."""
    import cv2

    encoded = {key: [cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
                     for im in splits[split].images]
               for key, split in PACK_SPLITS.items() if split in splits and len(splits[split])}
    everything = [b for blobs in encoded.values() for b in blobs]
    header = os.path.commonprefix(everything)[: min(map(len, everything)) - 1] if everything else b""
    arrays = {"jpeg_header": np.frombuffer(header, np.uint8)}
    for key, blobs in encoded.items():
        rest = [b[len(header):] for b in blobs]
        arrays[f"{key}_bytes"] = np.frombuffer(b"".join(rest), np.uint8)
        arrays[f"{key}_offsets"] = np.concatenate([[0], np.cumsum([len(r) for r in rest])]).astype(np.int64)
        arrays[f"{key}_y"] = splits[PACK_SPLITS[key]].labels.astype(np.int8)
    np.savez(path, **arrays)


def load_fer2013(path: str | os.PathLike) -> dict[str, FerSplit]:
    """Load every split of FER-2013 from a folder-layout zip, its unpacked tree, the CSV or a pack.

    Returns ``{"Training": FerSplit, "PublicTest": FerSplit, "PrivateTest": FerSplit}``, each
    ordered by label, then by file name (zip, folder) or row (CSV), so every source of the same
    images yields the same arrays.
    Raises :class:`DatasetError` naming the file and what was expected when it is not FER-2013.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(
            f"{path}: no such file or folder; give the FER-2013 zip, its unpacked folder, or fer2013.csv"
        )
    if path.is_dir():
        return _load_tree(path)
    if path.suffix.lower() == ".npz":  # an .npz is a zip inside: test the name first
        return _load_pack(path)
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK"):
        return _load_zip(path)
    if path.suffix.lower() == ".csv":
        return _load_csv(path)
    raise DatasetError(f"{path}: expected a .zip of the folder layout, a folder, fer2013.csv or a .npz pack")


def load_split(path: str | os.PathLike, split: str) -> FerSplit:
    """Load one split by name (``Training``, ``PublicTest`` or ``PrivateTest``)."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return load_fer2013(path)[split]


def write_csv(splits: dict[str, FerSplit], path: str | os.PathLike) -> None:
    """Write splits in the original ``fer2013.csv`` format (used to build test fixtures)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for split in SPLITS:
            if split not in splits:
                continue
            for image, label in zip(splits[split].images, splits[split].labels):
                writer.writerow([int(label), " ".join(map(str, image.reshape(-1).tolist())), split])


def default_dataset_path() -> Path | None:
    """Where the developers' copy lives (``$FER2013_PATH`` or ``../shared/datasets``), if present."""
    env = os.environ.get("FER2013_PATH")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "datasets" / "fer2013.zip")
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return None
