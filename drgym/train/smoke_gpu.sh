#!/usr/bin/env bash
# The first thing to run on a GPU machine (see train/smoke_gpu.py): the reference PPO on CUDA, then a 2-step
# OpenRLHF PPO when the gpu extra is installed. Exit code 1 names the part that failed.
#   train/smoke_gpu.sh --out runs/smoke-gpu [--device cuda|cpu|auto] [--openrlhf auto|skip|require]
set -euo pipefail
exec "${PYTHON:-python}" -m drgym.train.smoke_gpu "$@"
