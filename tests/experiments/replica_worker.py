"""The run test_distribute.py trains on 1 and on 2 replicas: a seeded dilated VGG with CAS
(random gate start, a target_stride gate budget, batch norm after every conv) trained by the
main job's recipe (``train_classifier``) under ``--distribute`` MODE; writes what the report
reads. Imported for MODE none, run in a fresh interpreter for the others:

    replica_worker.py OUT mirrored       (two logical CPU devices of this process; on the JAX
                                          backend two XLA host devices, set by XLA_FLAGS)
    replica_worker.py OUT multi-worker   (TF_CONFIG names this worker)
    replica_worker.py OUT none           (one device: the JAX reference)

The gates start random, not as the identity: at the identity start every gate position has the
same value, the budget loss's sort then breaks exact ties, and the last-bit differences of a
2-replica sum decide which positions it pushes down (measured: epoch losses 1.4201 / 1.1023 on
2 replicas against 1.4168 / 1.0974 on 1, where the gate-free model agrees to 1e-7).
"""

import json
import sys

import numpy as np

GATE_OPTIONS = {"target_stride": 2.0, "target_stride_weight": 0.5, "gate_init": "random"}


def learnable(count, seed):
    """Noise images with a bright square in the top (label 0) or bottom (label 1) half."""
    rng = np.random.default_rng(seed)
    x = 0.3 * rng.standard_normal((count, 16, 16, 1)).astype("float32")
    y = rng.integers(0, 2, count).astype("int32")
    for image, label, row, col in zip(x, y, rng.integers(0, 5, count), rng.integers(0, 13, count)):
        image[row + 8 * label:row + 8 * label + 3, col:col + 3] += 2.0
    return x, y


def train(mode):
    """``{"replicas", "metrics", "history", "effective_strides"}`` of the run under ``mode``."""
    from keras_adastride.experiments.distribute import replicas
    from keras_adastride.experiments.tasks.classification import train_classifier

    data = {}
    for part, count, seed in (("train", 128, 0), ("val", 32, 1), ("test", 64, 2)):
        data[f"x_{part}"], data[f"y_{part}"] = learnable(count, seed)
    run = train_classifier("dilated_vgg", "cas", 0, data, epochs=2, batch_size=32, verbose=0,
                           gate_options=GATE_OPTIONS, distribute=mode)
    return {"replicas": replicas(mode), "metrics": run.metrics, "history": run.history,
            "effective_strides": run.effective_strides}


if __name__ == "__main__":
    out, mode = sys.argv[1:]
    import keras

    if mode == "mirrored" and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    result = train(mode)
    with open(out, "w") as f:
        json.dump(result, f)
