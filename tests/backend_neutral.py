"""Backend-neutral test helpers: NumPy views and gradients on TensorFlow, JAX and PyTorch alike.

Keras 3 has no public gradient API of its own (each backend trains through its ``train_step``),
so :func:`value_and_gradients` dispatches to the backend's autodiff: ``tf.GradientTape``,
``torch.autograd.grad``, or ``jax.value_and_grad`` over a ``keras.StatelessScope``.
"""

import keras


def to_numpy(x):
    """``keras.ops.convert_to_numpy``: also works on torch tensors that require grad."""
    return keras.ops.convert_to_numpy(x)


def predict(model, x):
    """``model(x)`` (inference) as a flat list of NumPy arrays. On JAX through
    ``model.predict_on_batch``: XLA compiles the whole model once instead of each op on its own
    (mobilenet's variants in tests/models/test_variants.py: 38 s -> 17 s); elsewhere eagerly,
    where TensorFlow's tracing of a predict function would cost more than the call."""
    if keras.backend.backend() == "jax":
        outputs = model.predict_on_batch(x)
    else:
        outputs = model(x)
    return [to_numpy(o) for o in keras.tree.flatten(outputs)]


def run(fn, x):
    """``fn(x)`` as NumPy: eager on TensorFlow and torch; on JAX one ``jax.jit`` of the whole
    call (eager JAX compiles each op on its own: most of a layer call's time there)."""
    if keras.backend.backend() == "jax":
        import jax

        return to_numpy(jax.jit(lambda t: keras.ops.convert_to_tensor(fn(t)))(x))
    return to_numpy(fn(x))


def output_shape(fn, x):
    """The shape of ``fn(x)``: computed on TensorFlow and torch; on JAX by ``jax.eval_shape``,
    the shape inference of the same traced computation without XLA compiling each op anew for
    every input size (~55 ms a compile: most of a shape sweep's time on JAX)."""
    if keras.backend.backend() == "jax":
        import jax

        return tuple(jax.eval_shape(lambda t: keras.ops.convert_to_tensor(fn(t)), x).shape)
    return to_numpy(fn(x)).shape


def value_and_gradients(loss_fn, variables):
    """``(float(loss_fn()), [d loss / d v as NumPy for v in variables])``.

    ``loss_fn`` takes no argument and reads ``variables`` (built already) through the layers
    that own them (``layer.losses`` included: on JAX they are collected by the stateless scope).
    Eager on TensorFlow and torch (one call: tracing would cost more than it saves); one
    ``jax.jit`` on JAX, where eager execution compiles every op on its own.
    """
    variables = list(variables)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss_fn()
        grads = tape.gradient(value, variables)
    elif backend == "torch":
        import torch

        value = loss_fn()
        grads = torch.autograd.grad(value, [v.value for v in variables], allow_unused=True)
    elif backend == "jax":
        return _jax_compiled(loss_fn, variables)()
    else:
        raise NotImplementedError(f"no gradient helper for the {backend!r} backend")
    return _as_numpy(value, grads)


def repeated_value_and_gradients(loss_fn, variables):
    """A function of no argument that returns ``value_and_gradients(loss_fn, variables)`` for
    the variables' current values, for loops of many steps: compiled once (``tf.function`` on
    TensorFlow, ``jax.jit`` on JAX) instead of running op by op each step; eager on torch."""
    variables = list(variables)
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_compiled(loss_fn, variables)
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def compiled():
            with tf.GradientTape() as tape:
                value = loss_fn()
            return value, tape.gradient(value, variables)

        return lambda: _as_numpy(*compiled())
    return lambda: value_and_gradients(loss_fn, variables)


def _jax_compiled(loss_fn, variables):
    import jax

    compiled = jax.jit(jax.value_and_grad(_stateless(loss_fn, variables)))
    return lambda: _as_numpy(*compiled([v.value for v in variables]))


def _stateless(loss_fn, variables):
    """``loss_fn`` as a pure function of the variables' values (JAX)."""

    def stateless_loss(values):
        mapping = list(zip(variables, values))
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True):
            return loss_fn()

    return stateless_loss


def _as_numpy(value, grads):
    return float(to_numpy(value)), [None if g is None else to_numpy(g) for g in grads]
