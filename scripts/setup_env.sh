# Sourced by build_book.sh and run_tests.sh: create .venv (Python 3.11) if needed and install the
# course into it with the extras named in $COURSE_EXTRAS. Idempotent: a second run only checks.
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${COURSE_EXTRAS// /_}"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing course_lib[${COURSE_EXTRAS}] into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch is pinned (==2.13.0) in pyproject.toml; installing it first keeps pip from
  # resolving a different (CUDA, multi-GB) build through another package.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[${COURSE_EXTRAS}]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# MathJax is served from the built book (no CDN): fetched once from the npm registry.
MATHJAX_VERSION=3.2.2
if [ ! -f "book/_static/mathjax/tex-mml-chtml.js" ] || [ "$(cat book/_static/mathjax/.version 2>/dev/null)" != "$MATHJAX_VERSION" ]; then
  echo "[setup] fetching mathjax@$MATHJAX_VERSION from the npm registry"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" >/dev/null && tar xzf mathjax-*.tgz)
  rm -rf book/_static/mathjax
  mkdir -p book/_static
  cp -r "$tmp/package/es5" book/_static/mathjax
  echo "$MATHJAX_VERSION" > book/_static/mathjax/.version
  rm -rf "$tmp"
fi
# Data directory for the larger data sets: ../shared/data beside the repository when present.
if [ -z "${COURSE_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export COURSE_DATA_DIR="$(cd "$ROOT/../shared/data" && pwd)"
fi
export MPLBACKEND=Agg
