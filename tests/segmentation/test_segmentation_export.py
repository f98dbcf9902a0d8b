"""The segmentation export: uint8 canvases in; the class map and the probabilities out, in a
process where keras_adastride cannot be imported (as on a TF Serving host)."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_adastride import models
from keras_adastride.segmentation import export_segmenter
from keras_adastride.serving import xla_findings

WITHOUT_KERAS_ADASTRIDE = textwrap.dedent("""
    import sys
    sys.modules["keras_adastride"] = None  # any import of it now raises ImportError
    import numpy as np
    import tensorflow as tf
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    with np.load(sys.argv[2]) as inputs:
        outputs = serve(images=tf.constant(inputs["images"]))
    np.savez(sys.argv[3], **{k: v.numpy() for k, v in outputs.items()})
    print(sorted(m for m in sys.modules if m.startswith("keras_adastride")))
""")


def test_signature_returns_class_map_and_probabilities(tmp_path):
    model = models.unet((32, 32, 1), 4, base_filters=2, downsampling="cas",
                        gate_options=dict(gate_init="random"))
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 1), dtype=np.uint8)
    path = export_segmenter(model, tmp_path, "segmenter", warmup_inputs={"images": images[:1]})
    assert path == os.path.join(tmp_path, "segmenter", "1") and xla_findings(path) == []
    np.savez(tmp_path / "in.npz", images=images)
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_KERAS_ADASTRIDE, path, str(tmp_path / "in.npz"),
         str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("['keras_adastride']")  # only the None placeholder
    expected = keras.ops.convert_to_numpy(model(images.astype("float32") / 255.0))
    with np.load(tmp_path / "out.npz") as outputs:
        assert sorted(outputs.files) == ["class_ids", "probabilities"]
        probabilities, class_map = outputs["probabilities"], outputs["class_ids"]
    assert probabilities.dtype == np.float32 and probabilities.shape == (3, 32, 32, 4)
    assert class_map.dtype == np.int64 and class_map.shape == (3, 32, 32)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(class_map, probabilities.argmax(-1))


def test_a_classifier_is_refused(tmp_path):
    classifier = models.dilated_vgg((16, 16, 1), 3)
    with pytest.raises(ValueError, match=r"\(N, H, W, K\).*\(None, 16, 16, 1\) to \(None, 3\)"):
        export_segmenter(classifier, tmp_path, "classifier")
    assert not os.path.exists(tmp_path / "classifier")
