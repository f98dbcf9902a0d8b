"""Pooling kinds beyond Keras's max / average (the pooling survey, seed 004), one module each.

The ``*Logic`` classes are bound to Keras 3 in :mod:`keras_adastride.layers` (and the window
poolings to ``tf_keras`` in :mod:`keras_adastride.tfmot`); :mod:`.pool_modes` is PAS's
``pool_mode``.
"""
