"""AlexNet configurations as data.

``convs``: (filters, kernel, stride, zero padding) of conv1..conv5; ``pool``: (size, stride,
padding) of the three max pools (after conv1, conv2, conv5); ``pooled``: the adaptive average
pooling's output size before the flatten (None: no such layer); ``dense``: the two hidden dense
widths; ``dropout``: the rate of the dropout before each of them (0.5, as torchvision);
``batch_norm``: a ``BatchNormalization`` between each conv and its ReLU.
"""

ALEXNET_PRESETS = {
    # torchvision.models.alexnet (one-GPU variant of Krizhevsky et al. 2012): 61,100,840
    # parameters at 224x224x3 / 1000 classes. Works from 95x95 inputs: below, pool3 is 1x1 and
    # keras.layers.AdaptiveAveragePooling2D cannot spread one pixel over 6x6 in a traced graph
    # (model.fit; eager calls work from 63x63).
    "torchvision": dict(
        convs=((64, 11, 4, 2), (192, 5, 1, 2), (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)),
        pool=(3, 2, "valid"),
        pooled=(6, 6),
        dense=(4096, 4096),
        dropout=0.5,
        batch_norm=False,
        min_size=95,
    ),
    # The same layout for small images (28x28, 32x32): stride-1 5x5 conv1, narrower layers,
    # "same" overlapping pools (28 -> 14 -> 7 -> 4).
    "small": dict(
        convs=((32, 5, 1, 2), (64, 5, 1, 2), (128, 3, 1, 1), (128, 3, 1, 1), (64, 3, 1, 1)),
        pool=(3, 2, "same"),
        pooled=None,
        dense=(512, 512),
        dropout=0.5,
        batch_norm=False,
        min_size=4,
    ),
}
# "AlexNet with the usual tricks" (the PAS paper's Table 4): the small layout with batch
# normalization after every conv (conv -> BN -> ReLU, the conv keeps its bias, as torchvision's
# *_bn nets) and the dropout 0.5 before both hidden dense layers; the third trick, data
# augmentation, is the main job's `--augment flip,translate`.
ALEXNET_PRESETS["small_tricks"] = dict(ALEXNET_PRESETS["small"], batch_norm=True)
