from keras_adastride.models.mobilenet.mobilenet import mobilenet

__all__ = ["mobilenet"]
