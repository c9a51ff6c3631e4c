#!/usr/bin/env bash
# Installs Chromium from Debian's packages for the dashboard's browser test
# (tests/web_browser.rs drives /usr/bin/chromium headless over the DevTools protocol).
# Idempotent: does nothing when Chromium is already there. Run as root (CI is).
#
#   bash .ci/chromium.sh
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  echo "chromium.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed" >&2
  exit 0
fi
echo "chromium.sh: installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium fonts-dejavu-core >&2
/usr/bin/chromium --version >&2
