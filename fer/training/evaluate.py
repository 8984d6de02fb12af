"""Evaluate an emotion model on one FER-2013 split and write a report.

    python -m fer evaluate --model models/emotion_cnn.keras --split PrivateTest --out reports/privatetest

Prints a table and writes ``metrics.json``, ``confusion_matrix.png`` (counts and row-normalised)
and ``reliability.png``. The model is loaded exactly as every consumer loads it
(``keras.models.load_model(path, compile=False)``), so the figures hold for the shipped file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fer.emotions import EMOTIONS, NUM_CLASSES
from fer.errors import ModelLoadError
from fer.training.data import SPLITS, DatasetError, default_dataset_path, load_split
from fer.training.metrics import (
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    normalize_rows,
    precision_recall_f1,
    reliability_bins,
    top_k_accuracy,
)
from fer.vision.classify import DEFAULT_MODEL_PATH, LoadedModel, load_model


@dataclass
class EvaluationReport:
    model: str
    split: str
    images: int
    tta_flip: bool
    accuracy: float
    top2_accuracy: float
    macro_f1: float
    ece: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    throughput_faces_per_s: float
    throughput_batch: int


def predict(model: LoadedModel, images: np.ndarray, batch_size: int = 512, tta_flip: bool = False,
            progress: bool = False) -> np.ndarray:
    """Probabilities for uint8 ``(N,48,48)`` faces; with ``tta_flip`` averaged with the mirror image.

    Goes through the same compiled function the app serves with, so the figures are the app's.
    """
    from tqdm import tqdm

    out = np.empty((len(images), NUM_CLASSES), np.float32)
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="evaluating", unit="batch", disable=not progress):
        batch = images[start : start + batch_size, :, :, None].astype(np.float32)
        probs = np.asarray(model.predict(batch))
        if tta_flip:
            probs = (probs + np.asarray(model.predict(np.ascontiguousarray(batch[:, :, ::-1])))) / 2
        out[start : start + batch_size] = probs
    return out


def measure_throughput(model: LoadedModel, images: np.ndarray, batch_size: int = 64, seconds: float = 3.0) -> float:
    """Faces per second through the serving path's compiled function, in batches."""
    batch = np.resize(images, (batch_size, 48, 48))[..., None].astype(np.float32)
    np.asarray(model.predict(batch))  # warm up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        np.asarray(model.predict(batch))
        done += batch_size
    return done / (time.perf_counter() - started)


def evaluate(model_path, images: np.ndarray, labels: np.ndarray, split: str = "PrivateTest",
             tta_flip: bool = False, progress: bool = False, throughput_batch: int = 64) -> tuple[EvaluationReport, np.ndarray]:
    model = load_model(model_path)
    probs = predict(model, images, tta_flip=tta_flip, progress=progress)
    matrix = confusion_matrix(labels, probs.argmax(1), NUM_CLASSES)
    precision, recall, f1, support = precision_recall_f1(matrix)
    report = EvaluationReport(
        model=str(model_path),
        split=split,
        images=int(len(labels)),
        tta_flip=tta_flip,
        accuracy=accuracy(probs, labels),
        top2_accuracy=top_k_accuracy(probs, labels, 2),
        macro_f1=float(f1.mean()),
        ece=expected_calibration_error(probs, labels),
        per_class={
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(EMOTIONS, precision, recall, f1, support)
        },
        confusion=matrix.tolist(),
        throughput_faces_per_s=measure_throughput(model, images, throughput_batch) if throughput_batch else 0.0,
        throughput_batch=throughput_batch,
    )
    return report, probs


def format_table(report: EvaluationReport) -> str:
    lines = [
        f"{report.split}: {report.images} faces, model {report.model}" + (" (flip TTA)" if report.tta_flip else ""),
        f"accuracy {report.accuracy:.4f}   top-2 {report.top2_accuracy:.4f}   macro F1 {report.macro_f1:.4f}   "
        f"ECE {report.ece:.4f}",
        f"throughput {report.throughput_faces_per_s:,.0f} faces/s (batch {report.throughput_batch})",
        "",
        f"{'emotion':<10}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
    ]
    for name, row in report.per_class.items():
        lines.append(f"{name:<10}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}{row['support']:>10d}")
    return "\n".join(lines)


def plot_confusion(matrix: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    normalised = normalize_rows(matrix)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, data, fmt, name in ((axes[0], matrix, "d", "counts"), (axes[1], normalised, ".2f", "row-normalised (recall)")):
        ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
        for i in range(NUM_CLASSES):
            for j in range(NUM_CLASSES):
                ax.text(j, i, format(data[i, j], fmt), ha="center", va="center",
                        color="white" if normalised[i, j] > 0.5 else "black", fontsize=8)
        ax.set_xticks(range(NUM_CLASSES), EMOTIONS, rotation=45, ha="right")
        ax.set_yticks(range(NUM_CLASSES), EMOTIONS)
        ax.set(xlabel="predicted", ylabel="true", title=name)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(probs: np.ndarray, labels: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = reliability_bins(probs, labels)
    edges = table["edges"]
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(5.5, 6.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.bar(centres, np.nan_to_num(table["accuracy"]), width=width * 0.95, edgecolor="k", label="accuracy")
    ax.plot([0, 1], [0, 1], "r--", label="perfect calibration")
    ax.set(ylabel="accuracy", title=f"{title}\nECE {expected_calibration_error(probs, labels):.4f}")
    ax.legend(loc="upper left")
    ax_count.bar(centres, table["count"], width=width * 0.95, color="grey")
    ax_count.set(xlabel="confidence (top probability)", ylabel="faces")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: EvaluationReport, probs: np.ndarray, labels: np.ndarray, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(asdict(report), indent=1))
    title = f"{report.split} ({report.images} faces)" + (", flip TTA" if report.tta_flip else "")
    plot_confusion(np.array(report.confusion), out / "confusion_matrix.png", title)
    plot_reliability(probs, labels, out / "reliability.png", title)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m fer evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    parser.add_argument("--data", default="", help="FER-2013 zip, folder or CSV (default: $FER2013_PATH or ../shared/datasets/fer2013.zip)")
    parser.add_argument("--split", default="PrivateTest", choices=SPLITS)
    parser.add_argument("--tta", action="store_true", help="average with the horizontally flipped face")
    parser.add_argument("--out", default="", help="folder for metrics.json and plots (default reports/<split>)")
    parser.add_argument("--throughput-batch", type=int, default=64, help="batch size of the speed measurement (0: skip)")
    args = parser.parse_args(argv)
    data = args.data or default_dataset_path()
    try:
        if not data:
            raise DatasetError("no data set given: pass --data PATH")
        split = load_split(data, args.split)
        report, probs = evaluate(args.model, split.images, split.labels, args.split, args.tta, progress=True,
                                 throughput_batch=args.throughput_batch)
    except (DatasetError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or f"reports/{args.split.lower()}{'_tta' if args.tta else ''}")
    write_report(report, probs, split.labels, out)
    print(format_table(report))
    print(f"\nwrote {out}/metrics.json, confusion_matrix.png, reliability.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
