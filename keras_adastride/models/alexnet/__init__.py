from keras_adastride.models.alexnet.alexnet import alexnet

__all__ = ["alexnet"]
