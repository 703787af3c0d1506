#!/bin/bash
# Builds the portable release binaries with cargo-zigbuild: linked against glibc 2.28, so they
# run on Debian 10+, Ubuntu 20.04+, RHEL 8+ (a binary built on Debian 12 itself needs 2.34).
#   bash scripts/release.sh                   # x86_64 and aarch64
#   RELEASE_TARGETS=x86_64 bash scripts/release.sh
# Output: target/dist/dpwizard-VERSION-ARCH-linux-gnu (and .sha256); cargo's own copy stays in
# target/ARCH-unknown-linux-gnu/release/ (cargo deb --no-build packs that one). CARGO_TARGET_DIR
# is honoured.
# An architecture whose Rust target is not installed and cannot be added is skipped with a
# message; x86_64 missing is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
GLIBC=2.28
# The versions this script was verified with (scripts pin what they download).
ZIGBUILD_VERSION=0.24.1
ZIGLANG_VERSION=0.17.1
read -r -a arches <<<"${RELEASE_TARGETS:-x86_64 aarch64}"

tdir=${CARGO_TARGET_DIR:-target}
# cargo-zigbuild and zig come from PyPI into a virtual environment of their own (Debian's
# python3 refuses system-wide pip installs; python3-venv is in scripts/test-deps.sh).
venv="$(realpath -m "$tdir")/zigbuild-venv"
if ! command -v cargo-zigbuild >/dev/null || ! python3 -c 'import ziglang' 2>/dev/null; then
  if [ ! -x "$venv/bin/cargo-zigbuild" ]; then
    echo "release: installing cargo-zigbuild $ZIGBUILD_VERSION and ziglang $ZIGLANG_VERSION (PyPI) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
      "cargo-zigbuild==$ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION"
  fi
  export PATH="$venv/bin:$PATH"
fi
command -v cargo-zigbuild >/dev/null || {
  echo "release: cargo-zigbuild is not on PATH after installing it into $venv" >&2
  exit 3
}

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
mkdir -p "$tdir/dist"
built=() missing=()
for arch in "${arches[@]}"; do
  triple="$arch-unknown-linux-gnu"
  if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    echo "release: Rust target $triple is not installed; trying rustup target add $triple"
    if ! rustup target add "$triple"; then
      echo "release: MISSING target $triple (rustup could not add it): no $arch binary" >&2
      missing+=("$arch")
      continue
    fi
  fi
  start=$SECONDS
  cargo zigbuild --release --locked --target "$triple.$GLIBC"
  out="$tdir/dist/dpwizard-$version-$arch-linux-gnu"
  cp "$tdir/$triple/release/dpwizard" "$out"
  (cd "$tdir/dist" && sha256sum "$(basename "$out")" >"$(basename "$out").sha256")
  echo "release: $out ($(stat -c %s "$out") bytes, built in $((SECONDS - start)) s)"
  built+=("$arch")
done

echo "release: built ${built[*]:-nothing}${missing:+; missing ${missing[*]}}"
if [[ " ${missing[*]} " == *" x86_64 "* ]]; then exit 1; fi
((${#built[@]}))
