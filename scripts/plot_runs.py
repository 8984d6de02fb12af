"""Draw the PublicTest curves of several training runs on one figure (the model card's image).

    python scripts/plot_runs.py models/training_history.csv:member_A \
        runs/gpu1/student_a07/history.csv:student_a07 ... --out models/training_curves.png

Each argument is ``history.csv[:label]`` as written by ``python -m fer train``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="history.csv[:label]")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for run in args.runs:
        path, _, label = run.partition(":")
        rows = list(csv.DictReader(open(path)))
        epochs = [int(r["epoch"]) for r in rows]
        label = label or Path(path).parent.name
        line, = ax_val.plot(epochs, [float(r["val_accuracy"]) for r in rows], label=label)
        ax_train.plot(epochs, [float(r["accuracy"]) for r in rows], color=line.get_color(), label=label)
    ax_train.set(title="training accuracy (augmented faces)", xlabel="epoch", ylabel="accuracy")
    ax_val.set(title="PublicTest accuracy (selection split)", xlabel="epoch")
    for ax in (ax_train, ax_val):
        ax.grid(alpha=0.3)
    ax_val.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
