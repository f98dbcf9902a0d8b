"""Resuming the main job: the output folder belongs to one configuration, finished runs are
read back instead of retrained, and the run in progress continues from its last epoch.

Layout of ``config.output``:

- ``config.json``: the configuration that owns the folder (written by the first start); a later
  start with a different configuration is refused (:func:`claim_output`);
- ``runs/<variant>_seed<k>.json``: each finished run, written atomically when it ends;
- ``runs/<variant>_seed<k>.keras``: the first seed's trained models (the example picture);
- ``runs/<variant>_seed<k>.backup/``: the run in progress, saved after every epoch by
  ``keras.callbacks.BackupAndRestore`` (weights, optimizer and epoch), with its per-epoch logs in
  ``runs/<variant>_seed<k>.backup.csv`` (``keras.callbacks.CSVLogger``); both removed when the
  run finishes.
"""

import dataclasses
import json
import os

#: configuration fields that do not change what is computed (where results go, how it prints)
NOT_COMPARED = ("output", "verbose")


def comparable_record(config):
    """The configuration as JSON-able ``{field: value}``, minus :data:`NOT_COMPARED`."""
    record = json.loads(json.dumps(dataclasses.asdict(config)))  # tuples -> lists, as on disk
    for name in NOT_COMPARED:
        record.pop(name, None)
    return record


def check_output(config):
    """Raise ``ValueError`` when ``config.output`` belongs to a different configuration."""
    path = os.path.join(config.output, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        owner = json.load(f)
    mine = comparable_record(config)
    differences = [f"{name}: {owner.get(name)!r} there, {mine.get(name)!r} now"
                   for name in sorted(set(owner) | set(mine)) if owner.get(name) != mine.get(name)]
    if differences:
        raise ValueError(
            f"output {config.output!r} holds the runs of a different configuration ("
            f"{'; '.join(differences)}). Pass another --output, or delete that folder to start "
            "over; the same configuration resumes there.")


def claim_output(config):
    """:func:`check_output`, then record ``config`` as the folder's owner (atomically)."""
    from keras_adastride.experiments.report import write_json

    check_output(config)
    os.makedirs(os.path.join(config.output, "runs"), exist_ok=True)
    path = os.path.join(config.output, "config.json")
    if not os.path.exists(path):
        write_json(comparable_record(config), path)


def run_path(output, variant, seed, suffix=".json"):
    """``<output>/runs/<variant>_seed<seed><suffix>``: the run's record (``.json``), its model
    (``.keras``) or its in-progress backup (``.backup``)."""
    return os.path.join(output, "runs", f"{variant}_seed{seed}{suffix}")


def load_run(path):
    """The :class:`~keras_adastride.experiments.train.RunResult` recorded at ``path``."""
    from keras_adastride.experiments.train import RunResult

    with open(path) as f:
        record = json.load(f)["run"]
    fields = {field.name for field in dataclasses.fields(RunResult)} - {"model"}
    return RunResult(**{name: record[name] for name in fields})


def save_model(model, path):
    """``model.save`` into a temporary ``.keras`` file beside ``path``, renamed into place."""
    temporary = os.path.join(os.path.dirname(path), f".tmp{os.getpid()}_{os.path.basename(path)}")
    model.save(temporary)
    os.replace(temporary, path)


def load_model(path):
    """A model :func:`save_model` wrote (the package's layers registered by this import)."""
    import keras

    import keras_adastride  # noqa: F401

    return keras.models.load_model(path)
