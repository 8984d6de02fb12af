"""Shared fixtures: a small FER-2013 in all three layouts, and a tiny untrained model file."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fer.emotions import EMOTIONS
from fer.training.data import SPLITS, default_dataset_path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}
# The folder-layout zip names folders alphabetically, not in label order.
PER_SPLIT = {"Training": 6, "PublicTest": 2, "PrivateTest": 2}


def _fixture_faces() -> dict[str, list[tuple[int, bytes]]]:
    """A few JPEG faces per class and split: real FER-2013 files when the data set is here,
    smooth synthetic faces (JPEG-encoded the same way) otherwise."""
    import cv2

    dataset = default_dataset_path()
    faces: dict[str, list[tuple[int, bytes]]] = {s: [] for s in SPLITS}
    if dataset and dataset.suffix == ".zip":
        with zipfile.ZipFile(dataset) as archive:
            names = sorted(n for n in archive.namelist() if n.endswith(".jpg"))
            for split in SPLITS:
                for label, emotion in enumerate(EMOTIONS):
                    picked = [n for n in names if f"/{emotion}/{split}_" in n][: PER_SPLIT[split]]
                    faces[split] += [(label, archive.read(n)) for n in picked]
        return faces
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    for split in SPLITS:
        for label in range(len(EMOTIONS)):
            for _ in range(PER_SPLIT[split]):
                cx, cy, r = rng.uniform(16, 32), rng.uniform(16, 32), rng.uniform(8, 20)
                image = np.clip(255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) + label * 10, 0, 255)
                faces[split].append((label, cv2.imencode(".jpg", image.astype(np.uint8))[1].tobytes()))
    return faces


@pytest.fixture(scope="session")
def fer_fixture(tmp_path_factory) -> dict[str, Path]:
    """The same small data set as a folder-layout zip, an unpacked tree and ``fer2013.csv``."""
    import cv2

    root = tmp_path_factory.mktemp("fer_fixture")
    faces = _fixture_faces()
    zip_path, tree, csv_path = root / "fer2013.zip", root / "tree", root / "fer2013.csv"
    rows = ["emotion,pixels,Usage"]
    with zipfile.ZipFile(zip_path, "w") as archive:
        for split, items in faces.items():
            for i, (label, data) in enumerate(items):
                rel = f"{FOLDER[split]}/{EMOTIONS[label]}/{split}_{i:05d}.jpg"
                archive.writestr(rel, data)
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                (tree / rel).write_bytes(data)
                pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
                rows.append(f"{label},{' '.join(map(str, pixels.reshape(-1)))},{split}")
    csv_path.write_text("\n".join(rows) + "\n")
    return {"zip": zip_path, "tree": tree, "csv": csv_path}


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An untrained model of the shipped architecture, saved under the contract."""
    from fer.training.model import build_model

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_model().save(path)
    return path


@pytest.fixture(scope="session")
def dataset_path() -> Path:
    path = default_dataset_path()
    if path is None:
        pytest.skip("FER-2013 not found (set FER2013_PATH or place it at ../shared/datasets/fer2013.zip)")
    return path


# --- Frame pipeline fixtures: real photos and real faces placed at known ("golden") boxes.


@pytest.fixture(scope="session")
def fer_split(dataset_path):
    """FER-2013's PrivateTest faces, the ones placed into test frames."""
    from fer.bench.scenes import fer_faces

    return fer_faces("PrivateTest")


@pytest.fixture(scope="session")
def astronaut():
    """The astronaut photo (BGR, 512x512) and its hand-drawn face box."""
    from fer.bench.scenes import ASTRONAUT_FACE, photo

    frame, _ = photo("astronaut")
    return frame, ASTRONAUT_FACE


@pytest.fixture(scope="session")
def classroom(fer_split):
    """640x480 photo with 6 real faces placed at known boxes."""
    from fer.bench.scenes import compose

    return compose(fer_split.images, fer_split.labels, 6, np.random.default_rng(7), face_px=(80, 110))


# --- Redis: a real server for the Redis store (skipped, with the reason, where none is installed).


@pytest.fixture(scope="session")
def redis_session_server(tmp_path_factory):
    from redis_server import RedisServer

    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_session_server) -> str:
    """The URL of a running Redis whose database is empty at the start of each test."""
    import redis

    with redis.Redis.from_url(redis_session_server.url) as client:
        client.flushall()
    return redis_session_server.url


@pytest.fixture
def persistent_redis(tmp_path):
    """A Redis of this test's own, persisting every write, that the test may stop and start."""
    from redis_server import RedisServer

    with RedisServer(tmp_path / "redis", persistent=True) as server:
        yield server


# --- Web app fixtures: the serving model and a fresh data directory per test.

SERVING_MODELS = (ROOT / "models" / "emotion_cnn.keras", ROOT / "runs" / "emotion_cnn" / "best.keras")


@pytest.fixture(scope="session")
def serving_model_path() -> Path:
    """The shipped model, or while it is being trained the training run's best checkpoint."""
    for path in SERVING_MODELS:
        if path.exists():
            return path
    pytest.skip("no trained emotion model (models/emotion_cnn.keras or runs/emotion_cnn/best.keras)")


@pytest.fixture
def app_env(monkeypatch, tmp_path, serving_model_path):
    """Environment of a test app: its own data directory, the serving model, no ICE servers.

    Returns the store the app will open, so a test can write rooms and samples directly.
    """
    from fer.classroom.store.factory import open_store
    from fer.config import AppConfig

    monkeypatch.setenv("CLASSMOOD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLASSMOOD_MODEL_PATH", str(serving_model_path))
    monkeypatch.setenv("CLASSMOOD_ICE_SERVERS", "[]")
    monkeypatch.delenv("REDIS_URL", raising=False)
    store = open_store(AppConfig.from_env())
    yield store
    store.close()


@pytest.fixture(autouse=True)
def _main_module_restored():
    """Streamlit's script runner installs each page it runs (AppTest included) as
    ``sys.modules["__main__"]`` and never puts the old one back; a process pool started with
    "spawn" in a later test would then run that page in each worker, which dies of it."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
