from keras_adastride.models.yolox.yolox import yolox, yolox_s

__all__ = ["yolox", "yolox_s"]
