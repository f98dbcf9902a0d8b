"""The gate-budget losses of CAS / PAS are kept per thread: tf.distribute runs each replica in a
thread of its own, and a replica must read its own losses, not the other's."""

import threading

import keras
import numpy as np
import pytest

from keras_adastride.layers import CAS, PAS


@pytest.mark.parametrize("make", [
    lambda: CAS(4, 3, padding="same", target_stride=2.0, gate_init="random"),
    lambda: PAS(2, target_stride=2.0, gate_init="random"),
])
def test_each_thread_reads_the_losses_of_its_own_call(make):
    keras.utils.set_random_seed(1)
    layer = make()
    inputs = [np.random.default_rng(seed).normal(size=(2, 8, 8, 3)).astype("float32")
              for seed in (0, 1)]
    layer(inputs[0])  # build
    expected = []
    for x in inputs:  # one thread after the other: the loss of each input alone
        layer(x)
        assert len(layer.losses) == 1
        expected.append(float(keras.ops.convert_to_numpy(layer.losses[0])))
    assert expected[0] != pytest.approx(expected[1])

    called, seen = threading.Barrier(2), {}

    def replica(i):
        layer(inputs[i])
        called.wait()  # both threads have called the layer before either reads its losses
        seen[i] = [float(keras.ops.convert_to_numpy(loss)) for loss in layer.losses]

    threads = [threading.Thread(target=replica, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen[0] == pytest.approx([expected[0]]) and seen[1] == pytest.approx([expected[1]])
