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


#: how :func:`fit_images` brings images to a size.
FIT_METHODS = ("pad", "bilinear")


def fit_images(images, size, method="pad", chunk=1024):
    """float32 (N, H, W, C) -> (N, size, size, C).

    ``method`` "pad": zero padding around each image, centred (``(size - H) // 2`` rows above,
    the rest below; the same for columns), the pixels unchanged; needs ``size`` >= H, W.
    "bilinear": ``keras.ops.image.resize`` (bilinear, no antialiasing), in chunks of ``chunk``
    images. Images already of that size are returned as they are.
    """
    images = np.asarray(images)
    if method not in FIT_METHODS:
        raise ValueError(f"fit_images: argument `method` must be one of {list(FIT_METHODS)}; "
                         f"received method={method!r}.")
    if images.ndim != 4:
        raise ValueError(f"fit_images: images must have shape (N, H, W, C), got {images.shape}.")
    height, width = images.shape[1:3]
    if (height, width) == (size, size):
        return images
    if method == "pad":
        if size < max(height, width):
            raise ValueError(f"fit_images: method='pad' cannot shrink {height}x{width} images; "
                             f"received size={size!r} (use method='bilinear').")
        rows, cols = size - height, size - width
        return np.pad(images, ((0, 0), (rows // 2, rows - rows // 2),
                               (cols // 2, cols - cols // 2), (0, 0)))
    import keras

    return np.concatenate([
        keras.ops.convert_to_numpy(keras.ops.image.resize(
            images[i:i + chunk], (size, size), interpolation="bilinear", antialias=False))
        for i in range(0, len(images), chunk)]).astype(np.float32)


def make_tf_dataset(images, labels, batch_size=128, shuffle=False, seed=0):
    """A batched ``tf.data.Dataset`` of ``(prepare_images(images), labels)``, prefetched."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((prepare_images(images), np.asarray(labels)))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
