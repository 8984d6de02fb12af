"""Train the emotion CNN on FER-2013 Training, selecting on PublicTest only.

    python -m fer train --data ../shared/datasets/fer2013.zip --out runs/emotion_cnn
    python -m fer train --out runs/emotion_cnn --resume      # continue after a stop

Training on 2 CPU cores takes about an hour and a half, so every epoch writes a full
checkpoint (model + optimizer + state) and ``--resume`` continues exactly where it stopped:
the learning rate is a function of the epoch and the augmentation of ``(seed, epoch)``.
PrivateTest is never read here; report it once with ``python -m fer evaluate``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fer.emotions import NUM_CLASSES
from fer.training.augment import AugmentSpec, augment_epoch
from fer.training.data import DatasetError, default_dataset_path, load_fer2013
from fer.training.model import ModelSpec, build_model

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"
BEST = "best.keras"
FINAL = "emotion_cnn.keras"


@dataclass
class TrainConfig:
    """Everything a run depends on; saved next to the checkpoints so ``--resume`` reuses it."""

    data: str = ""
    out: str = "runs/emotion_cnn"
    epochs: int = 42
    batch_size: int = 128
    seed: int = 1234
    learning_rate: float = 2e-3
    warmup_epochs: int = 2
    min_lr_fraction: float = 0.01
    label_smoothing: float = 0.05
    class_weights: str = "none"  # none | balanced | sqrt
    patience: int = 15
    limit: int = 0  # train on the first N images only (smoke tests)
    aug_workers: int = 0  # processes augmenting the next epoch while this one trains (GPU runs)
    teachers: list = field(default_factory=list)  # model files whose averaged logits teach this one
    distill_alpha: float = 0.7  # weight of the teachers' probabilities in the targets; rest: the label
    distill_temperature: float = 1.0  # softens the teachers' probabilities
    teacher_mirror: bool = False  # teachers also see each face mirrored (their logits averaged)
    model: dict = field(default_factory=lambda: asdict(ModelSpec()))
    augment: dict = field(default_factory=lambda: asdict(AugmentSpec()))


def learning_rate_at(config: TrainConfig, epoch_progress: float) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_fraction`` of the peak at the last epoch."""
    peak = config.learning_rate
    if epoch_progress < config.warmup_epochs:
        return peak * max(epoch_progress, 0.05) / config.warmup_epochs
    span = max(config.epochs - config.warmup_epochs, 1e-9)
    t = min((epoch_progress - config.warmup_epochs) / span, 1.0)
    low = peak * config.min_lr_fraction
    return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * t))


def class_weight_vector(labels: np.ndarray, mode: str) -> np.ndarray:
    """Per-class loss weights, normalised to a mean of 1 over the training images."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    if mode == "none":
        weights = np.ones(NUM_CLASSES)
    elif mode == "balanced":
        weights = counts.sum() / (NUM_CLASSES * np.maximum(counts, 1))
    elif mode == "sqrt":
        weights = np.sqrt(counts.sum() / (NUM_CLASSES * np.maximum(counts, 1)))
    else:
        raise ValueError(f"class weights {mode!r}: expected none, balanced or sqrt")
    return weights / (weights[labels].mean() if len(labels) else 1.0)


def save_uncompiled(model, spec: ModelSpec, path: Path, temperature: float = 1.0) -> None:
    """Save an optimizer-free copy (half the size; loads with ``compile=False``), atomically."""
    clean = build_model(spec, temperature=temperature)
    clean.set_weights(model.get_weights())
    tmp = path.with_suffix(".tmp.keras")
    clean.save(tmp)
    os.replace(tmp, path)


def _from_saved(cls, saved: dict):
    """Rebuild a spec dataclass from its JSON form, where tuples came back as lists."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def _spec(config: TrainConfig) -> ModelSpec:
    return _from_saved(ModelSpec, config.model)


def plot_history(history: list[dict], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:  # a bare GPU host: plot later from history.csv
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(epochs, [h["loss"] for h in history], label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], label="PublicTest")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_acc.plot(epochs, [h["accuracy"] for h in history], label="train (augmented)")
    ax_acc.plot(epochs, [h["val_accuracy"] for h in history], label="PublicTest")
    ax_acc.set(title="accuracy", xlabel="epoch")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_history(history: list[dict], out: Path, plot: bool = True) -> None:
    (out / "history.json").write_text(json.dumps(history, indent=1))
    if history:
        with open(out / "history.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
        if plot:
            plot_history(history, out / "curves.png")


def load_teacher(paths: list[str], mirror: bool = False):
    """One model giving the mean logits of the teacher files (each built by :mod:`fer.training.model`),
    over the mirrored face too with ``mirror``."""
    from fer.training.ensemble import load_member, mean_logits_model

    return mean_logits_model([load_member(Path(p)) for p in paths], mirror=mirror, name="teachers")


def distill_targets(teacher_logits: np.ndarray, onehot: np.ndarray, alpha: float, temperature: float) -> np.ndarray:
    """Soft targets: ``alpha`` of the teachers' softened probabilities, the rest the true label.

    Why distil: a wider network, or several, learns FER-2013 better than the small one we can
    serve at 1,000+ faces/s on a CPU; their probabilities also carry which wrong classes are
    plausible (fear vs surprise), which one-hot labels, noisy on this data set, do not.
    """
    from fer.training.ensemble import softmax

    return (alpha * softmax(teacher_logits / temperature) + (1 - alpha) * onehot).astype(np.float32)


def _compile(model, config: TrainConfig) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )


def train(config: TrainConfig, resume: bool = False, verbose: int = 1, stop_after: int = 0) -> Path:
    """Run (or continue) training; returns the folder holding ``best.keras`` and the history.

    ``stop_after`` ends the run after that epoch while the learning-rate schedule still spans
    ``config.epochs``: how a run cut short by a time limit is reproduced exactly.
    """
    import keras

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE
    if resume:
        if not state_path.exists() or not (out / CHECKPOINT).exists():
            raise FileNotFoundError(f"{out}: nothing to resume (no {CHECKPOINT} / {STATE}); start without --resume")
        state = json.loads(state_path.read_text())
        saved = TrainConfig(**state["config"])
        saved.out = config.out
        saved.data = config.data or saved.data
        if config.epochs != saved.epochs:
            saved.epochs = config.epochs  # allow extending a finished run
        config = saved
    else:
        state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "history": [], "wall_s": 0.0}

    data_path = config.data or default_dataset_path()
    if not data_path:
        raise DatasetError("no data set given: pass --data PATH (the FER-2013 zip, folder or CSV)")
    config.data = str(data_path)
    splits = load_fer2013(data_path)
    train_split, val_split = splits["Training"], splits["PublicTest"]
    if config.limit:
        rng0 = np.random.default_rng(config.seed)
        train_split = train_split.subset(np.sort(rng0.permutation(len(train_split))[: config.limit]))
        val_split = val_split.subset(np.sort(rng0.permutation(len(val_split))[: max(config.limit // 4, 16)]))
    if len(train_split) == 0 or len(val_split) == 0:
        raise DatasetError(f"{data_path}: Training and PublicTest must both hold images")

    keras.utils.set_random_seed(config.seed)
    spec = _spec(config)
    aug = _from_saved(AugmentSpec, config.augment)
    if resume:
        model = keras.models.load_model(out / CHECKPOINT)
    else:
        model = build_model(spec)
        _compile(model, config)

    weights = class_weight_vector(train_split.labels, config.class_weights)
    y_train = np.eye(NUM_CLASSES, dtype=np.float32)[train_split.labels]
    x_val = val_split.images[..., None].astype(np.float32)
    y_val = np.eye(NUM_CLASSES, dtype=np.float32)[val_split.labels]
    steps = math.ceil(len(train_split) / config.batch_size)

    class Schedule(keras.callbacks.Callback):
        def __init__(self, epoch: int):
            super().__init__()
            self.epoch = epoch

        # Under JAX the optimizer state is read once per fit() call, so there the rate set for
        # an epoch's first batch holds for the whole epoch (a stepwise cosine); TF follows it per batch.
        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate.assign(learning_rate_at(config, self.epoch + batch / steps))

    teacher = load_teacher(config.teachers, mirror=config.teacher_mirror) if config.teachers else None
    pool = prefetch = None
    if config.aug_workers > 0:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

        # spawn, not fork: forking a process that holds a JAX/TF runtime can deadlock.
        pool = ProcessPoolExecutor(config.aug_workers, mp_context=multiprocessing.get_context("spawn"))
        prefetch = ThreadPoolExecutor(1)

    def make_epoch(epoch: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train_split))
        return order, augment_epoch(train_split.images[order], config.seed, epoch, aug, pool)[..., None]

    history = state["history"]
    (out / "config.json").write_text(json.dumps(asdict(config), indent=1))
    upcoming = prefetch.submit(make_epoch, state["epoch"]) if prefetch else None
    last_epoch = min(config.epochs, stop_after) if stop_after else config.epochs
    for epoch in range(state["epoch"], last_epoch):
        started = time.time()
        order, x_epoch = upcoming.result() if upcoming else make_epoch(epoch)
        if prefetch and epoch + 1 < last_epoch:
            upcoming = prefetch.submit(make_epoch, epoch + 1)
        targets = y_train[order]
        if teacher is not None:
            logits = teacher.predict(x_epoch, batch_size=1024, verbose=0)
            targets = distill_targets(logits, targets, config.distill_alpha, config.distill_temperature)
        if verbose == 1:
            print(f"epoch {epoch + 1}/{config.epochs}  lr {learning_rate_at(config, epoch):.2e}", flush=True)
        fit = model.fit(
            x_epoch,
            targets,
            sample_weight=weights[train_split.labels[order]],
            batch_size=config.batch_size,
            epochs=1,
            shuffle=False,
            verbose=1 if verbose == 1 else 0,
            callbacks=[Schedule(epoch)],
        )
        val_loss, val_acc = model.evaluate(x_val, y_val, batch_size=512, verbose=0)
        row = {
            "epoch": epoch + 1,
            "loss": float(fit.history["loss"][-1]),
            "accuracy": float(fit.history["accuracy"][-1]),
            "val_loss": float(val_loss),
            "val_accuracy": float(val_acc),
            "lr": learning_rate_at(config, epoch + 1 - 1e-9),
            "seconds": round(time.time() - started, 1),
        }
        history.append(row)
        state["wall_s"] += row["seconds"]
        improved = val_acc > state["best_val_accuracy"]
        if improved:
            state["best_val_accuracy"], state["best_epoch"] = float(val_acc), epoch + 1
            save_uncompiled(model, spec, out / BEST)
        tmp = out / (CHECKPOINT + ".tmp.keras")
        model.save(tmp)
        os.replace(tmp, out / CHECKPOINT)
        state["epoch"] = epoch + 1
        state["history"] = history
        state["config"] = asdict(config)
        state_tmp = out / (STATE + ".tmp")
        state_tmp.write_text(json.dumps(state, indent=1))
        os.replace(state_tmp, state_path)
        # The plot takes longer than a GPU epoch: there, redraw it every tenth epoch only.
        write_history(history, out, plot=row["seconds"] > 10 or (epoch + 1) % 10 == 0)
        if verbose:
            print(
                (f"epoch {epoch + 1}/{config.epochs} train acc {row['accuracy']:.4f}" if verbose == 2 else "") +
                f"  PublicTest acc {val_acc:.4f} loss {val_loss:.4f}"
                f"{'  (best, saved)' if improved else ''}  [{row['seconds']:.0f}s]",
                flush=True,
            )
        if epoch + 1 - state["best_epoch"] >= config.patience:
            if verbose:
                print(f"early stop: no PublicTest gain for {config.patience} epochs", flush=True)
            break
    write_history(history, out)
    if pool:
        prefetch.shutdown(cancel_futures=True)
        pool.shutdown(cancel_futures=True)
    return out


def finalize(out: Path, data_path: str, ship_to: Path | None = None, verbose: int = 1) -> Path:
    """Fit a softmax temperature on PublicTest to the best model and write ``emotion_cnn.keras``."""
    import keras

    from fer.training.metrics import expected_calibration_error, fit_temperature

    best = keras.models.load_model(out / BEST, compile=False)
    val = load_fer2013(data_path)["PublicTest"]
    probs = best.predict(val.images[..., None].astype(np.float32), batch_size=512, verbose=0)
    temperature = fit_temperature(probs, val.labels)
    final = out / FINAL
    save_uncompiled(best, _spec(TrainConfig(**json.loads((out / STATE).read_text())["config"])), final, temperature)
    clean = keras.models.load_model(final, compile=False)
    calibrated = clean.predict(val.images[..., None].astype(np.float32), batch_size=512, verbose=0)
    info = {
        "temperature": temperature,
        "public_test_ece_before": expected_calibration_error(probs, val.labels),
        "public_test_ece_after": expected_calibration_error(calibrated, val.labels),
        "public_test_accuracy": float((calibrated.argmax(1) == val.labels).mean()),
    }
    (out / "calibration.json").write_text(json.dumps(info, indent=1))
    if verbose:
        print(f"temperature {temperature:.3f}: PublicTest ECE {info['public_test_ece_before']:.4f} -> "
              f"{info['public_test_ece_after']:.4f}; wrote {final}")
    if ship_to:
        ship_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(final, ship_to)
        from fer.training.export import export

        exported = export(ship_to)  # the app serves this LiteRT copy
        if verbose:
            print(f"shipped to {ship_to} and {exported.path} (LiteRT)")
    return final


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m fer train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="", help="FER-2013 zip, unpacked folder or fer2013.csv "
                        "(default: $FER2013_PATH or ../shared/datasets/fer2013.zip)")
    parser.add_argument("--out", default=defaults.out, help="folder for checkpoints, history and curves")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="peak learning rate")
    parser.add_argument("--class-weights", choices=["none", "balanced", "sqrt"], default=defaults.class_weights)
    parser.add_argument("--patience", type=int, default=defaults.patience, help="early-stopping patience (epochs)")
    parser.add_argument("--widths", default=",".join(map(str, ModelSpec().widths)),
                        help="channels of each conv stage, comma-separated")
    parser.add_argument("--convs-per-stage", type=int, default=ModelSpec().convs_per_stage)
    parser.add_argument("--aug-workers", type=int, default=0,
                        help="processes augmenting the next epoch in the background (use on a GPU host)")
    parser.add_argument("--teachers", default="", help="comma-separated model files to distil from")
    parser.add_argument("--distill-alpha", type=float, default=defaults.distill_alpha,
                        help="weight of the teachers' probabilities in the targets (the rest is the label)")
    parser.add_argument("--distill-temperature", type=float, default=defaults.distill_temperature)
    parser.add_argument("--teacher-mirror", action="store_true", help="teachers also judge the mirrored face")
    parser.add_argument("--limit", type=int, default=0, help="use only N training images (smoke runs)")
    parser.add_argument("--stop-after", type=int, default=0,
                        help="stop after this epoch, keeping the schedule of --epochs (reproduces a cut run)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--ship", action="store_true", help="copy the final model to models/emotion_cnn.keras")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--epoch-lines", action="store_true",
                        help="one line per epoch instead of a progress bar (logs of background runs)")
    args = parser.parse_args(argv)
    config = TrainConfig(
        data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        learning_rate=args.lr, class_weights=args.class_weights, patience=args.patience, limit=args.limit,
        aug_workers=args.aug_workers, teachers=[t for t in args.teachers.split(",") if t],
        distill_alpha=args.distill_alpha, distill_temperature=args.distill_temperature,
        teacher_mirror=args.teacher_mirror,
        model=asdict(ModelSpec(widths=tuple(int(w) for w in args.widths.split(",")),
                               convs_per_stage=args.convs_per_stage)),
    )
    return config, args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    config, args = parse_args(argv)
    try:
        out = train(config, resume=args.resume, verbose=0 if args.quiet else 2 if args.epoch_lines else 1,
                    stop_after=args.stop_after)
        state = json.loads((out / STATE).read_text())
        ship = Path(__file__).resolve().parents[2] / "models" / FINAL if args.ship else None
        finalize(out, state["config"]["data"], ship_to=ship, verbose=0 if args.quiet else 1)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"best PublicTest accuracy {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']} "
          f"({state['wall_s'] / 60:.1f} min of training)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
