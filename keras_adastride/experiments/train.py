"""What every run of the main job shares, whatever the task: the run record, epoch timing, the
model builder call, and the CAS / PAS gates' effective strides and maps.

With no GPU the models are compiled with ``jit_compile=False`` (:func:`default_jit_compile`):
Keras' default ``"auto"`` turns XLA on with the TensorFlow backend even on a CPU, where it is
slower here.
"""

import dataclasses
import time

import keras
import numpy as np

from keras_adastride.layers.adaptive_stride import AdaptiveStrideLogic


def _steady(times):
    """Mean per epoch, leaving out the first (graph tracing) when there are more."""
    return float(np.mean(times[1:] if len(times) > 1 else times))


@dataclasses.dataclass
class RunResult:
    """What one (variant, seed) training run measured (``model`` is kept in memory only).

    ``metrics``: ``{name: value}``, at least the task's ``metrics``; ``epoch_seconds`` /
    ``epoch_cpu_seconds``: wall time / CPU time of this process (every thread) per epoch.
    """

    variant: str
    seed: int
    metrics: dict
    history: dict
    epoch_seconds: list
    epoch_cpu_seconds: list
    params: int
    flops: int
    effective_strides: dict
    model: object = dataclasses.field(default=None, repr=False)

    @property
    def test_accuracy(self):
        """``metrics["test_accuracy"]`` (classification)."""
        return self.metrics["test_accuracy"]

    @property
    def seconds_per_epoch(self):
        """Mean wall time of an epoch, leaving out the first (graph tracing) when there are more."""
        return _steady(self.epoch_seconds)

    @property
    def cpu_seconds_per_epoch(self):
        """Mean process CPU time of an epoch, leaving out the first like :attr:`seconds_per_epoch`."""
        return _steady(self.epoch_cpu_seconds)

    def to_dict(self):
        record = dataclasses.asdict(dataclasses.replace(self, model=None))
        record.pop("model")
        record["seconds_per_epoch"] = self.seconds_per_epoch
        record["cpu_seconds_per_epoch"] = self.cpu_seconds_per_epoch
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


def gate_maps_by_layer(models, images):
    """``{"variant: layer": gate map on images}`` for every CAS / PAS layer of the models."""
    maps = {}
    for variant, model in models.items():
        for name, (layer, inputs) in adaptive_layer_inputs(model, images).items():
            maps[f"{variant}: {name}"] = np.asarray(layer.gate_map(inputs))
    return maps


def build_model(model_name, variant, input_shape, num_classes, gate_options=None):
    """``keras_adastride.models.<model_name>(input_shape, num_classes, downsampling=variant,
    gate_options=gate_options)``; the builders give ``gate_options`` to their CAS / PAS
    layers only, so variants without gates ignore them."""
    from keras_adastride import models

    builder = getattr(models, model_name, None)
    if builder is None or not callable(builder):
        raise ValueError(f"model must name a builder in keras_adastride.models, got {model_name!r}.")
    return builder(input_shape=input_shape, num_classes=num_classes, downsampling=variant,
                   gate_options=gate_options)


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time (``seconds``) and this process's CPU time
    (``cpu_seconds``, ``time.process_time``: every thread, not other processes), training and
    validation included."""

    def __init__(self):
        super().__init__()
        self.seconds, self.cpu_seconds = [], []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start[0])
        self.cpu_seconds.append(time.process_time() - self._start[1])


def measure_run(model, variant, seed, metrics, history, timer, stride_images):
    """The :class:`RunResult` of a trained ``model``: ``metrics`` as given, the fit ``history``
    and ``timer`` (:class:`EpochTimer`), parameters, FLOPs and the effective strides of its gates
    on ``stride_images``."""
    from keras_adastride.flops import count_flops

    return RunResult(
        variant=variant,
        seed=seed,
        metrics={name: float(value) for name, value in metrics.items()},
        history={key: [float(v) for v in values] for key, values in history.history.items()},
        epoch_seconds=timer.seconds,
        epoch_cpu_seconds=timer.cpu_seconds,
        params=int(model.count_params()),
        flops=int(count_flops(model)),
        effective_strides=effective_strides(model, stride_images),
        model=model,
    )
