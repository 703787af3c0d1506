#!/bin/bash
# Runs the detect benchmark (release build) and prints medians and ratios.
# Root is needed for the nginx -T reference (private namespaces); nginx must be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench detect
