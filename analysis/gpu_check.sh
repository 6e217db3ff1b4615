#!/usr/bin/env bash
# Issue 17's GPU part as one prepared run on a lent GPU (one H200: about 9 minutes, each part
# time-boxed so the whole stays under the device tool's 10-minute command limit):
#   1. the CUDA variants of the tests (tests/test_torch.py -k cuda),
#   2. the step-time ratio of MAE 0.75 against 0.9 + p2dist flatten + decoder masking 0.3 on
#      mae_vit_large_patch16 at 224 px, batch 64, bf16 autocast (the paper: 27-30% faster),
#   3. table5 on Fashion-MNIST with mae_vit_tiny at 64 px, patch 8 (8x8 grid), 2 seeds.
# It has not been run yet: no GPU was lent to the sessions that wrote it, so the sizes are
# estimates. The device's python3 holds what it needs (torch with CUDA, numba, scipy, pandas,
# matplotlib, tqdm, scikit-learn, pytest: the device library's KINDS.md); maskstats runs from
# the copied tree (PYTHONPATH), nothing is installed. If table5 does not finish in its time
# box, no table is written, but table5_runs.tgz holds every finished row: unpack it here into
# runs/table5_gpu and rerun the same table5 command to finish or rebuild the table.
#
# Before, on this machine (the device machine has no network and no dataset package):
#   mkdir -p .data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*.gz .data/fashion-mnist/
#   grep -qx '/.data/' .git/info/exclude || echo /.data/ >> .git/info/exclude
# Then the device tool: command "bash analysis/gpu_check.sh", carry [".data"], timeout_s 600.
# Outputs land in $OUT (the device tool's folder; runs/gpu elsewhere), 8 files; commit them
# to figures/table5_fashion_mnist_gpu/. SMOKE=1 runs every part tiny, on any machine.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu}
DATA=${DATA:-fashion-mnist:.data/fashion-mnist}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if [ "${SMOKE:-0}" = 1 ]; then
    steps=(--steps 2 --batch-size 4 --img-size 32 --model mae_vit_micro --device cpu)
    table=(--model mae_vit_micro --max-steps 2 --batch-size 8 --seeds 0 --eval-max-images 200)
    RUNS=runs/table5_gpu_smoke
else
    steps=(--steps 20 --batch-size 64 --img-size 224 --model mae_vit_large_patch16 --device cuda)
    table=(--model mae_vit_tiny --img-size 64 --patch-size 8 --max-steps 400 --batch-size 256
        --blr 1.5e-3 --seeds 0,1 --num-workers 8 --eval-max-images 5000)
    RUNS=runs/table5_gpu
fi
{
    date -u
    nvidia-smi || true
    $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$OUT/env.txt" 2>&1
timeout 90 $PY -m pytest -p no:cacheprovider -q tests/test_torch.py -k cuda >"$OUT/cuda_tests.txt" 2>&1
echo "cuda tests: exit $?" | tee -a "$OUT/env.txt"
timeout 150 $PY analysis/step_time.py "${steps[@]}" --out "$OUT/step_time_vit_large.csv" \
    >>"$OUT/env.txt" 2>&1
echo "step time: exit $?" | tee -a "$OUT/env.txt"
# table5 resumes: a run cut by the timeout keeps its finished rows; the tables are written
# when every row is done.
timeout 330 $PY -m maskstats.cli.main table5 --data "$DATA" --eval-data "$DATA" "${table[@]}" \
    --eval-test-share 0.3 --out "$RUNS" >"$OUT/table5_log.txt" 2>&1
echo "table5: exit $?" | tee -a "$OUT/env.txt"
for name in table5.md separation.md table5.png; do
    [ -f "$RUNS/$name" ] && cp "$RUNS/$name" "$OUT/"
done
# Everything but the checkpoints (the results, logs and settings of every finished row): at
# most 8 files come back, this is one of them.
tar czf "$OUT/table5_runs.tgz" --exclude='*.pt' "$RUNS"
ls -l "$OUT"
