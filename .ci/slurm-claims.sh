#!/usr/bin/env bash
# The claims on a SLURM cluster: one array task per shard, then one job that joins them.
#
#   sbatch --array=1-8 .ci/slurm-claims.sh            # 8 shards, full profile, base seed 0
#   PROFILE=default SEED=3 sbatch --array=1-4 .ci/slurm-claims.sh
#   # when the array has finished (or chain it: sbatch --dependency=afterany:<array job id> ...):
#   .venv/bin/python -m harness join reports/shards/*/claims.json -o reports/claims.json
#
# Each task runs shard $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT (pytest-split, balanced by the
# durations in .test_durations) on one node and writes reports/shards/<task>/claims.json, which records
# the node's CPU, GPU and threads. The join refuses shards of different profiles, seeds or commits.
# Set up once on a login node: python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'
#SBATCH --job-name=dlclaims
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=01:00:00
#SBATCH --output=reports/shards/slurm-%A_%a.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
: "${SLURM_ARRAY_TASK_ID:?submit as an array job: sbatch --array=1-N .ci/slurm-claims.sh}"
PROFILE="${PROFILE:-full}"
SEED="${SEED:-0}"
SPLITS="${SLURM_ARRAY_TASK_COUNT:-1}"
DEVICE="cpu"
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then DEVICE="cuda"; fi
mkdir -p reports/shards
exec .venv/bin/pytest claims/ --claims-profile "$PROFILE" --claims-seed "$SEED" --claims-device "$DEVICE" \
  --splits "$SPLITS" --group "$SLURM_ARRAY_TASK_ID" --claims-report-dir "reports/shards/$SLURM_ARRAY_TASK_ID" -p no:cacheprovider
