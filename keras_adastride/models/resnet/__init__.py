from keras_adastride.models.resnet.resnet import resnet, resnet18, resnet50

__all__ = ["resnet", "resnet18", "resnet50"]
