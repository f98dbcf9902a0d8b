"""Functional-API builders of the paper's backbones, each with a ``downsampling`` switch.

``downsampling``: "original" (the published fixed-stride convs / poolings), "cas", "pas" (where the
model pools) or "spd" (SPD-Conv); ``placements`` chooses the sites (default: the paper's). The
input is named "images"; see each builder for its output names.
"""

from keras_adastride.models.alexnet import alexnet
from keras_adastride.models.dilated_segnet import dilated_segnet
from keras_adastride.models.dilated_vgg import dilated_vgg
from keras_adastride.models.mobilenet import mobilenet
from keras_adastride.models.resnet import resnet18, resnet50
from keras_adastride.models.unet import unet
from keras_adastride.models.vgg import small_vgg, vgg11, vgg16
from keras_adastride.models.yolox import yolox, yolox_s

__all__ = ["alexnet", "dilated_segnet", "dilated_vgg", "mobilenet", "resnet18", "resnet50",
           "small_vgg", "unet", "vgg11", "vgg16", "yolox", "yolox_s"]
