#!/bin/bash
# Installs dpwizard from this checkout and runs it. As root on a fresh Debian 12:
#   ./scripts/install.sh            # installs, then runs `dpwizard detect`
#   ./scripts/install.sh audit      # any dpwizard arguments instead of `detect`
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "install: cargo (Rust 1.88 or newer) is needed: https://rustup.rs (Debian 12's own rustc is too old for edition 2024)" >&2
  exit 2
fi
cargo install --locked --path . --root /usr/local
if (($#)); then exec /usr/local/bin/dpwizard "$@"; else exec /usr/local/bin/dpwizard detect; fi
