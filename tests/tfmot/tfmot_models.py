"""A small tf_keras model mixing standard and our layers, shared by the TFMOT tests."""

import tf_keras

from keras_adastride import tfmot as kat


def build_mixed_model(prune_gate=True):
    """Conv2D, CAS, MaxPooling2D, SpaceToDepthConv, PAS, SpaceToDepth, Dense: 28x28x1 -> 10."""
    layers = tf_keras.layers
    return tf_keras.Sequential(
        [
            tf_keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            kat.CAS(16, 3, padding="same", activation="relu", gate_width=8, prune_gate=prune_gate),
            layers.MaxPooling2D(),  # 14x14
            kat.SpaceToDepthConv(16, 3, padding="same", activation="relu"),  # 7x7
            kat.PAS(padding="same", gate_width=8, prune_gate=prune_gate),  # 4x4
            kat.SpaceToDepth(),  # 2x2x64
            layers.Flatten(),
            layers.Dense(10),
        ]
    )


def compile_model(model):
    model.compile(
        tf_keras.optimizers.Adam(2e-3),
        tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def clone_with_weights(model):
    clone = tf_keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone
