"""The main job's configuration, checked as it is made (no TensorFlow import: the command line
builds it before anything heavy is loaded)."""

import dataclasses
import math
import numbers
import sys

from keras_adastride.data.augment import check_augment
from keras_adastride.data.pipeline import FIT_METHODS as RESIZE_METHODS
from keras_adastride.experiments.distribute import CHOICES as DISTRIBUTE_CHOICES
from keras_adastride.experiments.tasks import get_task

#: what ``convert`` accepts (the ``to`` of keras_adastride.convert).
CONVERT_TARGETS = ("cas", "pas", "spd")
#: a ``model`` of this form names a keras.applications network instead of one of our builders.
APPLICATIONS_PREFIX = "keras.applications."


#: value meaning "the task's default" (None already means "no budget" / "all images").
TASK_DEFAULT = "task default"
#: fields for the task's model builder; None = the builder's own default. A task accepts those
#: of its ``Task.model_options`` (the others must stay None).
MODEL_OPTIONS = ("input_size", "width", "preset", "placements", "kernel_init")
#: ``kernel_init`` values: the names of ``keras_adastride.initializers.KERNEL_DRAWS`` (not
#: imported: it needs Keras).
KERNEL_INITS = ("glorot_uniform", "he_normal")
#: fields for the task's data pipeline; None = none. A task accepts those of its
#: ``Task.data_options``: ``classes`` (the classes kept, relabelled 0..k-1 in that order) and
#: ``augment`` (training-image transforms, :data:`keras_adastride.data.augment.AUGMENTATIONS`).
DATA_OPTIONS = ("classes", "augment")
#: CAS / PAS gate arguments the config hands to every gate (``gate_options``); None = the
#: layer's own default (keras_adastride.layers.adaptive_stride).
GATE_FIELDS = ("gate_init", "gate_activation", "gate_width", "gate_depth")
#: the fields whose default is the task's ``default_budget``.
BUDGET_FIELDS = ("epochs", "batch_size", "learning_rate", "train_subset", "val_subset",
                 "test_subset")


@dataclasses.dataclass
class ComparisonConfig:
    """What to compare and how long to train; the defaults are the README's main job.

    ``task``: a name in :data:`keras_adastride.experiments.tasks.TASKS`; ``model`` /
    ``dataset`` / ``variants`` None: that task's defaults; the training budget
    (:data:`BUDGET_FIELDS`) left at :data:`TASK_DEFAULT`: the task's ``default_budget``. ``train_subset`` / ``test_subset``:
    how many training / test images to use (None = all); ``val_subset``: held-out training
    images scored after each epoch (the learning curves); ``target_stride`` /
    ``target_stride_weight``: the gate budget given to every CAS / PAS layer (None: no budget,
    the gates are free), so a CAS gate is pulled towards keeping 1/target_stride² of its
    positions; by default (:data:`TASK_DEFAULT` / None) the task's ``default_target_stride`` /
    ``default_target_stride_weight`` (classification: 2, weight 1, the measured setting at which
    the gates of the default run drop positions within its 117 training steps; weight 0.1
    dropped none: docs/comparison.md); ``verbose`` None: 1 (progress bars) when stdout is a
    terminal, else 2 (one line per epoch). ``convert``: targets of :func:`keras_adastride.convert`
    ("cas", "pas", "spd"): the variants are then "original" and each target, made by converting
    the original model (the only way for a ``keras.applications.<Name>`` model); ``variants``
    must be None. ``distribute``: ``none``, ``mirrored`` or ``multi-worker`` data-parallel
    training (:mod:`keras_adastride.experiments.distribute`). ``classes`` (classification):
    keep only these classes of the data set, relabelled 0..k-1 in the order given (None: all);
    ``augment`` (classification): transforms of the training images, from
    :data:`keras_adastride.data.augment.AUGMENTATIONS` (``("flip", "translate")``; None: none).
    """

    task: str = "classification"
    model: str = None
    dataset: str = None
    variants: tuple = None
    epochs: int = TASK_DEFAULT
    seeds: int = 3
    first_seed: int = 0
    batch_size: int = TASK_DEFAULT
    train_subset: int = TASK_DEFAULT
    val_subset: int = TASK_DEFAULT
    test_subset: int = TASK_DEFAULT
    learning_rate: float = TASK_DEFAULT
    output: str = "adastride_results"
    verbose: int = None
    gate_images: int = 4
    target_stride: float = TASK_DEFAULT
    target_stride_weight: float = None
    convert: tuple = None
    input_size: int = None
    resize: str = "pad"
    width: float = None
    preset: str = None
    placements: tuple = None
    kernel_init: str = None
    classes: tuple = None
    augment: tuple = None
    gate_init: str = None
    gate_activation: str = None
    gate_width: int = None
    gate_depth: int = None
    distribute: str = "none"

    def __post_init__(self):
        task = get_task(self.task)
        self.model = task.default_model if self.model is None else self.model
        self.dataset = task.default_dataset if self.dataset is None else self.dataset
        if self.convert is not None:
            self.convert = tuple(self.convert)
            if not self.convert or not set(self.convert) <= set(CONVERT_TARGETS):
                raise ValueError(f"convert must be a non-empty list of {list(CONVERT_TARGETS)}, "
                                 f"got {self.convert!r}.")
            if self.variants is not None:
                raise ValueError(f"with convert the variants are 'original' and the convert "
                                 f"targets; do not pass variants (got {self.variants!r}).")
            self.variants = ("original", *self.convert)
        elif self.model.startswith(APPLICATIONS_PREFIX):
            raise ValueError(f"a {APPLICATIONS_PREFIX}<Name> model has no downsampling switch: "
                             f"pass convert (command line: --convert cas) to compare it with its "
                             f"conversion; "
                             f"got model={self.model!r}.")
        self.variants = tuple(task.default_variants if self.variants is None else self.variants)
        for name in BUDGET_FIELDS:
            if _is_task_default(getattr(self, name)):
                setattr(self, name, task.default_budget[name])
        if _is_task_default(self.target_stride):
            self.target_stride = task.default_target_stride
        if self.target_stride_weight is None:
            self.target_stride_weight = task.default_target_stride_weight
        if self.verbose is None:
            self.verbose = 1 if sys.stdout.isatty() else 2
        if self.dataset not in task.datasets:
            raise ValueError(f"dataset must be one of {list(task.datasets)} for the {task.name} "
                             f"task, got {self.dataset!r}.")
        if not self.variants or len(set(self.variants)) != len(self.variants):
            raise ValueError(f"variants must be distinct and non-empty, got {self.variants!r}.")
        for name in ("epochs", "seeds", "batch_size", "val_subset", "gate_images"):
            _check_int(name, getattr(self, name), low=1)
        _check_int("first_seed", self.first_seed, low=0)
        for name in ("train_subset", "test_subset"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), low=1, none="or None (all)")
        if self.target_stride is not None and not (math.isfinite(self.target_stride)
                                                   and self.target_stride >= 1):
            raise ValueError(f"target_stride must be >= 1 or None, got {self.target_stride!r}.")
        for name in ("target_stride_weight", "learning_rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}.")
        if self.distribute not in DISTRIBUTE_CHOICES:
            raise ValueError(f"distribute must be one of {list(DISTRIBUTE_CHOICES)}, got "
                             f"{self.distribute!r}.")
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {self.verbose!r}.")
        self._check_model_and_gate_options(task)

    def _check_model_and_gate_options(self, task):
        for fields, accepted in ((MODEL_OPTIONS, task.model_options),
                                 (DATA_OPTIONS, task.data_options)):
            refused = [name for name in fields
                       if getattr(self, name) is not None and name not in accepted]
            if refused:
                raise ValueError(f"{refused[0]} is not an option of the {task.name} task (it "
                                 f"takes {list(accepted) or 'none'} of {list(fields)}), got "
                                 f"{refused[0]}={getattr(self, refused[0])!r}.")
        self.augment = check_augment(self.augment)
        if self.classes is not None:
            self.classes = ((self.classes,) if isinstance(self.classes, numbers.Integral)
                            else tuple(self.classes))
            if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes) or not all(
                    isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 0
                    for c in self.classes):
                raise ValueError(f"classes must be 2 or more distinct class indices >= 0, or "
                                 f"None (every class), got classes={self.classes!r}.")
        if self.resize not in RESIZE_METHODS:
            raise ValueError(f"resize must be one of {list(RESIZE_METHODS)}, got "
                             f"{self.resize!r}.")
        for name in ("input_size", "gate_width", "gate_depth"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), low=1, none="or None (the default)")
        if self.width is not None and not (isinstance(self.width, numbers.Real)
                                           and math.isfinite(self.width) and self.width > 0):
            raise ValueError(f"width must be > 0 or None, got {self.width!r}.")
        for name in ("preset", "gate_init", "gate_activation"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and value):
                raise ValueError(f"{name} must be a name or None, got {value!r}.")
        if self.kernel_init is not None and self.kernel_init not in KERNEL_INITS:
            raise ValueError(f"kernel_init must be one of {list(KERNEL_INITS)} or None (the "
                             f"builder's, glorot_uniform), got {self.kernel_init!r}.")
        if self.placements is not None:
            self.placements = ((self.placements,) if isinstance(self.placements, str)
                               else tuple(self.placements))
            if not self.placements or not all(isinstance(p, str) and p for p in self.placements):
                raise ValueError(f"placements must be a non-empty list of site names, or 'all', "
                                 f"or None (the paper's), got {self.placements!r}.")

    def builder_options(self):
        """Keyword arguments for the builder beyond the variant and gates: ``alpha`` (``width``),
        ``preset``, ``placements`` ("all" or a list of sites), ``kernel_init`` (for
        :func:`~keras_adastride.experiments.train.build_model`); only those that are set."""
        options = {"alpha": self.width, "preset": self.preset, "kernel_init": self.kernel_init,
                   "placements": None if self.placements is None else (
                       "all" if self.placements == ("all",) else list(self.placements))}
        return {name: value for name, value in options.items() if value is not None}

    def gate_options(self):
        """Extra CAS / PAS arguments for the builders: the ``target_stride`` budget, if any, and
        the :data:`GATE_FIELDS` that are set; None when there is none."""
        options = {name: getattr(self, name) for name in GATE_FIELDS
                   if getattr(self, name) is not None}
        if self.target_stride is not None:
            options.update(target_stride=float(self.target_stride),
                           target_stride_weight=float(self.target_stride_weight))
        return options or None


def _is_task_default(value):
    return isinstance(value, str) and value == TASK_DEFAULT


def _check_int(name, value, low, none=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}{' ' + none if none else ''}, "
                         f"got {value!r}.")
