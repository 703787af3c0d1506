#!/bin/bash
# Builds the .deb from the portable release binary (scripts/release.sh), so the package
# installs on Debian 10+ and Ubuntu 20.04+ as well as on Debian 12, then runs lintian on it.
#   bash scripts/deb.sh     # → target/debian/dpwizard_VERSION-1_amd64.deb
#   DEB_TARGET=aarch64-unknown-linux-gnu bash scripts/deb.sh    # → …_arm64.deb
# cargo-deb is compiled once from crates.io (a few minutes) and kept in ~/.cargo/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.6.3
triple=${DEB_TARGET:-x86_64-unknown-linux-gnu}
tdir=${CARGO_TARGET_DIR:-target}

if [[ "$(cargo deb --version 2>/dev/null)" != *" $CARGO_DEB_VERSION"* ]]; then
  echo "deb: installing cargo-deb $CARGO_DEB_VERSION from crates.io"
  start=$SECONDS
  cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
  echo "deb: cargo-deb installed in $((SECONDS - start)) s"
fi
if [ ! -x "$tdir/$triple/release/dpwizard" ]; then
  echo "deb: no release binary for $triple yet: building it"
  RELEASE_TARGETS=${triple%%-*} bash scripts/release.sh
fi
case "$triple" in
  x86_64-*) arch=amd64 ;;
  aarch64-*) arch=arm64 ;;
  *) echo "deb: no Debian architecture known for $triple" >&2; exit 2 ;;
esac
rm -f "$tdir"/debian/dpwizard_*_"$arch".deb
# --no-build: pack the zigbuild binary as it is (already stripped by the release profile).
cargo deb --no-build --no-strip --target "$triple" --output "$tdir/debian/"
deb=$(ls "$tdir"/debian/dpwizard_*_"$arch".deb)
echo "deb: $deb ($(stat -c %s "$deb") bytes)"
if command -v lintian >/dev/null; then
  # The overrides shipped in the package (debian/lintian-overrides) argue each remaining tag.
  lintian --fail-on error,warning "$deb" || { echo "deb: lintian found problems" >&2; exit 1; }
  echo "deb: lintian clean"
else
  echo "deb: lintian is not installed (apt-get install lintian): not checked"
fi
