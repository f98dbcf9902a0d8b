"""ResNet configurations as data: block kind, blocks per stage, widths, BN epsilon, conv bias."""

RESNET_PRESETS = {
    # torchvision.models.resnet18: 11,689,512 trainable parameters (torch's count; Keras also
    # counts the 9,600 BatchNormalization moving statistics, as non-trainable).
    "resnet18": dict(block="basic", stages=(2, 2, 2, 2), widths=(64, 128, 256, 512),
                     epsilon=1e-5, conv_bias=False),
    # keras.applications.ResNet50 (v1, stride on the first 1x1 conv, conv biases):
    # 25,636,712 parameters including the BN moving statistics.
    "resnet50": dict(block="bottleneck", stages=(3, 4, 6, 3), widths=(64, 128, 256, 512),
                     epsilon=1.001e-5, conv_bias=True),
}
