"""Carry trained models to the lent GPU in half the bytes, and rebuild them there.

    python scripts/weights_fp16.py pack runs/gpu1/teacher1.keras .gpu/teacher1.npz
    python scripts/weights_fp16.py unpack .gpu/teacher1.npz /tmp/teacher1.keras

Why: what travels to the GPU machine is capped at 64 MiB, and the data pack alone is 49 MB.
A model of :mod:`fer.training.model` is fully described by its :class:`ModelSpec` and weights; float16
weights change a teacher's logits by about 1e-3, far below what distillation targets notice.
"""

from __future__ import annotations

import json
import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))


def pack(src: str, dst: str) -> None:
    import keras

    model = keras.models.load_model(src, compile=False)
    convs = [layer for layer in model.layers if layer.name.endswith("_conv0")]
    spec = {"widths": [layer.filters for layer in convs],
            "convs_per_stage": sum(1 for layer in model.layers if layer.name.startswith("s0_conv")),
            "temperature": 1.0 / float(model.get_layer("temperature").scale)}
    weights = model.get_weights()
    np.savez(dst, spec=json.dumps(spec), **{f"w{i}": w.astype(np.float16) for i, w in enumerate(weights)})


def unpack(src: str, dst: str) -> None:
    from fer.training.model import ModelSpec, build_model

    data = np.load(src)
    spec = json.loads(str(data["spec"]))
    model = build_model(ModelSpec(widths=tuple(spec["widths"]), convs_per_stage=spec["convs_per_stage"]),
                        temperature=spec["temperature"])
    model.set_weights([data[f"w{i}"].astype(np.float32) for i in range(len(model.get_weights()))])
    model.save(dst)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(sys.argv[2], sys.argv[3])
