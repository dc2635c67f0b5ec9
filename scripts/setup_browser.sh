#!/usr/bin/env bash
# Install what the Gradio page test needs: Debian's chromium (apt) and Playwright (pip, into .venv).
# Never fails the build: where chromium cannot be installed the browser test skips and says why.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  if command -v apt-get >/dev/null 2>&1; then
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } \
      || echo "setup_browser: could not install chromium with apt; the browser test will be skipped" >&2
  else
    echo "setup_browser: no apt-get here; install chromium at $CHROMIUM or the browser test will be skipped" >&2
  fi
fi
"$VENV/bin/python" -c "import playwright" 2>/dev/null || "$VENV/bin/python" -m pip install -q "playwright>=1.45" \
  || echo "setup_browser: could not install playwright; the browser test will be skipped" >&2
exit 0
