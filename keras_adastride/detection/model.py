"""A YOLOX network that trains with ``model.fit``: the loss lives in ``compute_loss``.

``YOLOXDetector(network)`` wraps a network with YOLOX's raw outputs (``models.yolox`` /
``models.yolox_s``: ``{"p3", "p4", "p5"}`` maps of 4 + 1 + C channels). ``fit`` takes images and
targets ``{"boxes": (N, G, 4) xyxy, "classes": (N, G), -1 = padding}`` (:mod:`targets`); Keras'
own ``train_step`` calls :meth:`compute_loss`, so callbacks, progress bars, mixed precision
(loss scaling), ``jit_compile`` and ``tf.distribute`` strategies behave as for any model. The
loss parts are logged as ``box_loss``, ``obj_loss``, ``cls_loss`` and ``foreground`` (mean
number of foreground anchors per image).
"""

import keras
import numpy as np

from keras_adastride.detection.decode import DetectionDecoder
from keras_adastride.detection.grid import STRIDES, anchor_points, flatten_levels
from keras_adastride.detection.loss import REG_WEIGHT, yolox_loss

LOSS_PARTS = ("box_loss", "obj_loss", "cls_loss")


def _replica_share(loss):
    """``loss`` / the replicas of the ``tf.distribute`` strategy in scope (1 elsewhere): Keras
    sums the replicas' gradients and scales its own ``Loss`` objects and ``add_loss`` losses so
    (``keras.src.losses.loss.scale_loss_for_distribution``), but not what an overridden
    ``compute_loss`` returns; the logged loss is multiplied back by Keras."""
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss / replicas


@keras.saving.register_keras_serializable(package="keras_adastride")
class YOLOXDetector(keras.Model):
    """YOLOX training wrapper. ``call`` returns the network's raw maps.

    Args:
        network: a functional model with a fixed (H, W) input, H and W multiples of 32, and
            outputs ``{"p3", "p4", "p5"}``.
        center_radius, candidate_k: SimOTA's (:func:`assignment.simota_assign`).
        reg_weight: weight of the IoU loss (YOLOX: 5).
    """

    def __init__(self, network, center_radius=2.5, candidate_k=10, reg_weight=REG_WEIGHT,
                 **kwargs):
        super().__init__(**kwargs)
        height, width = network.input_shape[1:3]
        self.grid, self.stride = anchor_points((height, width), STRIDES)
        self.network = network
        self.center_radius = float(center_radius)
        self.candidate_k = int(candidate_k)
        self.reg_weight = float(reg_weight)
        self.num_classes = int(network.output["p3"].shape[-1]) - 5
        self.part_trackers = {name: keras.metrics.Mean(name=name)
                              for name in LOSS_PARTS + ("foreground",)}

    def call(self, images, training=False):
        return self.network(images, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        parts = yolox_loss(flatten_levels(y_pred), y["boxes"], y["classes"], self.grid,
                           self.stride, center_radius=self.center_radius,
                           candidate_k=self.candidate_k, reg_weight=self.reg_weight)
        for name in LOSS_PARTS:
            self.part_trackers[name].update_state(parts[name])
        batch = keras.ops.cast(keras.ops.shape(y["classes"])[0], "float32")
        self.part_trackers["foreground"].update_state(parts["num_foreground"] / batch)
        losses = [parts["loss"]] + list(self.losses)  # + gate budgets, if any
        return _replica_share(keras.ops.sum(keras.ops.stack(losses)))

    @property
    def metrics(self):
        tracked = super().metrics
        return tracked + [t for t in self.part_trackers.values() if t not in tracked]

    def inference_model(self, score_threshold=0.01, iou_threshold=0.65, max_detections=100,
                        name=None):
        """A functional model ``images -> {"boxes", "classes", "scores", "valid_detections"}``
        sharing this detector's weights (:class:`decode.DetectionDecoder`); export it with
        ``keras_adastride.serving.export_model``."""
        decoder = DetectionDecoder(score_threshold, iou_threshold, max_detections,
                                   name="detections")
        images = keras.Input(self.network.input_shape[1:], name=self.network.input.name)
        return keras.Model(images, decoder(self.network(images, training=False)),
                           name=name or f"{self.network.name}_detector")

    def detect(self, images, batch_size=64, **decoder_args):
        """NumPy detections of ``images`` (see :meth:`inference_model` for the arguments)."""
        model = self.inference_model(**decoder_args)
        batches = [model(images[i:i + batch_size], training=False)
                   for i in range(0, len(images), batch_size)]
        return {key: np.concatenate([keras.ops.convert_to_numpy(b[key]) for b in batches])
                for key in batches[0]}

    def get_config(self):
        return {**super().get_config(),
                "network": keras.saving.serialize_keras_object(self.network),
                "center_radius": self.center_radius, "candidate_k": self.candidate_k,
                "reg_weight": self.reg_weight}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
