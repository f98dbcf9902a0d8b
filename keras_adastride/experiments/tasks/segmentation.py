"""Semantic segmentation (``--task segmentation``): U-Net with the original max pools, CAS,
PAS (the paper's placement ``down2``) and SPD-Conv, and the no-downsampling net of seed 002
(variant ``nodown``: :func:`keras_adastride.models.dilated_segnet`), on 64x64 canvases of real
Fashion-MNIST items and MNIST digits (21 classes, background included), scored on the same
held-out test canvases by pixel accuracy, mean IoU over the 21 classes, mean IoU over the 20
item classes and per-class IoU (Keras metrics; :mod:`keras_adastride.segmentation.metrics`).

The config's subsets count canvases: ``train_subset`` training canvases (composed from the
run's seed), ``val_subset`` validation canvases (the learning curves) and ``test_subset`` test
canvases (None: 1,000), each split from its own pool of items. The recipe:
:mod:`keras_adastride.segmentation.training`. The example picture ``segmentations.png`` shows
test canvases, their ground truth, every variant's prediction (first seed) and the gate maps of
the CAS / PAS models. Nothing here imports TensorFlow before a method needs it.
"""

from keras_adastride.experiments.tasks.base import Task

#: builders of the U-Net variants; "nodown" always means dilated_segnet
MODELS = ("unet",)
DATASETS = ("composite",)


class SegmentationTask(Task):
    """Segmentation of composite canvases by U-Net's variants and the no-downsampling net."""

    name = "segmentation"
    metrics = ("test_pixel_accuracy", "test_mean_iou", "test_foreground_mean_iou")
    curves = (("loss", "training loss"), ("val_pixel_accuracy", "validation pixel accuracy"),
              ("val_mean_iou", "validation mean IoU"))
    datasets = DATASETS
    default_dataset = "composite"
    default_model = "unet"
    default_variants = ("original", "cas", "pas", "spd", "nodown")
    example_figure = "segmentations.png"
    #: docs/RESULTS.md's segmentation run (canvases: training, validation, test).
    default_budget = {"epochs": 8, "batch_size": 32, "learning_rate": 1e-3,
                      "train_subset": 3000, "val_subset": 500, "test_subset": 1000}

    def validate(self, config):
        from keras_adastride.segmentation import training

        self.refuse_convert(config)
        if config.model not in MODELS:
            raise ValueError(f"model must be one of {list(MODELS)} for the segmentation task "
                             f"(variant 'nodown' is the no-downsampling dilated_segnet), got "
                             f"{config.model!r}.")
        unknown = [v for v in config.variants if v not in training.VARIANTS]
        if unknown:
            raise ValueError(f"variants must be among {list(training.VARIANTS)} for the "
                             f"segmentation task, got {unknown[0]!r}.")
        tested = self._test_canvases(config)
        if config.gate_images > tested:
            raise ValueError(f"gate_images must be at most the {tested} test canvases scored, "
                             f"got {config.gate_images}.")
        if config.train_subset is None:
            raise ValueError("train_subset must be a number of training canvases for the "
                             "segmentation task (they are composed, there is no 'all').")

    @staticmethod
    def _test_canvases(config):
        from keras_adastride.segmentation import training

        return training.TEST_CANVASES if config.test_subset is None else config.test_subset

    def load(self, config):
        from keras_adastride.segmentation.data import item_pool

        return {split: item_pool(split) for split in ("train", "val", "test")}  # cached pools

    def split(self, loaded, seed, config):
        from keras_adastride.segmentation import training

        return training.split_for_seed(seed, config.train_subset, config.val_subset,
                                       self._test_canvases(config))

    def train_run(self, model_name, variant, seed, data, config, gate_options, backup_dir=None):
        from keras_adastride.experiments.train import default_jit_compile, measure_run
        from keras_adastride.segmentation import training

        model, scores, history, timer = training.train_segmentation_run(
            variant, seed, data, epochs=config.epochs, batch_size=config.batch_size,
            learning_rate=config.learning_rate, verbose=config.verbose,
            gate_options=gate_options, jit_compile=default_jit_compile(),
            backup_dir=backup_dir, distribute=config.distribute)
        return measure_run(model, variant, seed, scores, history, timer, data["x_test"][:500])

    def draw_examples(self, models, data, config, path):
        from keras_adastride.experiments.train import gate_maps_by_layer
        from keras_adastride.segmentation import CLASS_NAMES
        from keras_adastride.segmentation.plots import plot_segmentations

        images = data["x_test"][:config.gate_images]
        predictions = {variant: model.predict(images, verbose=0).argmax(-1)
                       for variant, model in models.items()}
        plot_segmentations(images, data["y_test"][:config.gate_images], predictions,
                           gate_maps_by_layer(models, images), path, CLASS_NAMES,
                           title=f"{config.model} variants on test canvases, seed "
                                 f"{config.first_seed}")
        return True
