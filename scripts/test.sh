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
cargo test --locked --all-targets -- --test-threads "${TEST_THREADS:-4}"
