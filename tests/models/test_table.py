"""The models table command: rows equal the builders' counts; the markdown is written."""

from keras_adastride import models
from keras_adastride.flops import count_flops
from keras_adastride.models.__main__ import main
from keras_adastride.models.table import markdown, rows

SMALL = (("dilated_vgg", dict(input_shape=(16, 16, 3), num_classes=4), ("original", "strided")),)


def test_rows_are_the_builders_counts():
    table = list(rows(SMALL))
    assert [r["downsampling"] for r in table] == ["original", "strided"]
    for r in table:
        model = models.dilated_vgg((16, 16, 3), 4, downsampling=r["downsampling"])
        assert r["params"] == model.count_params()
        assert r["flops"] == count_flops(model)
        assert r["input"] == "16x16x3"
    assert table[0]["flops_ratio"] == 1.0
    assert table[1]["flops_ratio"] == table[1]["flops"] / table[0]["flops"]
    text = markdown(table)
    assert f"| dilated_vgg | 16x16x3 | strided | {table[1]['params']:,} |" in text
    assert "multiply-add counts as 2 FLOPs" in text


def test_command_writes_the_table(tmp_path, capsys):
    path = tmp_path / "MODELS.md"
    assert main(["--models", "dilated_vgg", "--write", str(path)]) == 0
    written = path.read_text()
    assert written == capsys.readouterr().out
    assert written.count("| dilated_vgg | 32x32x3 |") == 6
