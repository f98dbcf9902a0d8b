"""The snippets of docs/LAYERS.md run, in order, in one namespace, and the shapes their comments
promise are the shapes they print."""

import contextlib
import io
import pathlib
import re
import subprocess
import sys

import pytest

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "LAYERS.md"
SHAPE_COMMENT = re.compile(r"^\s*print\((?P<expr>.+\.shape)\)\s*# (?P<shape>\([\d, ]+\))")


@pytest.mark.tensorflow_only  # LAYERS.md's snippets are written for the TensorFlow backend
def test_layers_quick_start_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 8
    namespace, checked = {}, 0
    for block in blocks:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, str(DOC), "exec"), namespace)
        for line in block.splitlines():
            match = SHAPE_COMMENT.match(line)
            if match:
                shape = tuple(eval(match["expr"], namespace))
                assert str(shape) == match["shape"], line
                checked += 1
    assert checked >= 3


README = DOC.parents[1] / "README.md"


def test_readme_loading_snippet_runs_in_a_fresh_process(tmp_path):
    """The README's load snippet, exactly as written, loads the model the quick start saved and
    reproduces its predictions."""
    import numpy as np

    from keras_adastride import models

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (snippet,) = [block for block in blocks if "load_model" in block]
    (saved,) = re.findall(r'model\.save\("(.+?)"\)', "".join(blocks))
    model = models.small_vgg(input_shape=(28, 28, 1), num_classes=10, downsampling="cas")
    model.save(tmp_path / saved)
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    check = "\nimport numpy\nassert numpy.allclose(model.predict(numpy.load('x.npy'), " \
            "verbose=0), numpy.load('y.npy'), atol=1e-6)\n"
    loaded = subprocess.run([sys.executable, "-c", snippet + check], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
