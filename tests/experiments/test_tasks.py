"""The task registry of the main job and the classification task's checks before training."""

import numpy as np
import pytest

from keras_adastride.data import DATASETS as LOADERS
from keras_adastride.data import prepare_images
from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.tasks import TASKS, Task, get_task
from keras_adastride.experiments.tasks.classification import DATASETS


def test_every_task_fills_the_interface():
    assert "classification" in TASKS
    for name, task in TASKS.items():
        assert isinstance(task, Task) and task.name == name
        assert task.metrics and all(isinstance(m, str) for m in task.metrics)
        assert task.default_dataset in task.datasets and task.default_variants
        assert task.curves and task.example_figure.endswith(".png")
        config = ComparisonConfig(task=name)
        assert (config.model, config.dataset, config.variants) == (
            task.default_model, task.default_dataset, tuple(task.default_variants))
    with pytest.raises(ValueError, match="task must be one of .*'classification'.*got 'nosuch'"):
        get_task("nosuch")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_the_static_dataset_table_matches_the_loaders(name):
    """The sizes the checks use without loading are those the loaders return."""
    try:
        (x_train, y_train), (x_test, _) = LOADERS[name]()
    except (ImportError, FileNotFoundError) as error:
        pytest.skip(f"{name} not installed: {error}")
    info = DATASETS[name]
    assert (len(x_train), len(x_test)) == (info.train_images, info.test_images)
    assert len(np.unique(y_train)) == info.num_classes
    assert prepare_images(x_test[:1]).shape[1:] == info.image_shape


@pytest.mark.parametrize("changes, message", [
    ({"model": "unet"}, r"model must be one of \[.*'small_vgg'.*\] for the classification task, "
                        r"got 'unet'"),
    ({"model": "dilated_vgg"}, r"model 'dilated_vgg' cannot be built with variant 'pas' .*"
                               r"downsampling='pas'"),
    ({"model": "vgg11", "input_size": 28}, r"variant 'original' for fashion_mnist images "
                                           r"\(28, 28, 1\).*>= 32"),
    ({"variants": ("original", "foo")}, "variant 'foo'"),
    ({"val_subset": 60000}, "val_subset must be smaller than the 60000 training images"),
    ({"train_subset": 59500}, "train_subset must be at most 59000"),
    ({"test_subset": 10001}, "test_subset must be at most the 10000 test images"),
    ({"test_subset": 3, "gate_images": 4}, "gate_images must be at most the 3 test images"),
])
def test_classification_validates_before_loading(changes, message):
    config = ComparisonConfig(**changes)
    with pytest.raises(ValueError, match=message):
        TASKS["classification"].validate(config)


def test_the_default_configuration_is_valid():
    TASKS["classification"].validate(ComparisonConfig())
