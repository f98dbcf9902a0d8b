#!/usr/bin/env bash
# Sets up a bare Debian machine: the real Fashion-MNIST files from Debian, then the package with
# every extra (tests, plots, data, TFMOT, serving client, the JAX and torch CPU backends) in
# editable mode. torch is pinned to its CPU wheel (2.13.0+cpu): unpinned, pip pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dataset-fashion-mnist
fi
python -m pip install -q --disable-pip-version-check -e ".[dev]"
