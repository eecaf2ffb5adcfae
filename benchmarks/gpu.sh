#!/usr/bin/env bash
# The GPU path's figures (benchmarks/README.md): images/s per corruption at 224 px, PGD-20 on a random-weight
# ResNet-50, and a corruption grid's wall time vs pure forward. Without a GPU it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! "$PYTHON" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "no CUDA device (nvidia-smi or torch.cuda missing): nothing measured"
    exit 0
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
exec "$PYTHON" benchmarks/gpu_throughput.py --device cuda "$@"
