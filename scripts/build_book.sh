#!/usr/bin/env bash
# Build the course book (book/_build/html) from scratch on a fresh machine, warnings as errors.
# The lecture notebooks are executed during the build (cached in book/_build/.jupyter_cache).
set -eo pipefail
COURSE_EXTRAS=book
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
.venv/bin/jupyter-book build book -W --keep-going "$@"
echo "[book] built: $ROOT/book/_build/html/index.html"
