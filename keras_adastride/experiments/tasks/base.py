"""The interface every task of the main job implements (the contract: the package docstring)."""


class Task:
    """One kind of problem the main job compares downsampling variants on (see the module doc)."""

    name = None
    metrics = ()
    curves = ()
    datasets = ()
    default_dataset = None
    default_model = None
    default_variants = ()
    example_figure = None
    default_target_stride = None
    default_target_stride_weight = 0.1
    #: the config's model options (``config.MODEL_OPTIONS``) this task's builders take.
    model_options = ()
    #: the config's data options (``config.DATA_OPTIONS``: ``classes``, ``augment``) it takes.
    data_options = ()
    #: the training budget of a config that does not set one (classification's main job).
    default_budget = {"epochs": 3, "batch_size": 128, "learning_rate": 1e-3,
                      "train_subset": 5000, "val_subset": 1000, "test_subset": None}

    def validate(self, config):
        raise NotImplementedError

    def refuse_convert(self, config):
        """``ValueError`` for ``--convert`` in a task that compares its builder's own variants."""
        if config.convert is not None:
            raise ValueError(f"convert is offered by the classification task; the {self.name} "
                             f"task compares the builder's variants (got convert="
                             f"{config.convert!r}).")

    def load(self, config):
        raise NotImplementedError

    def split(self, loaded, seed, config):
        raise NotImplementedError

    def train_run(self, model_name, variant, seed, data, config, gate_options, backup_dir=None):
        raise NotImplementedError

    def draw_examples(self, models, data, config, path):
        raise NotImplementedError
