"""What every run of the main job shares, whatever the task: the run record, epoch timing, the
model builder call, the CAS / PAS gates' effective strides and maps, and the inference figures
(time per image with dense and sparse execution, kept tiles, effective FLOPs).

With no GPU the models are compiled with ``jit_compile=False`` (:func:`default_jit_compile`):
Keras' default ``"auto"`` turns XLA on with the TensorFlow backend even on a CPU, where it is
slower here.
"""

import dataclasses
import os
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
    ``epoch_cpu_seconds``: wall time / CPU time of this process (every thread) per epoch;
    ``inference``: :func:`inference_figures` on the test images (None when not measured);
    ``input_shape``: the model's input (H, W, C); ``failed``: whether the run never left chance
    level (the task decides; None when it does not tell).
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
    inference: dict = None
    input_shape: list = None
    failed: bool = None
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
    """``"auto"`` (Keras' choice) on JAX / torch and when TensorFlow sees a GPU; ``False`` for
    TensorFlow on a CPU."""
    if keras.backend.backend() != "tensorflow":
        return "auto"
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


def build_model(model_name, variant, input_shape, num_classes, gate_options=None, convert=False,
                builder_options=None):
    """``keras_adastride.models.<model_name>(input_shape, num_classes, downsampling=variant,
    gate_options=gate_options, **builder_options)``; the builders give ``gate_options`` to their
    CAS / PAS layers only, so variants without gates ignore them.

    ``builder_options`` (:meth:`ComparisonConfig.builder_options`): ``alpha`` (width
    multiplier), ``preset`` (builders with a ``preset`` argument: AlexNet), ``placements``
    (given to every variant but "original", which replaces no site) and ``kernel_init``:
    "he_normal" draws the built model's Glorot-drawn kernels again from He-normal
    (:func:`keras_adastride.initializers.redraw_default_kernels`); "glorot_uniform" / None keep
    them as built.

    With ``convert`` (always for a ``keras.applications.<Name>`` model, see
    :func:`application_model`), "original" is the original model and any other variant is
    ``keras_adastride.convert(original, to=variant, placements=..., gate_options=...)`` (default:
    the paper's placements): built after the same seed, both start from the same weights.
    """
    import inspect

    from keras_adastride import models
    from keras_adastride.experiments.config import APPLICATIONS_PREFIX

    options = dict(builder_options or {})
    placements = options.pop("placements", None)
    kernel_init = options.pop("kernel_init", None)
    if convert or model_name.startswith(APPLICATIONS_PREFIX):
        if model_name.startswith(APPLICATIONS_PREFIX):
            if options:
                raise ValueError(f"a {APPLICATIONS_PREFIX}<Name> model takes no builder options "
                                 f"(width, preset); got {options!r} for {model_name!r}.")
            original = application_model(model_name, input_shape, num_classes)
        else:
            original = build_model(model_name, "original", input_shape, num_classes,
                                   builder_options=options)
        _redraw_kernels(original, kernel_init)
        if variant == "original":
            return original
        from keras_adastride import convert as retrofit

        return retrofit(original, variant, placements=placements,
                        gate_options=None if variant == "spd" else gate_options)
    builder = getattr(models, model_name, None)
    if builder is None or not callable(builder):
        raise ValueError(f"model must name a builder in keras_adastride.models, got {model_name!r}.")
    if "preset" in options and "preset" not in inspect.signature(builder).parameters:
        raise ValueError(f"preset is an argument of the alexnet builder, not of {model_name!r}; "
                         f"got preset={options['preset']!r}.")
    if variant != "original" and placements is not None:
        options["placements"] = placements
    return _redraw_kernels(builder(input_shape=input_shape, num_classes=num_classes,
                                   downsampling=variant, gate_options=gate_options, **options),
                           kernel_init)


def _redraw_kernels(model, kernel_init):
    """``model``, its Glorot-drawn kernels drawn again from ``kernel_init`` unless that is the
    builders' own Glorot-uniform (or None)."""
    from keras_adastride.initializers import redraw_default_kernels

    if kernel_init not in (None, "glorot_uniform"):
        redraw_default_kernels(model, kernel_init)
    return model


#: the smallest height / width keras.applications networks accept.
APPLICATIONS_MIN_SIZE = 32


def application_model(model_name, input_shape, num_classes):
    """``keras.applications.<Name>`` (``weights=None``, ``classes=num_classes``) on inputs named
    "images" of ``input_shape``, zero-padded (layer ``pad_to_minimum``) up to 32x32 where smaller;
    one flat functional model (the padding is built into it through ``input_tensor``)."""
    from keras_adastride.experiments.config import APPLICATIONS_PREFIX

    name = model_name[len(APPLICATIONS_PREFIX):]
    constructor = getattr(keras.applications, name, None) if name.isidentifier() else None
    if constructor is None or not callable(constructor):
        raise ValueError(f"model {model_name!r} is not a network of keras.applications.")
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    missing = [max(0, APPLICATIONS_MIN_SIZE - size) for size in input_shape[:2]]
    if any(missing):
        x = keras.layers.ZeroPadding2D([(m // 2, m - m // 2) for m in missing],
                                       name="pad_to_minimum")(x)
    network = constructor(weights=None, input_tensor=x, input_shape=tuple(x.shape[1:]),
                          classes=num_classes)
    return keras.Model(inputs, network.output, name=network.name)  # one input, not a list


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time (``seconds``) and this process's CPU time
    (``cpu_seconds``, ``time.process_time``: every thread, not other processes), training and
    validation included; also into the epoch's logs (``epoch_seconds``, ``epoch_cpu_seconds``),
    so that a ``CSVLogger`` after it keeps them across a resume."""

    def __init__(self):
        super().__init__()
        self.seconds, self.cpu_seconds = [], []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start[0])
        self.cpu_seconds.append(time.process_time() - self._start[1])
        if logs is not None:
            logs.update(epoch_seconds=self.seconds[-1], epoch_cpu_seconds=self.cpu_seconds[-1])


class EpochShuffled(keras.utils.PyDataset):
    """``(x, y)`` in batches of ``batch_size``, shuffled in an order drawn from ``(seed, epoch)``
    alone (:class:`_EpochOrder` sets the epoch); ``y`` an array or a dict of arrays (detection
    targets). ``model.fit(shuffle=True)`` draws from a stream that starts again with the
    process, so a run resumed at epoch e would see other batches than an uninterrupted one;
    with this, it sees the same. ``augment``: None, or a callable ``(images, epoch, index) ->
    images`` applied to each batch's images (:class:`keras_adastride.data.augment.
    BatchAugmenter`: drawn from the seed, epoch and batch index alone)."""

    def __init__(self, x, y, batch_size, seed, augment=None):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.augment = augment
        self.set_epoch(0)

    def set_epoch(self, epoch):
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        batch = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        images = self.x[batch]
        if self.augment is not None:
            images = self.augment(images, self.epoch, index)
        return images, keras.tree.map_structure(lambda part: part[batch], self.y)


class _EpochOrder(keras.callbacks.Callback):
    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)


def _logged_epochs(path):
    """``{epoch: {key: value}}`` of a ``CSVLogger`` file; a line cut short by a kill is left out
    (its epoch was not backed up yet, so it runs again), a repeated epoch keeps its last line."""
    import csv

    by_epoch = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                by_epoch[int(row.pop("epoch"))] = {k: float(v) for k, v in row.items()}
            except (TypeError, ValueError):
                continue
    return by_epoch


def build_before_fit(model, batch):
    """Create the optimizer's slots and the compiled metrics' variables from one ``(x, y)`` batch
    before ``fit`` traces its train step (TensorFlow backend, no distribution strategy).

    There Keras defers building them to the first trace of the train step (``Trainer.
    _maybe_symbolic_build`` returns early without a strategy), and a ``tf.function`` whose first
    trace creates variables is traced a second time: twice the tracing, the larger part of a small
    run's time (a 2-epoch run of the tiny ``dilated_vgg`` with CAS: 7.6 s -> 3.9 s). Keras' own
    ``_symbolic_build``, which it runs itself under a strategy, builds them; other backends and
    strategies are left to Keras.
    """
    keras_internals = hasattr(model, "_distribute_strategy") and hasattr(model, "_symbolic_build")
    if (keras.backend.backend() == "tensorflow" and keras_internals
            and model._distribute_strategy is None and model.optimizer is not None):
        model._symbolic_build(data_batch=batch)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True)`` that also
    survives a kill while it writes an epoch's record (``training_metadata.json`` empty or cut
    short). Keras falls back to the previous epoch only when the *weights* fail to load; an
    unreadable record stopped the resumed run with ``JSONDecodeError``. Here the previous
    epoch's backup replaces it, or, when the first epoch's was cut short, the run starts over
    (its weights file may already hold that epoch's weights, with no record of which epoch)."""

    def __init__(self, backup_dir):
        super().__init__(backup_dir, double_checkpoint=True)

    def on_train_begin(self, logs=None):
        import shutil

        if _unreadable(self._training_metadata_path):
            if os.path.exists(self._prev_training_metadata_path) and not _unreadable(
                    self._prev_training_metadata_path):
                shutil.copy(self._prev_weights_path, self._weights_path)
                shutil.copy(self._prev_training_metadata_path, self._training_metadata_path)
            else:
                shutil.rmtree(self.backup_dir)
        super().on_train_begin(logs)


def _unreadable(path):
    """Whether the JSON file ``path`` exists but cannot be read (cut short by a kill)."""
    import json

    if not os.path.exists(path):
        return False
    try:
        with open(path) as handle:
            json.load(handle)
    except ValueError:
        return True
    return False


def fit_run(model, data, *, seed, epochs, batch_size, verbose, backup_dir=None, callbacks=(),
            augment=None):
    """``model.fit`` on ``data["x_train"], data["y_train"]`` (batches shuffled by
    :class:`EpochShuffled`, their images passed through ``augment`` when given), validated on
    ``x_val, y_val`` (never augmented); ``callbacks`` run before the logs are
    recorded (they may add to them). A model with ``BatchNormalization`` layers has their moving
    statistics recalibrated on the first
    :data:`~keras_adastride.experiments.batch_norm.SETTLE_IMAGES` training images at the end of
    every epoch (:class:`~keras_adastride.experiments.batch_norm.SettleBatchNorms`). Returns ``(history, timer)``: ``fit``'s
    ``keras.callbacks.History``, whose ``history`` holds the logs of every epoch (those of a run
    before an interruption too), and the :class:`EpochTimer`.

    ``backup_dir``: where the run in progress is saved after every epoch
    (``keras.callbacks.BackupAndRestore`` with ``double_checkpoint``: weights, optimizer state,
    epoch; a weights file or epoch record cut short by a kill falls back to the epoch before:
    :class:`BackupAndRestore`), its logs beside
    it (``<backup_dir>.csv``, ``keras.callbacks.CSVLogger``); a run started again with the same
    folder continues after its last saved epoch and returns the logs of every epoch. Both are
    removed when the run ends.
    """
    from keras_adastride.experiments.batch_norm import (SETTLE_IMAGES, SettleBatchNorms,
                                                        batch_norms)
    from keras_adastride.experiments.distribute import (check_data_parallel_batches,
                                                        synchronized_batch_norm)

    check_data_parallel_batches(batch_size, x_train=len(data["x_train"]),
                                x_val=len(data["x_val"]))

    dataset = EpochShuffled(data["x_train"], data["y_train"], batch_size, seed, augment=augment)
    timer = EpochTimer()
    callbacks = [_EpochOrder(dataset), timer, *callbacks]
    if batch_norms(model):
        callbacks.insert(1, SettleBatchNorms(data["x_train"][:SETTLE_IMAGES], batch_size))
    if backup_dir is not None:
        if not model.built:  # (BackupAndRestore restores into built models only: YOLOXDetector)
            model(data["x_train"][:1], training=False)
        log_path = f"{backup_dir}.csv"
        callbacks += [keras.callbacks.CSVLogger(log_path, append=True),
                      BackupAndRestore(backup_dir)]
    build_before_fit(model, dataset[0])
    with synchronized_batch_norm(model):
        fitted = model.fit(dataset, epochs=epochs, shuffle=False, callbacks=callbacks,
                           validation_data=(data["x_val"], data["y_val"]), verbose=verbose)
    history = {key: list(values) for key, values in fitted.history.items()}
    if backup_dir is not None:
        by_epoch = _logged_epochs(log_path)
        history = {key: [by_epoch[e][key] for e in sorted(by_epoch)] for key in by_epoch[0]}
        timer.seconds = history.pop("epoch_seconds")
        timer.cpu_seconds = history.pop("epoch_cpu_seconds")
        os.remove(log_path)  # (BackupAndRestore removed its folder at the end of fit)
    for key in ("epoch_seconds", "epoch_cpu_seconds"):
        history.pop(key, None)
    fitted.history = history
    return fitted, timer


#: rounds of the inference timing (dense, sparse and auto alternate; the median is kept)
INFERENCE_ROUNDS = 3


def _timed_passes(functions, images, batch_size, rounds):
    """Run each function over ``images`` in batches, alternating, ``rounds`` times: ``{name:
    (median CPU seconds, median wall seconds) per pass}`` and each function's last outputs."""
    import tensorflow as tf

    batches = [tf.constant(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    times = {name: [] for name in functions}
    outputs = {}
    for name, function in functions.items():
        function(batches[0])  # trace and warm up
    for _ in range(rounds):
        for name, function in functions.items():
            start = (time.process_time(), time.perf_counter())
            outputs[name] = [function(batch) for batch in batches]
            times[name].append((time.process_time() - start[0], time.perf_counter() - start[1]))
    medians = {name: tuple(float(np.median([t[i] for t in ts])) for i in range(2))
               for name, ts in times.items()}
    return medians, {name: np.concatenate([keras.ops.convert_to_numpy(o) for o in outs])
                     for name, outs in outputs.items()}


def inference_figures(model, images, labels=None, batch_size=256, rounds=INFERENCE_ROUNDS):
    """Inference on ``images`` with dense, sparse and ``"auto"`` execution of the same weights.

    Returns ``{"dense_ms_per_image", "sparse_ms_per_image", "auto_ms_per_image"`` (process CPU
    time, every thread; ``..._wall_ms_per_image``: wall time), ``"kept_tiles"`` (``{CAS/PAS
    layer: kept tile fraction}``), ``"effective_flops"`` (per image,
    :func:`keras_adastride.flops.effective_flops`), ``"sparse_max_abs_difference"`` /
    ``"auto_max_abs_difference"`` (largest output difference to dense),
    ``"sparse_same_predictions"`` (share of images whose argmax agrees with sparse) and, with
    ``labels``,
    ``"dense_accuracy"`` / ``"sparse_accuracy"``}``. A model without CAS / PAS has no sparse
    figures (None). Sparse execution: every CAS / PAS with ``sparse_inference=True`` while its
    graph is traced; ``"auto"``: with ``sparse_inference="auto"`` (sparse or dense per batch, by
    the kept tile share: what a deployment would choose); the model's own setting is restored.
    """
    import tensorflow as tf

    from keras_adastride.flops import count_flops, kept_tile_fractions

    layers = adaptive_layers(model)
    spec = tf.TensorSpec((None, *images.shape[1:]), tf.float32)
    modes = {"dense": False, "sparse": True, "auto": "auto"} if layers else {"dense": False}
    functions = {}
    saved = [layer.sparse_inference for layer in layers]
    try:
        for name, mode in modes.items():  # each mode is fixed in its own traced graph
            for layer in layers:
                layer.sparse_inference = mode
            functions[name] = tf.function(lambda x: model(x, training=False),
                                          input_signature=[spec])
            functions[name].get_concrete_function()
    finally:
        for layer, value in zip(layers, saved):
            layer.sparse_inference = value
    times, outputs = _timed_passes(functions, images, batch_size, rounds)
    kept_tiles = kept_tile_fractions(model, images, batch_size)
    figures = {"dense_ms_per_image": 1e3 * times["dense"][0] / len(images),
               "dense_wall_ms_per_image": 1e3 * times["dense"][1] / len(images),
               "sparse_ms_per_image": None, "sparse_wall_ms_per_image": None,
               "auto_ms_per_image": None, "auto_wall_ms_per_image": None,
               "kept_tiles": kept_tiles,
               "effective_flops": float(count_flops(model, kept_tiles)),
               "sparse_max_abs_difference": None, "auto_max_abs_difference": None,
               "sparse_same_predictions": None}
    if labels is not None:
        figures["dense_accuracy"] = float(np.mean(outputs["dense"].argmax(-1) == labels))
        figures["sparse_accuracy"] = None
    if layers:
        figures.update(
            sparse_ms_per_image=1e3 * times["sparse"][0] / len(images),
            sparse_wall_ms_per_image=1e3 * times["sparse"][1] / len(images),
            auto_ms_per_image=1e3 * times["auto"][0] / len(images),
            auto_wall_ms_per_image=1e3 * times["auto"][1] / len(images),
            sparse_max_abs_difference=float(np.abs(outputs["sparse"] - outputs["dense"]).max()),
            auto_max_abs_difference=float(np.abs(outputs["auto"] - outputs["dense"]).max()),
            sparse_same_predictions=float(np.mean(
                outputs["sparse"].argmax(-1) == outputs["dense"].argmax(-1))),
        )
        if labels is not None:
            figures["sparse_accuracy"] = float(np.mean(outputs["sparse"].argmax(-1) == labels))
    return figures


def measure_run(model, variant, seed, metrics, history, timer, stride_images,
                inference_images=None, inference_labels=None):
    """The :class:`RunResult` of a trained ``model``: ``metrics`` as given, the fit ``history``
    and ``timer`` (:class:`EpochTimer`), parameters, FLOPs and the effective strides of its gates
    on ``stride_images``; with ``inference_images`` (and labels), :func:`inference_figures`
    (TensorFlow backend only: it times ``tf.function`` graphs; None on JAX / torch)."""
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
        inference=inference_figures(model, inference_images, inference_labels)
        if inference_images is not None and keras.backend.backend() == "tensorflow" else None,
        input_shape=[None if size is None else int(size) for size in model.input_shape[1:]],
        model=model,
    )
