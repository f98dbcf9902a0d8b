"""Train and evaluate one (model, downsampling variant, seed) run.

Every run uses the same recipe: Adam (learning rate ``learning_rate``), sparse categorical
cross-entropy, ``epochs`` passes over the training images in batches of ``batch_size``, shuffled
by the run's seed. With no GPU the model is compiled with ``jit_compile=False``: Keras' default
``"auto"`` turns XLA on with the TensorFlow backend even on a CPU, where it is slower here.
"""

import dataclasses
import time

import keras
import numpy as np

from keras_adastride.layers.adaptive_stride import AdaptiveStrideLogic


@dataclasses.dataclass
class RunResult:
    """What one training run measured (``model`` is kept in memory only)."""

    variant: str
    seed: int
    test_accuracy: float
    test_loss: float
    history: dict
    epoch_seconds: list
    params: int
    flops: int
    effective_strides: dict
    model: object = dataclasses.field(default=None, repr=False)

    @property
    def seconds_per_epoch(self):
        """Mean wall time of an epoch, leaving out the first (graph tracing) when there are more."""
        times = self.epoch_seconds[1:] if len(self.epoch_seconds) > 1 else self.epoch_seconds
        return float(np.mean(times))

    def to_dict(self):
        record = dataclasses.asdict(dataclasses.replace(self, model=None))
        record.pop("model")
        record["seconds_per_epoch"] = self.seconds_per_epoch
        return record


def default_jit_compile():
    """``"auto"`` (Keras' choice) when TensorFlow sees a GPU, else ``False``."""
    import tensorflow as tf

    return "auto" if tf.config.list_physical_devices("GPU") else False


def adaptive_layers(model):
    """The model's CAS and PAS layers (of either Keras generation), in graph order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, AdaptiveStrideLogic):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(adaptive_layers(layer))
    return found


def adaptive_layer_inputs(model, images, batch_size=256):
    """``{layer name: (layer, the layer's input on images)}`` for every CAS / PAS layer."""
    layers = adaptive_layers(model)
    if not layers:
        return {}
    probe = keras.Model(model.input, [layer.input for layer in layers])
    batches = [probe(images[i:i + batch_size], training=False)
               for i in range(0, len(images), batch_size)]
    batches = [batch if isinstance(batch, (list, tuple)) else [batch] for batch in batches]
    outputs = [np.concatenate([keras.ops.convert_to_numpy(batch[j]) for batch in batches])
               for j in range(len(layers))]
    return {layer.name: (layer, inputs) for layer, inputs in zip(layers, outputs)}


def effective_strides(model, images):
    """``{layer name: layer.effective_stride(its input on images)}`` for every CAS / PAS layer."""
    return {name: float(layer.effective_stride(inputs))
            for name, (layer, inputs) in adaptive_layer_inputs(model, images).items()}


def build_model(model_name, variant, input_shape, num_classes, gate_options=None):
    """``keras_adastride.models.<model_name>(input_shape, num_classes, downsampling=variant,
    gate_options=gate_options)``; the builders give ``gate_options`` to their CAS / PAS layers
    only, so variants without gates ignore them."""
    from keras_adastride import models

    builder = getattr(models, model_name, None)
    if builder is None or not callable(builder):
        raise ValueError(f"model must name a builder in keras_adastride.models, got {model_name!r}.")
    return builder(input_shape=input_shape, num_classes=num_classes, downsampling=variant,
                   gate_options=gate_options)


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time (training and validation) in ``seconds``."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train_run(model_name, variant, seed, data, *, epochs, batch_size, learning_rate=1e-3,
              verbose=1, jit_compile=None, stride_images=500, gate_options=None):
    """Build, train and evaluate one run.

    Args:
        data: dict with float32 image arrays ``x_train, x_val, x_test`` (N, H, W, C) and integer
            label arrays ``y_train, y_val, y_test``; the validation split gives the learning curves.
        stride_images: how many test images the effective strides are measured on.
        gate_options: extra CAS / PAS arguments (see :func:`build_model`).
    """
    from keras_adastride.flops import count_flops

    keras.utils.set_random_seed(seed)
    num_classes = int(max(data["y_train"].max(), data["y_test"].max())) + 1
    model = build_model(model_name, variant, data["x_train"].shape[1:], num_classes,
                        gate_options=gate_options)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=default_jit_compile() if jit_compile is None else jit_compile,
    )
    timer = EpochTimer()
    history = model.fit(
        data["x_train"], data["y_train"], batch_size=batch_size, epochs=epochs, shuffle=True,
        validation_data=(data["x_val"], data["y_val"]), callbacks=[timer], verbose=verbose,
    )
    test_loss, test_accuracy = model.evaluate(
        data["x_test"], data["y_test"], batch_size=max(batch_size, 256), verbose=0
    )
    return RunResult(
        variant=variant,
        seed=seed,
        test_accuracy=float(test_accuracy),
        test_loss=float(test_loss),
        history={key: [float(v) for v in values] for key, values in history.history.items()},
        epoch_seconds=timer.seconds,
        params=int(model.count_params()),
        flops=int(count_flops(model)),
        effective_strides=effective_strides(model, data["x_test"][:stride_images]),
        model=model,
    )
