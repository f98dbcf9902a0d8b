"""An M2NIST-style segmentation and detection set composed from real images.

Objects (tight crops of real digits / clothing items) are pasted on an empty canvas at random,
non-overlapping places. Pixels at or below ``threshold`` are not pasted, so on every canvas:
``masks > 0`` exactly where ``images > 0``; inside each box the mask holds only that object's
``class + 1``; and each box is the tight bounding box of its object's mask pixels.
"""

import numpy as np


def _as_unit_float(images):
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, 1), got {images.shape}.")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)


def _tight_crop(image, threshold):
    """The image cut to the bounding box of pixels > threshold, other pixels set to 0 (or None)."""
    keep = image > threshold
    rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    if rows.size == 0:
        return None
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return np.where(keep[window], image[window], 0.0)


def _rescaled(crop, factor):
    """``crop`` resized by ``factor`` (nearest neighbour at pixel centres, at least 1x1) and cut
    tight again (sampling may skip a border row or column); no new pixel value is made up."""
    def picks(size):
        new = max(1, int(round(size * factor)))
        return np.minimum(((np.arange(new) + 0.5) * size / new).astype(int), size - 1)

    return _tight_crop(crop[picks(crop.shape[0])][:, picks(crop.shape[1])], 0.0)


def _overlaps(box, boxes):
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def make_composite(images, labels, num_samples, canvas_size=64, objects_per_canvas=(1, 3), seed=0,
                   threshold=0.1, max_tries=50, scale_range=None):
    """Compose ``num_samples`` canvases, deterministically for a given ``seed``.

    Args:
        images: (N, h, w) or (N, h, w, 1); uint8 0..255 or float 0..1.
        labels: (N,) integer classes 0..C-1.
        num_samples: number of canvases.
        canvas_size: int or (height, width) of the canvas; must hold the largest crop.
        objects_per_canvas: (min, max) objects per canvas, drawn uniformly (min may be 0: empty
            canvases). A canvas holds fewer than drawn when ``max_tries`` random places for the
            next object all overlap.
        seed: seed of the generator choosing images, counts and places.
        threshold: pixels <= threshold (in 0..1 units) count as background and are not pasted.
        scale_range: None (objects keep their size) or (low, high): each crop is resized by a
            factor drawn log-uniformly from [low, high] (nearest neighbour, so pasted pixels
            are source pixels), capped so that it fits the canvas; gives a range of object
            sizes (small / medium boxes for COCO's AP_small / AP_medium).

    Returns:
        dict with ``"images"`` float32 (N, H, W, 1) in [0, 1]; ``"masks"`` int32 (N, H, W) with
        0 = background and ``class + 1`` on object pixels; ``"boxes"`` a list of N int32 arrays
        (k, 5) of rows ``[class, x0, y0, x1, y1]`` (x = column, y = row; x1, y1 exclusive, so
        width = x1 - x0).
    """
    pixels = _as_unit_float(images)
    labels = np.asarray(labels).astype(np.int64)
    if labels.shape != (len(pixels),):
        raise ValueError(f"labels must have shape ({len(pixels)},), got {labels.shape}.")
    if int(num_samples) < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples!r}.")
    height, width = (canvas_size, canvas_size) if np.isscalar(canvas_size) else tuple(canvas_size)
    if height < pixels.shape[1] or width < pixels.shape[2]:
        raise ValueError(
            f"canvas_size {canvas_size!r} is smaller than the images ({pixels.shape[1:]})."
        )
    low, high = objects_per_canvas
    if not 0 <= low <= high or high < 1:
        raise ValueError(f"objects_per_canvas must be (min, max) with 0 <= min <= max, max >= 1, "
                         f"got {objects_per_canvas!r}.")
    if scale_range is not None:
        scale_low, scale_high = (float(v) for v in scale_range)
        if not 0 < scale_low <= scale_high:
            raise ValueError(f"scale_range must be None or (low, high) with 0 < low <= high, "
                             f"got {scale_range!r}.")
    usable = np.array([i for i in range(len(pixels)) if (pixels[i] > threshold).any()])
    if usable.size == 0:
        raise ValueError(f"no image has a pixel above threshold={threshold!r}.")

    rng = np.random.default_rng(seed)
    canvases = np.zeros((int(num_samples), height, width, 1), np.float32)
    masks = np.zeros((int(num_samples), height, width), np.int32)
    all_boxes = []
    for n in range(int(num_samples)):
        boxes = []
        for _ in range(int(rng.integers(low, high + 1))):
            index = int(rng.choice(usable))
            crop = _tight_crop(pixels[index], threshold)
            if scale_range is not None:
                factor = float(np.exp(rng.uniform(np.log(scale_low), np.log(scale_high))))
                crop = _rescaled(crop, min(factor, height / crop.shape[0], width / crop.shape[1]))
                if crop is None:  # shrunk to background pixels only
                    continue
            h, w = crop.shape
            for _ in range(max_tries):
                y0, x0 = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
                box = (x0, y0, x0 + w, y0 + h)
                if not _overlaps(box, [b[1:] for b in boxes]):
                    break
            else:
                break
            canvases[n, y0:y0 + h, x0:x0 + w, 0] = crop
            masks[n, y0:y0 + h, x0:x0 + w] = np.where(crop > 0, labels[index] + 1, 0)
            boxes.append((int(labels[index]),) + box)
        all_boxes.append(np.array(boxes, np.int32).reshape(-1, 5))
    return {"images": canvases, "masks": masks, "boxes": all_boxes}
