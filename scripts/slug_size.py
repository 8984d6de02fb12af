"""How big a Heroku slug of ClassMood would be, measured on a clean install.

Heroku refuses a slug over 500 MB *after compression*. The slug holds the Python runtime,
everything ``pip install -r requirements.txt`` installs, and the files ``git push`` sends
minus what ``.slugignore`` removes. This script builds exactly that in a temporary folder
(a fresh venv, then pip) and reports each part installed and the whole gzip-compressed,
against the limit, so the deployment choice rests on a number instead of a guess.

Usage: ``python scripts/slug_size.py [--requirements requirements.txt] [--limit-mb 500]``.
Exits 1 when the compressed estimate is over the limit. Needs network access to the
package index and about 1 GB of temporary disk (3 GB for ``requirements-train.txt``, which
adds TensorFlow). The app's files include the model files in ``models/`` (the ``.keras``
and the ``.tflite`` that serving uses) even before they are committed.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000  # Heroku's "MB" in its size messages are decimal megabytes
#: Model files the app ships: counted from the working tree when not committed yet.
MODEL_PATTERNS = ("models/*.keras", "models/*.tflite")
#: The file a serving install (no TensorFlow) classifies with; made by `python -m fer export`.
SERVED_MODEL = Path("models/emotion_cnn.tflite")


@dataclass(frozen=True)
class Part:
    """One part of the slug: its files (absolute paths) and their total size in bytes."""

    name: str
    files: tuple[Path, ...]

    @property
    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def files_under(folder: Path, skip: tuple[str, ...] = ()) -> tuple[Path, ...]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in skip]
        found += [Path(dirpath) / name for name in filenames if not (Path(dirpath) / name).is_symlink()]
    return tuple(found)


def slugignore_patterns(root: Path) -> list[str]:
    path = root / ".slugignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """``.gitignore``-style matching as Heroku applies ``.slugignore`` (no ``!`` negation):
    a pattern with a slash inside is anchored at the root, one without matches any part."""
    parts = relative.split("/")
    for pattern in patterns:
        directory_only = pattern.endswith("/")
        anchored = pattern.startswith("/") or "/" in pattern.strip("/")
        pattern = pattern.strip("/")
        if anchored:
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            if any(fnmatch.fnmatch(p, pattern) for p in (prefixes[:-1] if directory_only else prefixes)):
                return True
        else:
            candidates = parts[:-1] if directory_only else parts
            if any(fnmatch.fnmatch(part, pattern) for part in candidates):
                return True
    return False


def app_files(root: Path) -> tuple[tuple[Path, ...], list[str]]:
    """Tracked files minus ``.slugignore``, and notes on the model file."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    relative = [p for p in tracked.decode().split("\0") if p and (root / p).is_file()]
    patterns = slugignore_patterns(root)
    kept = [p for p in relative if not ignored(p, patterns)]
    notes = []
    for pattern in MODEL_PATTERNS:
        for path in sorted(root.glob(pattern)):
            relative_model = path.relative_to(root).as_posix()
            if path.is_file() and relative_model not in kept and not ignored(relative_model, patterns):
                kept.append(relative_model)
                notes.append(f"{relative_model} is not committed yet; counted from the working tree")
    if not (root / SERVED_MODEL).is_file():
        notes.append(f"{SERVED_MODEL} is missing (python -m fer export): add its size (about 5 MB) to the totals")
    return tuple(root / p for p in kept), notes


def runtime_files() -> tuple[Path, ...]:
    """The interpreter's standard library (Heroku vendors a whole Python into the slug)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return files_under(stdlib, skip=("site-packages", "test", "__pycache__"))


def compressed_size(parts: list[Part]) -> int:
    """Bytes of a gzip-compressed tar of all parts, as the slug archive is; nothing is written."""

    class Counter:
        def __init__(self) -> None:
            self.size = 0
            self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)

        def write(self, data: bytes) -> int:
            self.size += len(self._gzip.compress(data))
            return len(data)

        def close(self) -> None:
            self.size += len(self._gzip.flush())

    counter = Counter()
    with tarfile.open(fileobj=counter, mode="w|") as archive:
        for part in parts:
            for path in part.files:
                archive.add(path, arcname=f"{part.name}/{path.name}", recursive=False)
    counter.close()
    return counter.size


def install(requirements: Path, folder: Path) -> Path:
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    done = subprocess.run([*pip, "install", "-q", "--no-cache-dir", "-r", str(requirements)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pip install -r {requirements} failed:\n{done.stderr[-3000:]}")
    return Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument("--limit-mb", type=float, default=500.0, help="Heroku's compressed slug limit")
    parser.add_argument("--top", type=int, default=8, help="largest installed packages to list")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="classmood-slug-") as tmp:
        print(f"installing {args.requirements} into a fresh venv ...", file=sys.stderr)
        site = install(args.requirements.resolve(), Path(tmp))
        app, notes = app_files(ROOT)
        parts = [
            Part("python-runtime", runtime_files()),
            Part("site-packages", files_under(site, skip=("__pycache__",))),
            Part("app", app),
        ]
        sizes = [(part.name, part.bytes, len(part.files)) for part in parts]
        by_package: dict[str, int] = {}
        for path in parts[1].files:
            top = path.relative_to(site).parts[0]
            by_package[top] = by_package.get(top, 0) + path.stat().st_size
        print("compressing (gzip -6) to measure the archive ...", file=sys.stderr)
        packed = compressed_size(parts)

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(f"Heroku slug estimate for {args.requirements.name} (Python {python}, {sys.platform}):")
    for name, size, count in sizes:
        print(f"  {name:<16}{size / MB:9.1f} MB installed ({count} files)")
    installed = sum(size for _, size, _ in sizes)
    print(f"  {'total':<16}{installed / MB:9.1f} MB installed")
    print(f"  {'compressed':<16}{packed / MB:9.1f} MB (tar.gz)  limit {args.limit_mb:.0f} MB")
    print("largest installed packages:")
    for name, size in sorted(by_package.items(), key=lambda item: -item[1])[: args.top]:
        print(f"  {name:<32}{size / MB:9.1f} MB")
    for note in notes:
        print(f"note: {note}")
    over = packed > args.limit_mb * MB
    print(
        f"{'OVER' if over else 'under'} Heroku's limit by {abs(packed / MB - args.limit_mb):.1f} MB "
        "(compressed estimate; Heroku prints the real figure at the end of a build)"
    )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
