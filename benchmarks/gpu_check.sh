#!/usr/bin/env bash
# The prepared GPU check (at most 8 minutes on one H100/H200): the CUDA tests, then the steps/s of the
# `paper` presets (1D and 2D, batch 256) in fp32 and bf16, with and without torch.compile, their peak GPU
# memory and the projected time of the full 500,000-step runs. Run it from the repository root, with the
# package installed (pip install -e ".[dev]"); the table goes to ${OUT:-.}/gpu_presets.md.
set -euo pipefail
out="${OUT:-.}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
timeout 180 python -m pytest -q -m cuda tests/training/test_cuda.py 2>&1 | tee "$out/gpu_tests.txt"
timeout 300 python benchmarks/bench_gpu_presets.py --steps 60 --warm-up 20 --out "$out/gpu_presets.md"
