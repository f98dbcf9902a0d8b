"""Run by test_cross_backend.py in a fresh interpreter per Keras backend (``KERAS_BACKEND``).

    save FOLDER: every_layer_model with random gates -> FOLDER/<backend>.keras, its input x and
                 predictions -> FOLDER/<backend>.npz
    load FOLDER: -> FOLDER/loaded_by_<backend>.json with
                 "imported": the heavy modules ``import keras_adastride`` (and its models,
                 layers, flops, data, experiments, detection, segmentation, retrofit) pulled in;
                 "differences": {saved under: largest |difference| of this backend's predictions
                 from the loaded .keras file to the saving backend's};
                 "trained": True once a small CAS model trained, was measured (effective
                 strides, FLOPs) and saved.
                 On JAX / torch, TensorFlow is made unimportable after the package import
                 (Keras's own serialisation imports it whenever it is installed), as on a machine
                 without it: nothing of the package may need it there.
"""

import json
import os
import sys

import numpy as np

HEAVY = ("tensorflow", "tf_keras", "tensorflow_model_optimization")


def save(folder):
    import keras

    import keras_adastride  # noqa: F401
    from layer_references import every_layer_model, random_images

    keras.utils.set_random_seed(0)
    model = every_layer_model()
    x = random_images((3, *model.input_shape[1:]))
    backend = keras.backend.backend()
    model.save(os.path.join(folder, f"{backend}.keras"))
    np.savez(os.path.join(folder, f"{backend}.npz"), x=x, y=model.predict(x, verbose=0))


def load(folder):
    import keras

    import keras_adastride  # noqa: F401
    import keras_adastride.data  # noqa: F401
    import keras_adastride.detection  # noqa: F401
    import keras_adastride.experiments  # noqa: F401
    import keras_adastride.retrofit  # noqa: F401
    import keras_adastride.segmentation  # noqa: F401
    from keras_adastride import flops, models
    from keras_adastride.experiments.train import effective_strides
    from layer_references import random_images

    imported = sorted(name for name in HEAVY if sys.modules.get(name) is not None)
    backend = keras.backend.backend()
    if backend != "tensorflow":
        sys.modules["tensorflow"] = None  # import tensorflow now raises ImportError
    differences = {}
    for saved_by in ("tensorflow", "jax", "torch"):
        path = os.path.join(folder, f"{saved_by}.keras")
        reference = np.load(os.path.join(folder, f"{saved_by}.npz"))
        y = keras.models.load_model(path).predict(reference["x"], verbose=0)
        differences[saved_by] = float(np.abs(y - reference["y"]).max())
    model = models.small_vgg(input_shape=(16, 16, 1), num_classes=3, downsampling="cas",
                             gate_options={"target_stride": 2.0})
    x = random_images((8, 16, 16, 1))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, np.arange(8) % 3, epochs=1, verbose=0)
    effective_strides(model, x)
    flops.count_flops(model)
    model.save(os.path.join(folder, f"trained_by_{backend}.keras"))
    with open(os.path.join(folder, f"loaded_by_{backend}.json"), "w") as f:
        json.dump({"imported": imported, "differences": differences, "trained": True}, f)


if __name__ == "__main__":
    mode, folder = sys.argv[1:]
    {"save": save, "load": load}[mode](folder)
