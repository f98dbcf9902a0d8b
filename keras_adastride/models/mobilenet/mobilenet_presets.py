"""MobileNet v1 as data: (pointwise filters, depthwise stride) of the 13 separable blocks."""

MOBILENET_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
#: filters of the stride-2 stem conv ``conv1``
STEM_FILTERS = 32
