"""TF Serving's ``models.config`` (a ``ModelServerConfig`` in protobuf text format).

Serve several models with ``tensorflow_model_server --model_config_file=models.config``; each
entry names a model and its base path *as the server sees it* (inside the container).
"""

import os


def models_config(models):
    """The ``ModelServerConfig`` text for ``models``.

    Args:
        models: ``{model_name: base_path}``, or ``{model_name: (base_path, versions)}`` to serve
            exactly those integer versions (default: the latest version only).
    """
    from google.protobuf import text_format

    try:
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "models.config needs `tensorflow-serving-api`: pip install keras_adastride[serving]"
        ) from err
    if not models:
        raise ValueError(f"models must name at least one model; received {models!r}.")
    config = model_server_config_pb2.ModelServerConfig()
    for name, spec in models.items():
        base_path, versions = (spec, None) if isinstance(spec, (str, os.PathLike)) else spec
        entry = config.model_config_list.config.add(
            name=name, base_path=os.fspath(base_path), model_platform="tensorflow")
        if versions is not None:
            if not versions or not all(isinstance(v, int) and v >= 0 for v in versions):
                raise ValueError(
                    f"versions of {name!r} must be a non-empty list of integers >= 0; "
                    f"received {versions!r}."
                )
            entry.model_version_policy.specific.versions.extend(versions)
    return text_format.MessageToString(config)


def write_models_config(path, models):
    """Write :func:`models_config` to ``path``; returns the path."""
    text = models_config(models)
    with open(path, "w") as file:
        file.write(text)
    return path
