"""TF Serving export of a segmenter: uint8 canvases in, the class map and probabilities out.

The ``serving_default`` signature (through :func:`keras_adastride.serving.export_model`):

    images         uint8   (N, H, W, C)   raw pixels; the graph computes images / 255
    probabilities  float32 (N, H, W, K)   the model's softmax map
    class_ids      int64   (N, H, W)      the class map: argmax over the K classes per pixel

The same keys as the classifier exports (``class_ids`` per pixel), so a client reads either kind
the same way. The graph holds only core TensorFlow ops: it loads without ``keras_adastride``.
"""

from keras_adastride.serving import export_model


def export_segmenter(model, base_dir, model_name, version=None, *, from_logits=False,
                     warmup_inputs=None):
    """Export ``model`` (images (N, H, W, C) -> per-pixel scores (N, H, W, K)) to
    ``<base_dir>/<model_name>/<version>/``; returns that folder. ``from_logits``: the model
    outputs logits (``probabilities`` is then their softmax); ``warmup_inputs``: see
    :func:`~keras_adastride.serving.export_model`."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"export_segmenter needs one input and one output; model "
                         f"{model.name!r} has {len(model.inputs)} and {len(model.outputs)}.")
    input_shape, output_shape = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(input_shape) != 4 or len(output_shape) != 4 or input_shape[1:3] != output_shape[1:3]:
        raise ValueError(f"export_segmenter needs a model mapping (N, H, W, C) images to "
                         f"(N, H, W, K) maps of the same H and W; model {model.name!r} maps "
                         f"{input_shape} to {output_shape}.")
    return export_model(model, base_dir, model_name, version, input_dtype="uint8", scale=1 / 255,
                        classifier=True, from_logits=from_logits, warmup_inputs=warmup_inputs)
