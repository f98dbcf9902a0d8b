"""From uint8 arrays to model inputs and ``tf.data`` pipelines."""

import numpy as np


def prepare_images(images):
    """uint8 (N, H, W) or (N, H, W, C) in 0..255 -> float32 (N, H, W, C) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}.")
    return images.astype(np.float32) / 255.0


def make_tf_dataset(images, labels, batch_size=128, shuffle=False, seed=0):
    """A batched ``tf.data.Dataset`` of ``(prepare_images(images), labels)``, prefetched."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((prepare_images(images), np.asarray(labels)))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
