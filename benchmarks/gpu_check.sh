#!/usr/bin/env bash
# The GPU check of issue 15, one prepared script for a fresh CUDA machine (Linux x86-64, Python 3.11)
# holding only this repository and the data folder ../shared/data beside it. In at most about
# 8 minutes (every step bounded with `timeout`, the whole run by GPU_CHECK_SECONDS):
#
#   1. creates a virtual environment (python3.11 -m venv) outside the repository, installs
#      torch 2.13.0 from the PyPI registry (its default Linux x86-64 wheel "2.13.0" is the CUDA
#      build; pinned with `===` so that no "2.13.0+cpu" wheel can stand in; the script checks that
#      the installed torch sees the GPU) and the course (`pip install -e ".[dev]"`);
#   2. runs tests/test_training.py on the GPU: it has no CUDA-only markers; its trainers pick CUDA
#      by themselves when one is present (Trainer(device=None)), so every training test there
#      (mixed-precision-capable loop, checkpoint/resume, early stopping, classification) runs on the GPU,
#      and test_device_selection_and_config_errors takes its CUDA branch; the DDP test uses CPU processes;
#   3. times one CGCNN training epoch on 20,000 JARVIS-DFT crystals, course_lib against cgcnn2
#      (benchmarks/cgcnn_speed.py --part epochs --device cuda, float32 and then with --amp);
#   4. times one CrysAtom pretraining epoch on the same 20,000 crystals
#      (benchmarks/crysatom_jarvis.py pretrain --epochs 1 --device cuda);
#
# and writes the results as Markdown into the folder given as the first argument:
# gpu_check.md (the summary: machine, every step with its status, time and command), and the
# reports cgcnn_speed_gpu.md, cgcnn_speed_gpu_amp.md, crysatom_pretrain_gpu.md, plus the
# test log test_training.log and crysatom_pretrain.json (the loss and time of every batch).
# CI never runs this script.
#
# Usage (from anywhere):
#   benchmarks/gpu_check.sh OUTPUT_FOLDER
# Environment:
#   GPU_CHECK_DRY_RUN=1   check the script itself on a CPU-only machine: no install (uses the
#                         repository's .venv), --device cpu, 300 crystals, no --amp run;
#   GPU_CHECK_SECONDS     the whole run's budget in seconds (default 470);
#   GPU_CHECK_N           crystals for steps 3 and 4 (default 20000; 300 in a dry run);
#   GPU_CHECK_VENV        where the virtual environment goes (default $TMPDIR/course_gpu_venv);
#   GPU_CHECK_WORK        scratch folder: the data cache and the CrysAtom run (default $TMPDIR/course_gpu_check);
#   COURSE_CACHE_DIR      the course's cache (default $GPU_CHECK_WORK/cache);
#   PYTHON                the interpreter that creates it (default python3.11);
#   COURSE_DATA_DIR       the data folder (default ../shared/data beside the repository).
set -uo pipefail

OUT_ARG="${1:?usage: benchmarks/gpu_check.sh OUTPUT_FOLDER}"
mkdir -p "$OUT_ARG"
OUT="$(cd "$OUT_ARG" && pwd)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DRY="${GPU_CHECK_DRY_RUN:-0}"
BUDGET="${GPU_CHECK_SECONDS:-470}"
START="$(date +%s)"
if [ "$DRY" = 1 ]; then
  N="${GPU_CHECK_N:-300}"; DEVICE=cpu; JOBS=2; THREADS=1
  PY="$ROOT/.venv/bin/python"
else
  N="${GPU_CHECK_N:-20000}"; DEVICE=cuda; JOBS="$(nproc)"; THREADS=4
  VENV="${GPU_CHECK_VENV:-${TMPDIR:-/tmp}/course_gpu_venv}"
  PY="$VENV/bin/python"
fi
if [ -z "${COURSE_DATA_DIR:-}" ]; then
  if [ ! -d "$ROOT/../shared/data" ]; then
    echo "gpu_check: no data folder: set COURSE_DATA_DIR or put the data at ../shared/data beside the repository" >&2
    exit 2
  fi
  COURSE_DATA_DIR="$(cd "$ROOT/../shared/data" && pwd)"
fi
export COURSE_DATA_DIR
# the extracted JARVIS folder (55,724 files) and the parsed structures, shared by steps 3 and 4
# (and by a second run); outside the output folder, which holds only results
WORK="${GPU_CHECK_WORK:-${TMPDIR:-/tmp}/course_gpu_check}"
export COURSE_CACHE_DIR="${COURSE_CACHE_DIR:-$WORK/cache}"
mkdir -p "$WORK"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

SUMMARY="$OUT/gpu_check.md"
FAILED=0
{
  echo "# GPU check (benchmarks/gpu_check.sh)"
  echo
  echo "Command: \`benchmarks/gpu_check.sh $OUT_ARG\`$([ "$DRY" = 1 ] && echo ' with GPU_CHECK_DRY_RUN=1 (CPU, no install: a check of the script, not a GPU result)')  "
  echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); repository commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(nproc) CPUs; budget ${BUDGET} s."
  echo
  echo "| step | status | seconds | command |"
  echo "|---|---|---|---|"
} > "$SUMMARY"

# step NAME CAP RESERVE COMMAND...: run COMMAND under `timeout`, for at most CAP seconds and never
# into the last RESERVE seconds of the budget (kept for the steps after it); one row of the summary.
step() {
  local name="$1" cap="$2" reserve="$3"; shift 3
  local now left limit t0 rc status
  now="$(date +%s)"
  left=$((BUDGET - (now - START) - reserve))
  limit=$((cap < left ? cap : left))
  if [ "$limit" -lt 15 ]; then
    echo "| $name | skipped: no time left in the budget | 0 | \`$*\` |" >> "$SUMMARY"
    FAILED=1
    return 1
  fi
  echo "== $name (at most ${limit} s): $*"
  t0="$(date +%s)"
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  case "$rc" in
    0) status="ok" ;;
    124|137) status="**timed out** after ${limit} s"; FAILED=1 ;;
    *) status="**failed** (exit status $rc)"; FAILED=1 ;;
  esac
  echo "| $name | $status | $(( $(date +%s) - t0 )) | \`$*\` |" >> "$SUMMARY"
  return "$rc"
}

# ---- 1. environment
if [ "$DRY" != 1 ]; then
  PYTHON="${PYTHON:-python3.11}"
  if [ ! -x "$PY" ]; then
    step "create the venv" 60 400 "$PYTHON" -m venv "$VENV" || exit 1
  fi
  # torch first, so that the course's install finds its pin (torch==2.13.0) satisfied and pulls no
  # other build. `===` (PEP 440 arbitrary equality) matches the version string "2.13.0" only: PyPI's
  # default Linux wheel, the CUDA build. A plain `==2.13.0` also matches a local "2.13.0+cpu" wheel
  # (a find-links folder of a CPU machine), which pip would prefer as the higher version.
  step "install torch 2.13.0 (PyPI's CUDA wheel)" 200 300 "$PY" -m pip install --no-cache-dir -q "torch===2.13.0" || exit 1
  step "install the course (.[dev])" 150 240 "$PY" -m pip install -q -e ".[dev]" || exit 1
fi
step "torch sees the device" 60 230 "$PY" - "$DEVICE" <<'EOF' || exit 1
import sys, torch
device = sys.argv[1]
print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, cuda available {torch.cuda.is_available()}")
if device == "cuda":
    if torch.version.cuda is None:
        sys.exit(f"torch {torch.__version__} is a CPU build: pip took it from somewhere other than PyPI's "
                 "default wheel; install torch==2.13.0 from https://pypi.org/simple")
    if not torch.cuda.is_available():
        sys.exit("torch is a CUDA build but sees no GPU: check the driver (nvidia-smi)")
    print(torch.cuda.get_device_name(0))
EOF
{
  echo
  "$PY" - "$DEVICE" <<'EOF'
import platform, sys, torch
where = f"GPU {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}" if sys.argv[1] == "cuda" else "CPU only (dry run)"
print(f"Environment: Python {platform.python_version()}, torch {torch.__version__}; {where}.")
EOF
  echo
} > "$OUT/environment.part"

# ---- 2. the trainer's tests, on the GPU (the trainers choose CUDA when present)
step "tests/test_training.py" 90 200 "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_training.py \
  > "$OUT/test_training.log" 2>&1
tail -n 3 "$OUT/test_training.log"

# ---- 3. one CGCNN epoch, course_lib against cgcnn2 (float32, then mixed precision)
step "CGCNN epoch, $N crystals, course_lib vs cgcnn2" 150 80 "$PY" benchmarks/cgcnn_speed.py --n "$N" \
  --part epochs --epochs 2 --threads "$THREADS" --jobs "$JOBS" --device "$DEVICE" \
  --markdown "$OUT/cgcnn_speed_gpu.md"
if [ "$DRY" != 1 ]; then
  step "CGCNN epoch with --amp" 90 80 "$PY" benchmarks/cgcnn_speed.py --n "$N" --part epochs --epochs 2 \
    --threads "$THREADS" --jobs "$JOBS" --device cuda --amp --markdown "$OUT/cgcnn_speed_gpu_amp.md"
fi

# ---- 4. one CrysAtom pretraining epoch (a fresh run: no checkpoint of an earlier one to resume)
rm -rf "$WORK/crysatom_run"
step "CrysAtom pretraining epoch, $N crystals" 200 0 "$PY" benchmarks/crysatom_jarvis.py pretrain --epochs 1 \
  --n "$N" --jobs "$JOBS" --threads "$THREADS" --device "$DEVICE" --out "$WORK/crysatom_run" \
  --markdown "$OUT/crysatom_pretrain_gpu.md"

# ---- summary: the steps' table, the environment, the ratios
{
  cat "$OUT/environment.part"
  for f in cgcnn_speed_gpu.md cgcnn_speed_gpu_amp.md crysatom_pretrain_gpu.md; do
    [ -f "$OUT/$f" ] || continue
    echo "## From $f"
    echo
    grep -m1 '^Command:' "$OUT/$f"
    echo
    sed -n '/^| torch threads |/,/^$/p; /^| epoch |/,/^$/p' "$OUT/$f"
  done
  echo "Total: $(( $(date +%s) - START )) s."
} >> "$SUMMARY"
rm -f "$OUT/environment.part"
[ -f "$WORK/crysatom_run/pretrain.json" ] && cp "$WORK/crysatom_run/pretrain.json" "$OUT/crysatom_pretrain.json"
rm -rf "$WORK/crysatom_run"  # its checkpoint would make a second run resume instead of timing an epoch
cat "$SUMMARY"
exit "$FAILED"
