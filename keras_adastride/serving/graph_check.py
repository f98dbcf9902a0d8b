"""Scan an exported SavedModel for what a TF Serving build without XLA cannot run.

A graph traced with ``jit_compile=True`` carries ``_XlaMustCompile`` (and ``_XlaScope`` ...)
attributes on its functions and call nodes; a server built without XLA fails to load it. XLA's own
ops (``XlaLaunch``, ``XlaConv`` ...) fail the same way.
"""

import os


def _function_findings(function):
    name = function.signature.name
    found = [f"function {name}: attribute {key}" for key in function.attr if key.startswith("_Xla")]
    for node in function.node_def:
        found += _node_findings(node, f"function {name}: ")
    return found


def _node_findings(node, where=""):
    found = [f"{where}node {node.name}: attribute {key}" for key in node.attr
             if key.startswith("_Xla")]
    if node.op.startswith("Xla"):
        found.append(f"{where}node {node.name}: op {node.op}")
    return found


def xla_findings(export_dir):
    """Every XLA attribute (name starting ``_Xla``) and XLA op in a SavedModel's graphs.

    Returns a list of human-readable findings, empty when the export is free of XLA.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(os.fspath(export_dir), "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as file:
        saved_model.ParseFromString(file.read())
    found = []
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        for node in graph.node:
            found += _node_findings(node)
        for function in graph.library.function:
            found += _function_findings(function)
    return found
