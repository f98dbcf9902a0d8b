"""VGG configurations as data: conv widths per block, dense widths of the top, dropout."""

VGG_PRESETS = {
    # Simonyan & Zisserman 2015, configuration A: 132,863,336 parameters at 224x224x3 / 1000.
    "vgg11": dict(
        blocks=((64,), (128,), (256, 256), (512, 512), (512, 512)),
        dense=(4096, 4096),
        dropout=0.0,
        default_input_shape=(224, 224, 3),
        default_classes=1000,
    ),
    # Configuration D, layer for layer keras.applications.VGG16 (138,357,544 parameters).
    "vgg16": dict(
        blocks=((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
        dense=(4096, 4096),
        dropout=0.0,
        default_input_shape=(224, 224, 3),
        default_classes=1000,
    ),
    # A CIFAR-size VGG (three blocks of two 3x3 convs); works from 8x8 inputs (28x28x1 included).
    "small_vgg": dict(
        blocks=((32, 32), (64, 64), (128, 128)),
        dense=(256,),
        dropout=0.5,
        default_input_shape=(32, 32, 3),
        default_classes=10,
    ),
}
