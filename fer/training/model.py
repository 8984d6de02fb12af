"""The ClassMood emotion CNN: our own small network, designed to serve fast on a CPU.

Contract relied on by every other part (serving, evaluation, the app): input float32
``(N, 48, 48, 1)`` grayscale pixel values 0..255, output ``(N, 7)`` softmax probabilities
in :data:`fer.emotions.EMOTIONS` order. Scaling lives inside the model, and only built-in Keras
layers are used, so ``keras.models.load_model(path, compile=False)`` needs no custom objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from fer.emotions import IMAGE_SIZE, NUM_CLASSES


@dataclass(frozen=True)
class ModelSpec:
    """Shape of the network. The defaults are the shipped model's."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: int = 2
    dropout: float = 0.4
    weight_decay: float = 1e-4


def build_model(spec: ModelSpec = ModelSpec(), temperature: float = 1.0, name: str = "emotion_cnn"):
    """A VGG-like stack of 3x3 conv + batch-norm stages, max-pooled between stages.

    Plain 3x3 convolutions (not separable) because oneDNN runs them near peak on a CPU and
    48x48 inputs keep their cost small; global average pooling instead of large dense layers
    keeps the parameter count near a million. ``temperature`` divides the logits before the
    softmax (calibration fitted on PublicTest) using a built-in ``Rescaling`` layer, so the
    saved file still needs no custom objects.
    """
    import keras
    from keras import layers, regularizers

    reg = regularizers.L2(spec.weight_decay) if spec.weight_decay else None
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face_gray_0_255")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inputs)
    for stage, width in enumerate(spec.widths):
        for conv in range(spec.convs_per_stage):
            x = layers.Conv2D(
                width, 3, padding="same", use_bias=False, kernel_regularizer=reg,
                name=f"s{stage}_conv{conv}",
            )(x)
            x = layers.BatchNormalization(name=f"s{stage}_bn{conv}")(x)
            x = layers.ReLU(name=f"s{stage}_relu{conv}")(x)
        if stage < len(spec.widths) - 1:
            x = layers.MaxPooling2D(2, name=f"s{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(spec.dropout, name="dropout")(x)
    logits = layers.Dense(NUM_CLASSES, kernel_regularizer=reg, name="logits")(x)
    logits = layers.Rescaling(1.0 / temperature, name="temperature", dtype="float32")(logits)
    outputs = layers.Activation("softmax", name="probs", dtype="float32")(logits)
    return keras.Model(inputs, outputs, name=name)
