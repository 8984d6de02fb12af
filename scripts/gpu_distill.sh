#!/usr/bin/env bash
# Second GPU call: distil the two GPU teachers (each also shown the mirrored face) into three
# students of the shipped size, side by side, with different seeds; PublicTest picks back home.
#
#   scripts/gpu_distill.sh PACK TEACHER_DIR OUT
#
# TEACHER_DIR holds teacher1.npz and teacher2.npz (scripts/weights_fp16.py pack): the 64 MiB
# that may travel to the GPU hold the 49 MB data pack and half-size teachers, not full ones.
set -u
PACK=${1:?pack}; TEACHERS=${2:?teacher folder}; OUT=${3:?output folder}
EPOCHS=${EPOCHS:-70}; WHEELS=${WHEELS:-.gpu/whl}; RUNS=${RUNS:-/tmp/runs}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
if ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
mkdir -p "$RUNS" "$OUT"
for t in teacher1 teacher2; do python3 scripts/weights_fp16.py unpack "$TEACHERS/$t.npz" "$RUNS/$t.keras" || exit 1; done
common=(--data "$PACK" --epochs "$EPOCHS" --patience 1000 --aug-workers "${AUG_WORKERS:-4}" --epoch-lines
        --teachers "$RUNS/teacher1.keras,$RUNS/teacher2.keras" --teacher-mirror --distill-alpha 0.9 --distill-temperature 2 ${EXTRA:-})
date +"distil start %T"
for seed in 31 32 33; do
  timeout "${PHASE_S:-230}" python3 -m fer.training.train "${common[@]}" --out "$RUNS/kd_s$seed" --seed $seed > "$RUNS/kd_s$seed.log" 2>&1 &
done
wait
date +"distil end %T"
for seed in 31 32 33; do
  tail -n 2 "$RUNS/kd_s$seed.log"
  [ -f "$RUNS/kd_s$seed/best.keras" ] && cp "$RUNS/kd_s$seed/best.keras" "$OUT/kd_s$seed.keras"
done
tar -C "$RUNS" -czf "$OUT/logs.tar.gz" --exclude='*.keras' .
ls -la "$OUT"
