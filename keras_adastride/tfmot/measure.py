"""What pruning and quantization buy: sparsity, non-zero parameters, compressed size."""

import gzip
import os

import numpy as np


def kernel_sparsity(model):
    """``{"layer/weight": fraction of zeros}`` for every prunable kernel of a ``tf_keras`` model.

    Prunable: what ``get_prunable_weights()`` returns for our layers, ``kernel`` for built-ins
    (Conv2D, Dense, ...). Works on stripped models (pruning wrappers removed).
    """
    sparsity = {}
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            sparsity.update(kernel_sparsity(layer))
            continue
        if hasattr(layer, "get_prunable_weights"):
            weights = layer.get_prunable_weights()
        else:
            weights = [layer.kernel] if getattr(layer, "kernel", None) is not None else []
        for weight in weights:
            # Variable names carry no layer scope after loading: key by layer name.
            key = f"{layer.name}/{weight.name.split('/')[-1].split(':')[0]}"
            sparsity[key] = float(np.mean(np.asarray(weight.numpy()) == 0))
    return sparsity


def count_params(model):
    """Number of trainable weights (QAT ranges, pruning masks and steps left out)."""
    return int(sum(np.size(w) for w in model.trainable_weights))


def count_nonzero_params(model):
    """Number of non-zero trainable weights."""
    return int(sum(np.count_nonzero(w.numpy()) for w in model.trainable_weights))


def gzip_size(path):
    """Bytes of ``path`` (a file, or a folder's files concatenated in sorted order) gzipped."""
    if os.path.isdir(path):
        files = sorted(
            os.path.join(root, name) for root, _, names in os.walk(path) for name in names
        )
    else:
        files = [path]
    data = b"".join(open(name, "rb").read() for name in files)
    return len(gzip.compress(data, compresslevel=9))
