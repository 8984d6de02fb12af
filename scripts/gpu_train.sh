#!/usr/bin/env bash
# Train the shipped emotion model on one lent GPU (Keras 3 on JAX), in one call of about 8 minutes.
#
#   scripts/gpu_train.sh PACK OUT
#
# PACK: the FER-2013 pack (../shared/datasets/fer2013_gpu_pack.npz: Training + PublicTest).
# OUT:  where the selected model files and the logs land (at most 8 files).
#
# Phase 1 trains, side by side on the one GPU: two wider teachers (48-384 channels, 2.6 M
# parameters) and a baseline of the shipped size (32-256, 1.2 M) from the labels alone.
# Phase 2 distils the teachers' averaged logits into two students of the shipped size
# (two mixes of teacher and label); PublicTest picks which one ships (python -m fer ensemble
# --compare back on the CPU). Every run uses fer.training.train with the same recipe, so the same
# commands on a CPU reproduce the files, only slower. Wheels for keras/namex/optree, if the
# host lacks Keras, are read from $WHEELS (default .gpu/whl).
set -u
PACK=${1:?pack path}
OUT=${2:?output folder}
EPOCHS=${EPOCHS:-90}
WHEELS=${WHEELS:-.gpu/whl}
RUNS=${RUNS:-/tmp/runs}

export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
if ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
mkdir -p "$RUNS" "$OUT"
common=(--data "$PACK" --epochs "$EPOCHS" --patience 1000 --aug-workers "${AUG_WORKERS:-4}" --epoch-lines ${EXTRA:-})

date +"phase 1 start %T"
timeout "${PHASE1_S:-270}" python3 -m fer.training.train "${common[@]}" --out "$RUNS/teacher1" --seed 11 --widths 48,96,192,384 > "$RUNS/teacher1.log" 2>&1 &
timeout "${PHASE1_S:-270}" python3 -m fer.training.train "${common[@]}" --out "$RUNS/teacher2" --seed 12 --widths 48,96,192,384 > "$RUNS/teacher2.log" 2>&1 &
timeout "${PHASE1_S:-270}" python3 -m fer.training.train "${common[@]}" --out "$RUNS/baseline" --seed 10 > "$RUNS/baseline.log" 2>&1 &
wait
date +"phase 1 end %T"
tail -n 3 "$RUNS"/teacher1.log "$RUNS"/teacher2.log "$RUNS"/baseline.log

teachers="$RUNS/teacher1/best.keras,$RUNS/teacher2/best.keras"
timeout "${PHASE2_S:-230}" python3 -m fer.training.train "${common[@]}" --out "$RUNS/student_a07" --seed 21 --teachers "$teachers" --distill-alpha 0.7 > "$RUNS/student_a07.log" 2>&1 &
timeout "${PHASE2_S:-230}" python3 -m fer.training.train "${common[@]}" --out "$RUNS/student_a09t2" --seed 22 --teachers "$teachers" --distill-alpha 0.9 --distill-temperature 2 > "$RUNS/student_a09t2.log" 2>&1 &
wait
date +"phase 2 end %T"
tail -n 3 "$RUNS"/student_a07.log "$RUNS"/student_a09t2.log

for run in teacher1 teacher2 baseline student_a07 student_a09t2; do
  [ -f "$RUNS/$run/best.keras" ] && cp "$RUNS/$run/best.keras" "$OUT/$run.keras"
done
tar -C "$RUNS" -czf "$OUT/logs.tar.gz" --exclude='*.keras' .
ls -la "$OUT"
