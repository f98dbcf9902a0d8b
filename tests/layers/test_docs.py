"""The snippets of docs/LAYERS.md run, in order, in one namespace, and the shapes their comments
promise are the shapes they print."""

import contextlib
import io
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "LAYERS.md"
SHAPE_COMMENT = re.compile(r"^\s*print\((?P<expr>.+\.shape)\)\s*# (?P<shape>\([\d, ]+\))")


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
