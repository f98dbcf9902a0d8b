from keras_adastride.models.dilated_vgg.dilated_vgg import dilated_vgg

__all__ = ["dilated_vgg"]
