"""The tasks the main job can compare on: ``TASKS = {name: Task}`` (``--task`` / ``config.task``).

:func:`keras_adastride.experiments.compare.run_comparison` is task-agnostic: it calls
``task.validate(config)``, ``task.load(config)``, then for every seed ``task.split(...)`` and for
every variant ``task.train_run(...)``, writes each finished run to ``runs/<variant>_seed<k>.json``,
summarises ``task.metrics`` over seeds (:mod:`keras_adastride.experiments.report`) and asks the
task for its example picture.

How to add a task (e.g. ``detection``):

1. Write ``keras_adastride/experiments/tasks/detection.py`` with a :class:`Task` subclass that sets
   the class attributes and implements the five methods below. The module must **not** import
   TensorFlow or Keras at import time (the command line imports this registry to answer ``--help``
   and argument errors at once): import them inside the methods.
2. Register an instance in ``TASKS`` below; ``--task`` and ``--dataset`` take their choices from it.
3. Test it with a tiny ``run_comparison`` (a few images, one epoch) as tests/cli does.

Contract (``config`` is a :class:`keras_adastride.experiments.config.ComparisonConfig`):

- ``metrics``: names of the scores each run reports, fractions in [0, 1] (accuracy, AP, mIoU),
  shown in percent; ``metrics[0]`` is the primary one. Every run's ``RunResult.metrics`` has at
  least these keys (it may hold more, e.g. a loss, which are recorded but not summarised).
- ``curves``: ``((history key, axis label), ...)`` drawn in ``learning_curves.png``.
- ``datasets``, ``default_dataset``, ``default_model``, ``default_variants``: what
  ``--dataset`` accepts and what a config without them uses; ``example_figure``: the file name of
  :meth:`Task.draw_examples`'s picture.
- ``default_target_stride``, ``default_target_stride_weight``: the CAS / PAS gate budget of a
  config that does not set one (base class: None, no budget; classification: 2 and 1).
- ``default_budget``: ``{epochs, batch_size, learning_rate, train_subset, val_subset,
  test_subset}`` of a config that does not set them (base class: classification's main job).
- ``validate(config)``: raise ``ValueError`` (naming argument and value) for everything that can be
  checked before data is loaded or anything is trained: the model exists for this task, every
  variant is supported by its builder, the model fits the data's shape, subsets fit the data.
- ``load(config)``: the dataset, once per comparison.
- ``split(loaded, seed, config) -> data``: the model-ready data of one seed (training subset drawn
  from ``seed``); the test part must not depend on the seed (every run is scored on the same set).
- ``train_run(model_name, variant, seed, data, config, gate_options, backup_dir=None) ->
  RunResult``: build (with ``gate_options`` given to the builder), compile, fit and evaluate one
  run, after ``keras.utils.set_random_seed(seed)``; fit through
  :func:`keras_adastride.experiments.train.fit_run` with ``backup_dir``, so an interrupted run
  resumes from its last epoch with the batches an uninterrupted one sees;
  :func:`keras_adastride.experiments.train.measure_run` fills the task-independent fields
  (history, epoch times, params, FLOPs, effective strides).
- ``draw_examples(models, data, config, path) -> bool``: draw the picture of the first seed's
  ``models`` (``{variant: model}``) on ``data`` (the last seed's split) to ``path``; False when
  there is nothing to draw.
"""


from keras_adastride.experiments.tasks.base import Task
from keras_adastride.experiments.tasks.classification import ClassificationTask
from keras_adastride.experiments.tasks.detection import DetectionTask
from keras_adastride.experiments.tasks.segmentation import SegmentationTask

TASKS = {task.name: task for task in (ClassificationTask(), SegmentationTask(),
                                      DetectionTask())}


def get_task(name):
    """The registered task called ``name``, or a ValueError listing the choices."""
    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {name!r}.")
    return TASKS[name]


__all__ = ["TASKS", "Task", "get_task"]
