"""Reader for the IDX files of MNIST / Fashion-MNIST (optionally gzip-compressed).

Format: 2 zero bytes, a type byte (0x08 = uint8), a byte ``ndim``, ``ndim`` big-endian uint32
dimensions, then the data in C order.
"""

import gzip

import numpy as np


def read_idx(path):
    """Return the uint8 array stored in the IDX file ``path`` (``.gz`` is decompressed)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of uint8 values (header {data[:4]!r}).")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {array.size} values.")
    return array.reshape(shape).copy()
