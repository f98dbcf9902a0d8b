from keras_adastride.models.vgg.vgg import small_vgg, vgg, vgg11, vgg16

__all__ = ["small_vgg", "vgg", "vgg11", "vgg16"]
