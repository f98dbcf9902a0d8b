"""export_detector: the signature answers with NMS-filtered boxes, equal to the Keras decoder's,
in a process without keras_adastride, with no XLA attribute."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf

from keras_adastride import models
from keras_adastride.detection import YOLOXDetector
from keras_adastride.serving import DETECTION_OUTPUTS, export_detector, xla_findings
from serving_helpers import signature


def test_detector_export(tmp_path):
    keras.utils.set_random_seed(3)
    detector = YOLOXDetector(models.yolox_s(input_shape=(64, 64, 1), num_classes=3,
                                            width=0.0625, downsampling="cas"))
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 1), dtype=np.uint8)
    path = export_detector(detector, tmp_path, "detector", input_dtype="uint8", scale=1 / 255,
                           score_threshold=0.0, max_detections=20)
    assert xla_findings(path) == []
    fn = signature(path)
    assert list(fn.structured_input_signature[1]) == ["images"]
    specs = fn.structured_outputs
    assert sorted(specs) == sorted(DETECTION_OUTPUTS)
    assert specs["boxes"].shape.as_list() == [None, 20, 4]
    assert specs["valid_detections"].dtype == tf.int32 and specs["classes"].dtype == tf.int32
    expected = detector.detect(images.astype("float32") / 255, score_threshold=0.0,
                               max_detections=20)
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent("""
        import sys
        sys.modules["keras_adastride"] = None  # any import of it now raises ImportError
        import numpy as np, tensorflow as tf
        fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
        out = fn(images=tf.constant(np.load(sys.argv[2])))
        np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
    """)
    result = subprocess.run([sys.executable, "-c", script, path, str(tmp_path / "images.npy"),
                             str(tmp_path / "out.npz")], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(tmp_path / "out.npz") as served:
        assert (served["valid_detections"] == 20).all()  # threshold 0: every slot filled
        np.testing.assert_array_equal(served["valid_detections"], expected["valid_detections"])
        np.testing.assert_allclose(served["scores"], expected["scores"], atol=1e-5)
        np.testing.assert_allclose(served["boxes"], expected["boxes"], atol=1e-3)
