#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: unit tests, every lecture notebook and solution
# notebook executed (nbval), the grading round-trip, the strict book build and its browser check.
set -eo pipefail
COURSE_EXTRAS=dev
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
# Debian's Chromium + ChromeDriver for the book's browser check (tests/test_book.py).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing chromium and chromium-driver (Debian)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "[setup] chromium/chromedriver missing and cannot apt-get them: the browser check will be skipped" >&2
  fi
fi
.venv/bin/python -m pytest tests notebooks solutions --nbval-lax -p no:cacheprovider "$@"
