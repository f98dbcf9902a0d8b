"""The benchmark runs end to end on a tiny grid and prints its tables (no timing is asserted)."""

import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "bench_layers.py")
TITLES = (
    "### CAS / Conv2D",
    "### PAS / MaxPooling2D",
    "### Pool modes / MaxPooling2D",
    "### SpaceToDepthConv / Conv2D",
    "### Gate variants",
    "### Gate with XLA / without",
    "### CAS at inference",
    "### Sparse execution at inference",
    "### Training step of the small VGG",
)


def load_script():
    spec = importlib.util.spec_from_file_location("bench_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_prints_every_table_and_writes_markdown(tmp_path):
    report = tmp_path / "report.md"
    report.write_text("# Notes kept\n")
    command = [sys.executable, SCRIPT, "--grid", "tiny", "--repeats", "1", "--warmup", "1",
               "--write", str(report), "--label", "test"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    for title in TITLES:
        assert title in run.stdout, title
    assert "- load average" in run.stdout and "- machine:" in run.stdout
    # one bolded ratio per measured row: CAS, PAS, SPD (1 config each), pool modes (every case
    # but the MaxPooling2D baseline), 8 gates, 4 XLA, CAS at inference (1 config), sparse
    # (configs x blocks x kept fractions), VGG
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "**" in line]
    bench = load_script()
    pools = len(bench.pool_mode_cases(2)) - 1
    sparse = bench.SPARSE_GRIDS["tiny"]
    sparse_rows = sum(len(blocks) for _, blocks in sparse["configs"]) * len(sparse["kept"])
    assert len(rows) == 1 + 1 + 1 + pools + len(bench.GATE_VARIANTS) + 4 + 1 + sparse_rows + 1
    text = report.read_text()
    assert text.startswith("# Notes kept\n")
    assert text.count("<!-- bench:test:start -->") == 1 and "### CAS / Conv2D" in text


def test_write_replaces_only_its_own_block(tmp_path):
    bench = load_script()
    path = tmp_path / "README.md"
    path.write_text("intro\n")
    bench.write_between_markers(str(path), "cpu", "first\n")
    bench.write_between_markers(str(path), "gpu", "other\n")
    bench.write_between_markers(str(path), "cpu", "second\n")
    text = path.read_text()
    assert text.startswith("intro\n")
    assert "second" in text and "first" not in text and "other" in text
    assert text.count("<!-- bench:cpu:start -->") == 1
    assert text.index("second") < text.index("other")
