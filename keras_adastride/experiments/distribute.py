"""Data-parallel training of the main job's runs through the engines Keras users already have.

``--distribute`` / ``ComparisonConfig.distribute``:

- ``none``: one device (Keras' default placement);
- ``mirrored``: every local device of this machine. TensorFlow: ``tf.distribute.MirroredStrategy``
  (all visible GPUs, else the logical CPU devices); JAX: ``keras.distribution.DataParallel`` over
  ``keras.distribution.list_devices()``;
- ``multi-worker``: TensorFlow's ``tf.distribute.MultiWorkerMirroredStrategy``, configured by the
  standard ``TF_CONFIG`` environment variable (one process per worker, each started with the
  same command and its own ``task.index``). Workers other than the chief write to their own
  folder (:func:`worker_output`); Keras up to 3.15 trains there with
  :func:`multi_worker_fit_fixes` (keras-team/keras#20585).

The batch size stays global (``--batch-size`` images per step over all replicas); Keras splits
each batch, sums the replicas' gradients and averages the losses and metrics, the CAS / PAS gate
losses (``target_stride``) included. :func:`check_distribute` rejects a bad value, an
unparsable ``TF_CONFIG`` or a backend that lacks the strategy before anything is trained.
"""

import contextlib
import json
import os

CHOICES = ("none", "mirrored", "multi-worker")
#: the strategies each Keras backend offers here
SUPPORTED = {"tensorflow": CHOICES, "jax": ("none", "mirrored"), "torch": ("none",)}


def tf_config():
    """``TF_CONFIG`` parsed and checked: ``{"cluster": {"worker": [...]}, "task": {...}}``."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ValueError("distribute='multi-worker' needs the TF_CONFIG environment variable "
                         '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}}), got none.')
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): TF_CONFIG={text!r}.") from None
    workers = parsed.get("cluster", {}).get("worker") if isinstance(parsed, dict) else None
    task = parsed.get("task", {}) if isinstance(parsed, dict) else {}
    if not (isinstance(workers, list) and workers and isinstance(task, dict)
            and task.get("type") in ("worker", "chief")
            and isinstance(task.get("index"), int) and 0 <= task["index"] < len(workers)):
        raise ValueError("TF_CONFIG must name the workers and this process's task: "
                         '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": '
                         f'"worker", "index": i}}; got TF_CONFIG={text!r}.')
    return parsed


def worker_output(output, distribute):
    """The folder this process writes the main job's files to: ``output``, except for a
    ``multi-worker`` task other than the chief (the ``chief`` task, else worker 0), which
    writes to ``<output>/worker<index>``: workers given the same folder (one machine, or a
    shared file system) never write the same file, run backups included."""
    if distribute != "multi-worker":
        return output
    config = tf_config()
    task = config["task"]
    chief = task["type"] == "chief" or ("chief" not in config["cluster"] and task["index"] == 0)
    return output if chief else os.path.join(output, f"worker{task['index']}")


def check_distribute(distribute, backend=None):
    """Raise ``ValueError`` (naming the value) unless ``distribute`` can run on ``backend``
    (default: Keras' backend). Trains nothing: the command line calls it first."""
    if distribute not in CHOICES:
        raise ValueError(f"distribute must be one of {list(CHOICES)}, got {distribute!r}.")
    if backend is None:
        backend = os.environ.get("KERAS_BACKEND") or _configured_backend()
    if distribute not in SUPPORTED.get(backend, ("none",)):
        raise ValueError(
            f"distribute={distribute!r} is not available on the {backend} backend of Keras "
            f"(it offers {list(SUPPORTED.get(backend, ('none',)))}); run with "
            f"KERAS_BACKEND=tensorflow{' or jax' if distribute == 'mirrored' else ''}.")
    if distribute == "multi-worker":
        tf_config()


#: the newest Keras whose ``model.fit`` needs :func:`multi_worker_fit_fixes` under
#: ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585; measured on Keras 3.15 / TF 2.21
#: with a one-Dense-layer model on two local workers). A newer Keras trains without them;
#: ``tests/experiments/test_distribute.py`` checks the installed one on two local workers.
MULTI_WORKER_FIXES_UP_TO = (3, 15)


def needs_multi_worker_fixes(keras_version=None):
    """Whether Keras ``keras_version`` (default: the installed one) is at most
    :data:`MULTI_WORKER_FIXES_UP_TO`."""
    version = keras_version or _keras_version()
    return tuple(int(part) for part in version.split(".")[:2]) <= MULTI_WORKER_FIXES_UP_TO


@contextlib.contextmanager
def multi_worker_fit_fixes(keras_version=None):
    """Inside, Keras' TensorFlow trainer (``keras.src.backend.tensorflow.trainer``) fits and
    evaluates under ``MultiWorkerMirroredStrategy``; set back afterwards. Only
    for a Keras of :func:`needs_multi_worker_fixes`, which fails there twice:

    1. ``TensorFlowTrainer._maybe_symbolic_build`` hands the first ``(x, y)`` batch to
       ``strategy.reduce("MEAN", batch, axis=None)``, which this strategy refuses for a nested
       value ("Attempt to convert a value (PerReplica ...) to a Tensor"). It only needs the
       batch's shapes: this builds on the worker's own first replica batch instead.
    2. ``reduce_per_replica(..., reduction="auto")`` averages the step's losses and metrics
       with ``strategy.reduce("MEAN", value, axis=0)``, which fails for a scalar ("Invalid
       reduction dimension 0 for input with 0 dimensions"). This averages over the replicas
       alone (``axis=None``), as Keras does on one worker.
    """
    if not needs_multi_worker_fixes(keras_version):
        yield
        return
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    built, reduced = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica

    def build_on_local_batch(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if iterator is not None and self._distribute_strategy is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v, next(batches))
                break
            iterator = None
        return built(self, iterator=iterator, data_batch=data_batch)

    def reduce_over_replicas(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduced(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = build_on_local_batch
    trainer.reduce_per_replica = reduce_over_replicas
    try:
        yield
    finally:
        trainer.TensorFlowTrainer._maybe_symbolic_build = built
        trainer.reduce_per_replica = reduced


def _keras_version():
    import keras

    return keras.version()


def _configured_backend():
    import keras

    return keras.backend.backend()


_STRATEGIES = {}


def strategy(distribute):
    """The process's ``tf.distribute`` strategy for ``distribute`` (created once: TensorFlow
    allows one multi-worker strategy per process, made before other TensorFlow work)."""
    if distribute not in _STRATEGIES:
        import tensorflow as tf

        if distribute == "mirrored":
            # MirroredStrategy() takes every GPU, else only the first CPU: without a GPU, name
            # the logical CPU devices (tf.config.set_logical_device_configuration) instead.
            gpus = tf.config.list_logical_devices("GPU")
            cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
            _STRATEGIES[distribute] = tf.distribute.MirroredStrategy(None if gpus else cpus)
        else:
            tf_config()
            _STRATEGIES[distribute] = tf.distribute.MultiWorkerMirroredStrategy()
    return _STRATEGIES[distribute]


@contextlib.contextmanager
def distribution_scope(distribute):
    """Build, compile and fit inside this scope to train data-parallel (see the module doc)."""
    check_distribute(distribute)
    if distribute == "none":
        yield
        return
    import keras

    if keras.backend.backend() == "tensorflow":
        fixes = multi_worker_fit_fixes if distribute == "multi-worker" else contextlib.nullcontext
        with strategy(distribute).scope(), fixes():
            yield
        return
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


@contextlib.contextmanager
def synchronized_batch_norm(model):
    """Inside a ``tf.distribute`` strategy of several replicas, the model's
    ``BatchNormalization`` layers normalise with the statistics of the whole (global) batch,
    all-reduced over the replicas (``synchronized=True``), as on one device; set back
    afterwards, so that the saved model loads on every backend. Elsewhere nothing changes
    (JAX's DataParallel computes them over the global batch anyway)."""
    import keras

    layers = []
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1:
            layers = [layer for layer in model._flatten_layers()
                      if isinstance(layer, keras.layers.BatchNormalization)
                      and not layer.synchronized]
    for layer in layers:
        layer.synchronized = True
    try:
        yield
    finally:
        for layer in layers:
            layer.synchronized = False


def replicas(distribute):
    """How many replicas a step of ``distribute`` runs on."""
    if distribute == "none":
        return 1
    import keras

    if keras.backend.backend() == "tensorflow":
        return strategy(distribute).num_replicas_in_sync
    return len(keras.distribution.list_devices())


def check_data_parallel_batches(batch_size, **sizes):
    """:func:`check_even_batches` over the devices of JAX's ``DataParallel`` when one is set;
    nothing elsewhere."""
    import keras

    if keras.backend.backend() == "jax" and keras.distribution.distribution() is not None:
        check_even_batches(len(keras.distribution.list_devices()), batch_size, **sizes)


class UnevenBatchesError(ValueError):
    """Batches that JAX's ``DataParallel`` cannot shard; found once the data's sizes are known
    (in the run, not in the flags), so the command line reports it as a usage error."""


def check_even_batches(devices, batch_size, **sizes):
    """Raise :class:`UnevenBatchesError` unless every batch of ``batch_size`` over each set of
    ``sizes`` (``name=number of images``), the last one included, splits evenly over
    ``devices``: JAX's ``DataParallel`` shards each batch and refuses one that does not divide
    (``tf.distribute`` splits unevenly). Called before training."""
    for name, size in sizes.items():
        last = size % batch_size or batch_size
        for what, count in (("batch_size", batch_size), (f"the last batch of {name}", last)):
            if count % devices:
                raise UnevenBatchesError(
                    f"distribute='mirrored' on the JAX backend splits every batch evenly over "
                    f"its {devices} devices; {what} has {count} images ({name}={size}, "
                    f"batch_size={batch_size}). Choose sizes whose batches divide by {devices}.")
