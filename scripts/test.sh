#!/bin/bash
# The whole suite, as CI runs it: installs the test dependencies (Debian packages), checks
# formatting and lints, builds, and runs every test. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# Builds the binary, the examples (the drawpile-srv stand-in) and the tests first, so the
# test run itself measures only tests.
cargo build --locked --all-targets
# The portable release binary (x86_64, glibc 2.28) and the .deb made from it, which
# tests/it/release.rs and tests/it/deb.rs check (aarch64: bash scripts/release.sh).
RELEASE_TARGETS=x86_64 bash scripts/release.sh
bash scripts/deb.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked -- --test-threads "${TEST_THREADS:-4}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (several test binaries each print their own).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
