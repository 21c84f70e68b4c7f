#!/bin/bash
# Prepare a recipe's data on CPU nodes, then train on GPU nodes once it is ready, with one command:
#   scripts/slurm/prepare-and-train.sh my-recipe.yaml runs/my-run [--set KEY=VALUE ...]
# `auroram prepare` submits the data jobs (curation chains, a plan job, one job array per source, a finish
# job) with data.executor=slurm and prints the id of the last one; the training job (auroram.sbatch) is
# submitted to start only when that job succeeded (afterok). Both read and write RUN_DIR, which must be on a
# file system every node sees. Set the CPU partition with --set data.slurm.partition=NAME and the GPU job's
# nodes with SBATCH_ARGS, e.g. SBATCH_ARGS="--nodes 4 --partition gpu".
# A failed data job leaves the training job pending forever (DependencyNeverSatisfied): cancel it, fix the
# cause (the job logs are in RUN_DIR/jobs/) and run this script again; finished tasks are not redone.
set -euo pipefail

RECIPE=${1:?usage: scripts/slurm/prepare-and-train.sh RECIPE RUN_DIR [--set KEY=VALUE ...]}
RUN_DIR=${2:?usage: scripts/slurm/prepare-and-train.sh RECIPE RUN_DIR [--set KEY=VALUE ...]}
shift 2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

FINAL=$(auroram prepare "$RECIPE" --run-dir "$RUN_DIR" --set data.executor=slurm "$@" --job-id-only)
echo "data jobs submitted; the last is $FINAL (scripts and logs in $RUN_DIR/jobs)"
# the training job: auroram run finds every data step done and starts training at once
# shellcheck disable=SC2086
sbatch --dependency="afterok:$FINAL" ${SBATCH_ARGS:-} --export=ALL,RUN_DIR="$RUN_DIR" \
  "$HERE/auroram.sbatch" "$RECIPE" --set data.executor=slurm "$@"
