#!/bin/bash
# Renders the README's pictures of the wizard from a real run: dpwizard in tmux (80x24) on a
# small fake machine under --root (drawpile-srv played by the stand-in, nginx serving the
# domain with TLS), captured with colours and drawn to docs/img/*.png by scripts/ansi2png.py.
# Needs tmux, openssl, python3-pil and fonts-dejavu-core (apt-get install them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin dpwizard --example drawpile-srv-standin
DPW="$PWD/target/debug/dpwizard"
R=$(mktemp -d /tmp/dpw-shot-XXXXXX)
S=$(mktemp -d /tmp/dpw-tmux-XXXXXX)
trap 'TMUX_TMPDIR=$S tmux kill-server 2>/dev/null || true; rm -rf "$R" "$S"' EXIT
chmod 755 "$R"
mkdir -p "$R"/etc/nginx/sites-available "$R"/etc/nginx/sites-enabled "$R"/usr/local/bin \
  "$R"/lib/systemd/system "$R"/etc/systemd/system/multi-user.target.wants \
  "$R"/etc/letsencrypt/live/paint.example.com
chmod 755 "$R"/usr "$R"/usr/local "$R"/usr/local/bin
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' > "$R"/etc/os-release
printf 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n' > "$R"/etc/passwd
cp target/debug/examples/drawpile-srv-standin "$R"/usr/local/bin/drawpile-srv
printf 'version=2.3.0\nwebsockets=yes\nwebadmin=yes\nlibsodium=yes\nsystemd=yes\ngui=no\n' \
  > "$R"/usr/local/bin/drawpile-srv.standin
printf '[Unit]\nDescription=Drawpile dedicated server\n[Service]\nType=notify\nExecStart=/usr/local/bin/drawpile-srv\nUser=nobody\n[Install]\nWantedBy=multi-user.target\n' \
  > "$R"/lib/systemd/system/drawpile-srv.service
ln -s /lib/systemd/system/drawpile-srv.service "$R"/etc/systemd/system/multi-user.target.wants/
L="$R"/etc/letsencrypt/live/paint.example.com
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=paint.example.com \
  -addext subjectAltName=DNS:paint.example.com -days 90 -keyout "$L"/privkey.pem \
  -out "$L"/fullchain.pem 2>/dev/null
printf 'events {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n' > "$R"/etc/nginx/nginx.conf
cat > "$R"/etc/nginx/sites-available/paint.example.com <<'SITE'
server {
    listen 443 ssl;
    server_name paint.example.com;
    ssl_certificate /etc/letsencrypt/live/paint.example.com/fullchain.pem;
    ssl_certificate_key /etc/letsencrypt/live/paint.example.com/privkey.pem;
    root /var/www/html;
}
SITE
ln -s /etc/nginx/sites-available/paint.example.com "$R"/etc/nginx/sites-enabled/

t() { TMUX_TMPDIR=$S tmux -f /dev/null "$@"; }
wait_for() {
  for _ in $(seq 100); do t capture-pane -p -t W | grep -qF "$1" && return 0; sleep 0.1; done
  echo "screenshot: '$1' did not appear" >&2; t capture-pane -p -t W >&2; exit 1
}
shot() { t capture-pane -e -p -t W > "$S/$1.txt"; /usr/bin/python3 scripts/ansi2png.py "$S/$1.txt" "docs/img/$1.png"; echo "docs/img/$1.png"; }

t new-session -d -s W -x 80 -y 24 "TERM=xterm-256color $DPW --root $R; sleep 60"
wait_for "Welcome"
t send-keys -t W Enter; wait_for "Which drawpile-srv"
t send-keys -t W Enter; wait_for "WebSocket port for drawpile-srv"
t send-keys -t W Enter; wait_for "Address the WebSocket listener"
t send-keys -t W Enter; wait_for "Domain people use"
t send-keys -t W Enter; wait_for "Certificate for TLS"
shot wizard-tls
t send-keys -t W Enter; wait_for "It terminates TLS"
t send-keys -t W Enter; wait_for "Which nginx site"
t send-keys -t W Enter; wait_for "Other web client origins"
t send-keys -t W Enter; wait_for "Review"
shot wizard-review
