#!/bin/bash
# Installs, from Debian packages, every program the test suite runs for real.
# Idempotent; safe to re-run. Needs root (apt-get).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  nginx apache2 caddy certbot python3-certbot-nginx pebble openssl tmux curl
  docker.io docker-compose busybox-static systemd-container iproute2 util-linux
  ca-certificates
  # A firewall to plan rules for, inside throwaway machines only (never enabled on the host).
  ufw nftables python3-venv
  prometheus lintian bash-completion ansible-core
  # Headless, for the self-hosted browser client's tests (crossOriginIsolated).
  chromium
  # The real drawpile-srv builds in ../shared/drawpile-srv/ (its README): their runtime.
  libqt5core5a libqt5network5 libqt5websockets5 libqt5sql5 libqt5sql5-sqlite libsodium23
  libmicrohttpd12 libsystemd0
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "test-deps: installing ${missing[*]}"
  apt-get update -qq
  # --no-install-recommends: systemd-container would pull libnss-mymachines (edits nsswitch).
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's packages may start services on install; tests run servers only in their own
# namespaces, so make sure nothing is left running on the host.
for svc in nginx apache2 caddy docker containerd prometheus; do
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl stop "$svc" >/dev/null 2>&1 || true
  fi
done
pkill -x nginx 2>/dev/null || true
pkill -x apache2 2>/dev/null || true
pkill -x caddy 2>/dev/null || true
echo "test-deps: ok"
