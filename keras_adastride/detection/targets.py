"""Ground truth as padded tensors: the composite set's box lists -> ``{"boxes", "classes"}``.

``keras_adastride.data.make_composite`` gives one (k, 5) array of rows ``[class, x0, y0, x1, y1]``
per canvas (``x1, y1`` exclusive, so they are ``xyxy`` pixel corners). They become

    boxes   float32 (N, G, 4)  xyxy pixels, zeros in padding rows
    classes int32   (N, G)     class id, -1 in padding rows

with G = the largest count (at least 1, so a set of empty canvases still has a shape).
"""

import numpy as np

from keras_adastride.detection.grid import check_canvas_size


def boxes_to_targets(boxes, num_classes, canvas_size, max_boxes=None):
    """Validate and pad a list of (k, 5) ``[class, x0, y0, x1, y1]`` arrays (k may be 0).

    Raises:
        ValueError: a canvas size that is not a multiple of 32; a class id outside
            [0, num_classes); a box that is empty or reaches outside the canvas; more than
            ``max_boxes`` boxes on a canvas. The message names the canvas, the row and the value.
    """
    height, width = check_canvas_size("boxes_to_targets", canvas_size)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"boxes_to_targets: `num_classes` must be a positive integer; "
                         f"received num_classes={num_classes!r}.")
    rows = [np.asarray(b, np.float64).reshape(-1, 5) for b in boxes]
    count = max([len(r) for r in rows] + [1])
    if max_boxes is not None:
        if count > max_boxes:
            raise ValueError(f"boxes_to_targets: a canvas holds {count} boxes, more than "
                             f"max_boxes={max_boxes!r}.")
        count = max_boxes
    padded_boxes = np.zeros((len(rows), count, 4), np.float32)
    padded_classes = np.full((len(rows), count), -1, np.int32)
    for n, r in enumerate(rows):
        for i, (label, x0, y0, x1, y1) in enumerate(r):
            if label != int(label) or not 0 <= label < num_classes:
                raise ValueError(f"boxes_to_targets: canvas {n}, box {i}: class id "
                                 f"{float(label)!r} is not in [0, num_classes={num_classes}).")
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                corners = [float(v) for v in (x0, y0, x1, y1)]
                raise ValueError(f"boxes_to_targets: canvas {n}, box {i}: box {corners!r} "
                                 f"(x0, y0, x1, y1) is empty or outside the {height}x{width} "
                                 f"canvas.")
        padded_boxes[n, :len(r)] = r[:, 1:]
        padded_classes[n, :len(r)] = r[:, 0]
    return {"boxes": padded_boxes, "classes": padded_classes}


def composite_detection_set(images, labels, num_samples, canvas_size=96, num_classes=None,
                            objects_per_canvas=(0, 4), scale_range=(0.5, 1.5), seed=0,
                            max_boxes=None):
    """``make_composite`` canvases with detection targets: ``(images (N, H, W, 1), targets)``.

    Defaults give 0 to 4 objects per canvas resized by 0.5x..1.5x (28 px items -> about 8 to
    42 px boxes: COCO's small and medium ranges), and ``num_classes`` = max label + 1;
    ``max_boxes``: G of the padded targets (None: the largest count).
    """
    from keras_adastride.data import make_composite

    size = check_canvas_size("composite_detection_set", canvas_size)
    labels = np.asarray(labels)
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    data = make_composite(images, labels, num_samples, canvas_size=size,
                          objects_per_canvas=objects_per_canvas, seed=seed,
                          scale_range=scale_range)
    return data["images"], boxes_to_targets(data["boxes"], num_classes, size, max_boxes)
