from keras_adastride.models.dilated_segnet.dilated_segnet import dilated_segnet

__all__ = ["dilated_segnet"]
