#!/usr/bin/env bash
# The GPU checks of the engine, in one run of under 8 minutes on one GPU (never part of CI):
#   1. the CUDA-marked tests (resume CPU -> CUDA -> CPU, a bf16 training step, sampling on the GPU);
#   2. the throughput probe for film_unet and film_unet_base64: fp32, bf16, + channels_last, + torch.compile;
#   3. a one-process NCCL torchrun smoke run of `train` (20 steps) and its resume (to 30).
# Usage: TINYDIFF_DATA=/path/with/MNIST bash scripts/gpu_check.sh [OUT_DIR]   (prints markdown; OUT_DIR keeps logs)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-_build/gpu_check}
mkdir -p "$OUT"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible'; print('##', torch.cuda.get_device_name(0), '| torch', torch.__version__)"

echo "### 1. CUDA tests"
"$PY" -m pytest tests/test_engine.py -q -k cuda -p no:cacheprovider 2>&1 | tail -3 | tee "$OUT/cuda_tests.txt"

echo "### 2. Throughput (images/s)"
timeout 300 "$PY" scripts/benchmark_models.py --device cuda --models film_unet,film_unet_base64 \
  --train-batch 256 --sample-batch 1024 --warmup 3 --steps 30 --max-seconds 10 \
  --variants fp32,bf16,bf16+channels_last,bf16+channels_last+compile | tee "$OUT/benchmark.md"

echo "### 3. torchrun, one process, NCCL"
rm -f "$OUT/ddp_smoke.pt"
ARGS=(--model film_unet --batch-size 256 --checkpoint-every 10 --device cuda --quiet --out "$OUT/ddp_smoke.pt")
"$PY" -m torch.distributed.run --standalone --nproc_per_node 1 -m tinydiff_lib train "${ARGS[@]}" --steps 20 | tee "$OUT/ddp.json"
"$PY" -m torch.distributed.run --standalone --nproc_per_node 1 -m tinydiff_lib train "${ARGS[@]}" --steps 30 --resume | tee -a "$OUT/ddp.json"
