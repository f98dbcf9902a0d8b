"""``add_loss`` losses kept per thread, so that each ``tf.distribute`` replica sees its own.

``tf.distribute.MirroredStrategy`` runs each replica's training step in a thread of its own
and switches threads at every cross-replica exchange. Keras 3 keeps a layer's ``add_loss``
losses in one list (``Layer._losses``) that the replica threads share: each thread clears it
when its forward pass starts and appends to it. With an exchange inside the forward pass
(``BatchNormalization(synchronized=True)`` all-reduces its statistics there), the threads
interleave and a replica's ``model.losses`` holds the other replica's gate losses too: the
same seeded run, 2 epochs, had epoch losses 1.795 / 1.476 on two replicas against
1.417 / 1.097 on one (tests/experiments/test_distribute.py, before this). ``tf_keras`` is not
affected (its ``add_loss`` losses go through the graph), so only the Keras 3 layers use this.
"""

import threading


class ReplicaLocalLosses:
    """Mixin for a Keras 3 layer that calls ``add_loss``: its ``_losses`` list is per thread."""

    @property
    def _losses(self):
        local = self.__dict__.get("_losses_per_thread")
        if local is None:
            local = self.__dict__["_losses_per_thread"] = threading.local()
        if not hasattr(local, "losses"):
            local.losses = []
        return local.losses

    @_losses.setter
    def _losses(self, value):
        self._losses[:] = list(value)
