from keras_adastride.models.unet.unet import unet

__all__ = ["unet"]
