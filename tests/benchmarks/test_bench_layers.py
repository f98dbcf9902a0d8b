"""The benchmark runs end to end on a tiny grid and prints its tables (no timing is asserted)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "bench_layers.py")
TITLES = (
    "### CAS / Conv2D",
    "### PAS / MaxPooling2D",
    "### SpaceToDepthConv / Conv2D",
    "### Gate variants",
    "### Gate with XLA / without",
    "### Training step of the small VGG",
)


def test_benchmark_prints_every_table_and_writes_markdown(tmp_path):
    report = tmp_path / "report.md"
    report.write_text("# Notes kept\n")
    command = [sys.executable, SCRIPT, "--grid", "tiny", "--repeats", "2", "--warmup", "1",
               "--write", str(report), "--label", "test"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    for title in TITLES:
        assert title in run.stdout, title
    assert "- load average" in run.stdout and "- machine:" in run.stdout
    # every table row carries numbers in its ratio columns
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "**" in line]
    assert len(rows) >= 1 + 1 + 1 + 8 + 4 + 1
    text = report.read_text()
    assert text.startswith("# Notes kept\n")
    assert text.count("<!-- bench:test:start -->") == 1 and "### CAS / Conv2D" in text

    # a second write replaces the block instead of appending another
    rerun = subprocess.run(command + ["--sections", "spd"], capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    text = report.read_text()
    assert text.count("<!-- bench:test:start -->") == 1
    assert "### SpaceToDepthConv" in text and "### CAS / Conv2D" not in text
