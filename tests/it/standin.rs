//! The stand-in must be faithful: its output is compared with the real program's recorded
//! output (shared docs, drawpile-outputs.md), typed here from the document, and its behaviour
//! (drawpile-real.md) with the real builds' where ../shared/drawpile-srv has them: the same
//! assertions run against both.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::drawpile::{Build, Server, standin_binary};
use crate::support::*;

/// `--help` of 2.3.0 as recorded, with argv[0] /usr/local/bin/drawpile-srv.
const HELP_230: &str = "Usage: /usr/local/bin/drawpile-srv [options]
Standalone server for Drawpile

Options:
  -h, --help                               Displays help on commandline
                                           options.
  --help-all                               Displays help including Qt specific
                                           options.
  -v, --version                            Displays version information.
  --port, -p <port>                        Listening port
  --listen, -l <address>                   Listening address
  --websocket-port <port>                  WebSocket listening port (0 to
                                           disable)
  --websocket-listen <address>             WebSocket listening address
  --local-host <hostname>                  This server's hostname for session
                                           announcement
  --announce-port <port>                   Port number to announce (set if
                                           forwarding from different port)
  --ssl-cert <certificate>                 SSL certificate file
  --ssl-key <key>                          SSL key file
  --ssl-key-algorithm <algorithm>          SSL key algorithm: guess (the
                                           default), rsa, ec, dsa or dh.
  --record <path>                          Record sessions
  --web-admin-port <port>                  Web admin interface port
  --web-admin-auth <user:password>         Web admin username & password (you
                                           can also use the
                                           DRAWPILESRV_WEB_ADMIN_AUTH
                                           environment variable for this)
  --web-admin-access <address/subnet|all>  Set web admin access mask
  --web-admin-allowed-origin <origin>      Allowed origin for
                                           Access-Control-Allow-Origin headers
                                           in responses
  --database, -d <filename>                Use configuration database
  --config, -c <filename>                  Use configuration file
  --sessions, -s <path>                    File backed sessions
  --templates, -t <path>                   Session templates
  --extauth <url>                          Extauth server URL
  --crypt-key <key>                        Encryption key for session ban
                                           exports
  --generate-crypt-key                     Generate a key to pass to
                                           --crypt-key and exit
  --report-url <url>                       Abuse report handler URL
";

const VERSION_230: &str = "drawpile-srv 2.3.0
Protocol version: 25.1
Qt version: 5.15.8 (compiled against 5.15.8)
SSL library version: OpenSSL 3.0.19 27 Jan 2026 (805306672)
Libmicrohttpd version: 0.9.75
Libsodium version: 1.0.18
";

const VERSION_222: &str = "drawpile-srv 2.2.2
Protocol version: 24.0
Qt version: 5.15.8 (compiled against 5.15.8)
SSL library version: OpenSSL 3.0.19 27 Jan 2026 (805306672)
Libmicrohttpd version: 0.9.75
Libsodium version: 1.0.18
QtWebSockets: yes
";

/// Runs the stand-in as `nobody` (it refuses root), playing `build`, invoked as `argv0`.
fn standin(build: &Build, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(standin_binary());
    if is_root() {
        cmd = Command::new("setpriv");
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(standin_binary());
    }
    cmd.args(args)
        .env("DRAWPILE_STANDIN", build.profile())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn refuses_root_like_the_real_one() {
    if skip_unless_root("root refusal") {
        return;
    }
    for args in [&["--version"][..], &[][..], &["--help"][..]] {
        let out = Command::new(standin_binary()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(text(&out.stdout), "");
        assert_eq!(
            text(&out.stderr),
            "This program should not be run as root!\n"
        );
    }
}

#[test]
fn version_output_matches_the_recordings() {
    let out = standin(&Build::v("2.3.0"), &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), VERSION_230);
    assert_eq!(
        text(&standin(&Build::v("2.2.2"), &["--version"]).stdout),
        VERSION_222
    );
    let no_ws = text(&standin(&Build::v("2.2.2").without_websockets(), &["--version"]).stdout);
    assert_eq!(
        no_ws,
        VERSION_222.replace("QtWebSockets: yes", "QtWebSockets: N/A (not compiled in)")
    );
    // 2.2.1: only the first five lines.
    let v221 = text(&standin(&Build::v("2.2.1"), &["--version"]).stdout);
    let first_five: Vec<&str> = VERSION_230.lines().take(5).collect();
    assert_eq!(
        v221,
        format!("{}\n", first_five.join("\n"))
            .replace("2.3.0", "2.2.1")
            .replace("25.1", "24.0")
    );
    let no_admin = text(&standin(&Build::v("2.2.1").without_webadmin(), &["--version"]).stdout);
    assert!(
        no_admin.contains("Libmicrohttpd version: N/A\n"),
        "{no_admin}"
    );
}

#[test]
fn help_output_matches_the_recording() {
    // argv[0] is the path as invoked: run it through a symlink named as the recording.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let link = dir.path().join("drawpile-srv");
    std::os::unix::fs::symlink(standin_binary(), &link).unwrap();
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
        c.arg(&link);
        c
    } else {
        Command::new(&link)
    };
    let out = cmd
        .arg("--help")
        .env("DRAWPILE_STANDIN", Build::v("2.3.0").profile())
        .output()
        .unwrap();
    let expected = HELP_230.replace("/usr/local/bin/drawpile-srv", &link.display().to_string());
    assert_eq!(text(&out.stdout), expected);

    // 2.2.1 without QtWebSockets lacks the two websocket entries, nothing else changes.
    let out = standin(&Build::v("2.2.1").without_websockets(), &["--help"]);
    let got = text(&out.stdout);
    let want_lines: Vec<&str> = HELP_230
        .lines()
        .skip(1)
        .filter(|l| !l.contains("--websocket-") && l.trim() != "disable)")
        .collect();
    assert_eq!(got.lines().skip(1).collect::<Vec<_>>(), want_lines);
}

#[test]
fn option_errors_match_the_recordings() {
    let cases: &[(&Build, &[&str], &str)] = &[
        (
            &Build::v("2.3.0"),
            &["--allow-guest-hosts"],
            "drawpile-srv: Unknown option 'allow-guest-hosts'.\n",
        ),
        (
            &Build::v("2.3.0"),
            &["--websocket-port"],
            "drawpile-srv: Missing value after '--websocket-port'.\n",
        ),
        (
            &Build::v("2.3.0"),
            &["--websocket-port", "70000"],
            "Invalid WebSocket port 70000\n",
        ),
        (&Build::v("2.3.0"), &["--port", "0"], "Invalid port 0\n"),
        (
            &Build::v("2.3.0"),
            &["-c", "a", "-d", "b"],
            "Configuration file and database are mutually exclusive options\n",
        ),
    ];
    for (build, args, stderr) in cases {
        let out = standin(build, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(&text(&out.stderr), stderr, "{args:?}");
    }
    let b = Build::v("2.2.1").without_websockets();
    let out = standin(&b, &["--websocket-port", "27751"]);
    assert_eq!(
        text(&out.stderr),
        "drawpile-srv: Unknown option 'websocket-port'.\n"
    );
    let b = Build::v("2.2.2").without_websockets();
    let out = standin(&b, &["--websocket-port", "27751"]);
    assert_eq!(
        text(&out.stderr),
        "QtWebSockets not compiled in, the following options are unavailable: websocket-port\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn server_mode_sends_the_recorded_greetings() {
    for srv in servers("2.3.0") {
        server_mode_greetings(&srv);
    }
}

fn server_mode_greetings(srv: &Server) {
    let (tcp, ws) = (free_port(), free_port());
    let mut cmd = unprivileged(srv);
    cmd.args(["--listen", "127.0.0.1", "--port", &tcp.to_string()])
        .args([
            "--websocket-port",
            &ws.to_string(),
            "--websocket-listen",
            "127.0.0.1",
        ]);
    let _guard = start(srv, cmd);
    wait_port(tcp);
    wait_port(ws);

    let mut s = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 170];
    s.read_exact(&mut buf).unwrap();
    let json = r#"{"flags":["MULTI","AVATAR","MBANIMPEX","LOOKUP","CINFO"],"message":"Drawpile server 2.3.0","methods":{"guest":{"actions":["join","host"]}},"type":"login","version":4}"#;
    assert_eq!(&buf[..4], &[0x00, 0xa6, 0x00, 0x00]);
    assert_eq!(&buf[4..], json.as_bytes());

    // A real WebSocket client (tungstenite) gets the 101 and one binary greeting frame.
    let req = tungstenite::http::Request::builder()
        .uri(format!("ws://127.0.0.1:{ws}/drawpile-web/ws"))
        .header("Host", format!("127.0.0.1:{ws}"))
        .header("Origin", "https://web.drawpile.net")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .body(())
        .unwrap();
    let (mut sock, resp) = tungstenite::connect(req).unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["Server"], "drawpile-srv_2.3.0");
    assert_eq!(
        resp.headers()["Access-Control-Allow-Origin"],
        "https://web.drawpile.net"
    );
    let msg = sock.read().unwrap();
    let mut want = vec![0u8, 0u8];
    want.extend_from_slice(json.as_bytes());
    assert_eq!(msg, tungstenite::Message::Binary(want.into()));
    // A client that waits for the close handshake gets it at once.
    let started = Instant::now();
    sock.close(None).unwrap();
    loop {
        match sock.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{}: {e}", srv.label()),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{}",
        srv.label()
    );

    // A plain HTTP request without Upgrade: connection closed, no bytes.
    let mut plain = TcpStream::connect(("127.0.0.1", ws)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

// ---------------------------------------------------------------------------------------
// The stand-in against the real builds (drawpile-real.md). Each test below runs its
// assertions against the stand-in and, when ../shared/drawpile-srv has it, the real build
// of the same version, so the stand-in cannot drift from what dpwizard meets on a VPS.

/// The stand-in playing `version`, then the real build when present.
fn servers(version: &'static str) -> Vec<Server> {
    let mut v = vec![Server::standin(version)];
    match Server::real(version) {
        Some(real) => {
            eprintln!("{}", real.describe());
            v.push(real);
        }
        None => eprintln!("{}", Server::standin(version).describe()),
    }
    v
}

/// A server process whose stderr (its log) goes to a file; killed on drop.
struct Srv {
    child: Child,
    log: tempfile::NamedTempFile,
    label: String,
}

impl Srv {
    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Waits until the log has `line`; returns the log.
    fn wait_log(&self, line: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(line) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {line:?} in the log:\n{log}",
                self.label
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit; its status code.
    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {within:?}:\n{}",
                self.label,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command that runs `srv` unprivileged (both refuse root): as nobody under root.
fn unprivileged(srv: &Server) -> Command {
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
        c.arg(srv.host_binary());
        c
    } else {
        Command::new(srv.host_binary())
    };
    if let Some(profile) = srv.profile() {
        cmd.env("DRAWPILE_STANDIN", profile);
    }
    cmd.env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID");
    cmd
}

fn start(srv: &Server, mut cmd: Command) -> Srv {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    Srv {
        child,
        log,
        label: srv.label(),
    }
}

/// Writes `request` to the WebSocket port, returns every byte until the server closes.
fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("the server closes the connection");
    out
}

fn handshake(extra: &str) -> Vec<u8> {
    format!(
        "GET /drawpile-web/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// An open WebSocket (raw, so frames can be exactly as a test needs them) past the greeting.
fn open_ws(port: u16, extra: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(&handshake(&format!("Sec-WebSocket-Version: 13\r\n{extra}")))
        .unwrap();
    // The 101 headers, then the greeting frame (82 LEN 00 00 JSON).
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        got.push(b[0]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101 "), "{}", text(&got));
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 0x82);
    let len = match head[1] {
        126 => usize::from(u16::from_be_bytes([
            read_n(&mut s, 1)[0],
            read_n(&mut s, 1)[0],
        ])),
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    assert!(text(&payload).contains("Drawpile server"));
    s
}

/// A masked client frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

fn rest(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// drawpile-real.md, "Sockets and the wire" and "Log lines", on 2.3.0 started without
/// addresses: dual-stack listeners that log 0.0.0.0, the version checks, pings, close
/// frames, text frames, and how clients are logged.
#[test]
fn the_wire_and_the_log_lines_are_the_real_ones() {
    let ipv6 = std::fs::read_to_string("/proc/net/if_inet6")
        .is_ok_and(|t| t.lines().any(|l| l.ends_with(" lo")));
    for srv in servers("2.3.0") {
        let (tcp, ws) = (free_port(), free_port());
        let mut cmd = unprivileged(&srv);
        cmd.args([
            "--port",
            &tcp.to_string(),
            "--websocket-port",
            &ws.to_string(),
        ]);
        let server = start(&srv, cmd);
        let l = &srv.label();
        wait_port(tcp);
        wait_port(ws);
        let log = server.wait_log("Watchdog timer not enabled");
        assert_contains_all(
            &log,
            &[
                &format!(
                    "Info/Status Started listening for TCP connections on port {tcp} at address 0.0.0.0\n"
                ),
                &format!(
                    "Info/Status Started listening for WebSocket connections on port {ws} at address 0.0.0.0\n"
                ),
            ],
        );
        if ipv6 {
            TcpStream::connect(("::1", ws)).unwrap_or_else(|e| panic!("{l}: [::1]:{ws}: {e}"));
            TcpStream::connect(("::1", tcp)).unwrap_or_else(|e| panic!("{l}: [::1]:{tcp}: {e}"));
        } else {
            eprintln!("no IPv6 on loopback here: the dual-stack bind is not checked");
        }

        // Version 8: exactly this 400, then the connection closes.
        assert_eq!(
            text(&exchange(ws, &handshake("Sec-WebSocket-Version: 8\r\n"))),
            "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\r\n",
            "{l}"
        );
        // Any other number too; no version, or not a number: closed without a byte.
        assert_eq!(
            text(&exchange(ws, &handshake("Sec-WebSocket-Version: 14\r\n"))),
            "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\r\n",
            "{l}"
        );
        assert_eq!(exchange(ws, &handshake("")), b"", "{l}");
        assert_eq!(
            exchange(ws, &handshake("Sec-WebSocket-Version: abc\r\n")),
            b"",
            "{l}"
        );

        // Pings (masked, or not) get pongs with the same payload; a text frame is logged.
        let mut s = open_ws(ws, "");
        s.write_all(&frame(0x9, b"abcd")).unwrap();
        assert_eq!(read_n(&mut s, 6), b"\x8a\x04abcd", "{l}");
        s.write_all(b"\x89\x02hi").unwrap();
        assert_eq!(read_n(&mut s, 4), b"\x8a\x02hi", "{l}");
        s.write_all(&frame(0x1, b"hello")).unwrap();
        server.wait_log("Unexpected WebSocket text message: 'hello'\n");
        // A close frame is echoed with its status code, then TCP closes.
        s.write_all(&frame(0x8, &4000u16.to_be_bytes())).unwrap();
        assert_eq!(rest(&mut s), [0x88, 0x02, 0x0f, 0xa0], "{l}");
        // Without a code, 1000.
        let mut s = open_ws(ws, "");
        s.write_all(&frame(0x8, b"")).unwrap();
        assert_eq!(rest(&mut s), [0x88, 0x02, 0x03, 0xe8], "{l}");

        // Who connected: behind a proxy the user's address (X-Real-IP) is in the prefix,
        // the proxy's after "from"; peers on the dual-stack socket are IPv4-mapped.
        let peer = if ipv6 {
            "::ffff:127.0.0.1"
        } else {
            "127.0.0.1"
        };
        drop(open_ws(
            ws,
            "X-Real-IP: 203.0.113.9\r\nOrigin: https://web.drawpile.net\r\n",
        ));
        drop(TcpStream::connect(("127.0.0.1", tcp)).unwrap());
        server.wait_log(&format!(
            " Info/Status 0;203.0.113.9;: New WebSocket client connected from {peer} (IP from X-Real-IP header, Origin 'https://web.drawpile.net')\n"
        ));
        server.wait_log(&format!(
            " Info/Status 0;{peer};: New WebSocket client connected from {peer} (IP from WebSocket peer address, Origin '')\n"
        ));
        let log = server.wait_log(&format!(
            " Info/Status 0;{peer};: New TCP client connected\n"
        ));
        // Neither refused handshake was logged as a client: 3 WebSocket clients in all.
        assert_eq!(
            log.matches("New WebSocket client connected").count(),
            3,
            "{l}:\n{log}"
        );
    }
}

/// A notify socket the unprivileged server may write to: (dir, socket, its path).
fn notify_socket() -> (tempfile::TempDir, UnixDatagram, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let path = path.display().to_string();
    (dir, sock, path)
}

/// Every message on `sock` until `want` arrives (within `within`); the messages.
fn notified_until(sock: &UnixDatagram, want: &str, within: Duration, l: &str) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(text(&buf[..n]));
            if got.last().is_some_and(|m| m == want) {
                return got;
            }
        }
        assert!(Instant::now() < deadline, "{l}: no {want:?} in {got:?}");
    }
}

/// Under a unit with `WatchdogSec=` the real server pings systemd (else systemd kills it
/// after the period: issue 10), says so in its log, and reports its users after each client.
#[test]
fn sd_notify_watchdog_and_status_are_the_real_ones() {
    for srv in servers("2.3.0") {
        let l = &srv.label();
        let (_dir, sock, path) = notify_socket();
        let tcp = free_port();
        let mut cmd = unprivileged(&srv);
        cmd.args(["--port", &tcp.to_string(), "--listen", "127.0.0.1"])
            .env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", "2000000");
        let server = start(&srv, cmd);
        notified_until(&sock, "READY=1", Duration::from_secs(5), l);
        server.wait_log("Setting coarse watchdog timer every 1000ms\n");
        // Pings every half period (1 s; 2.5 s allowed each on a busy machine).
        let got = notified_until(&sock, "WATCHDOG=1", Duration::from_millis(2500), l);
        assert!(
            !got.iter().any(|m| m.starts_with("STATUS=")),
            "{l}: {got:?}"
        );
        notified_until(&sock, "WATCHDOG=1", Duration::from_millis(2500), l);
        // A client comes and goes: the status text counts it, then reads 0 users again.
        let mut c = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
        let mut greeting = [0u8; 4];
        c.read_exact(&mut greeting).unwrap();
        notified_until(
            &sock,
            "STATUS=1 users and 0 sessions",
            Duration::from_secs(3),
            l,
        );
        drop(c);
        notified_until(
            &sock,
            "STATUS=0 users and 0 sessions",
            Duration::from_secs(3),
            l,
        );
        drop(server);

        // The upstream unit's 60 s: a very coarse timer every 30 s.
        let mut cmd = unprivileged(&srv);
        cmd.args(["--port", &free_port().to_string(), "--listen", "127.0.0.1"])
            .env("WATCHDOG_USEC", "60000000");
        start(&srv, cmd).wait_log("Setting very coarse watchdog timer every 30000ms\n");
        // A watchdog meant for another process is not ours.
        let mut cmd = unprivileged(&srv);
        cmd.args(["--port", &free_port().to_string(), "--listen", "127.0.0.1"])
            .env("WATCHDOG_USEC", "60000000")
            .env("WATCHDOG_PID", "1");
        let s = start(&srv, cmd);
        let log = s.wait_log("Watchdog timer not enabled\n");
        assert!(!log.contains("watchdog timer every"), "{l}: {log}");
    }
}

/// Runs `cmd` with `fds` passed as systemd passes sockets (fd 3 on, `LISTEN_FDS`,
/// `LISTEN_PID` naming the server's own pid).
fn socket_activated(srv: &Server, fds: &[i32], args: &[&str]) -> Srv {
    use std::os::unix::process::CommandExt;
    let inner = unprivileged(srv);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "export LISTEN_PID=$$ LISTEN_FDS={}; exec \"$@\"",
            fds.len()
        ))
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args())
        .args(args);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let fds = fds.to_vec();
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut high = Vec::new();
            for &fd in &fds {
                let h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
                if h < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(h);
            }
            for (i, &h) in high.iter().enumerate() {
                if libc::dup2(h, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    start(srv, cmd)
}

/// POLLHUP on a listening socket: what systemd sees when the server shut it down.
fn hung_up(l: &std::net::TcpListener) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLHUP != 0
}

/// The 2.2.x failure (issue 10): socket-activated, the server stops when its last client
/// leaves (exit 0) and microhttpd shuts the web admin socket down, so systemd sees POLLHUP on
/// a listening socket and fails the whole socket unit (result `resources`).
#[test]
fn socket_22x_autostop_shuts_the_web_admin_socket_down() {
    for srv in servers("2.2.2") {
        let l = &srv.label();
        let listeners: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let port = |i: usize| listeners[i].local_addr().unwrap().port();
        let fds: Vec<i32> = listeners
            .iter()
            .map(std::os::fd::AsRawFd::as_raw_fd)
            .collect();
        let mut server = socket_activated(&srv, &fds, &["--websocket-port", "27751"]);
        let log = server.wait_log("Starting microhttpd on pre-opened socket\n");
        assert_contains_all(
            &log,
            &[
                "Warn/Status Command-line argument --websocket-port ignored because sockets are passed via systemd\n",
                &format!(
                    "Info/Status Started listening on passed TCP socket on port {}, WebSocket port {}\n",
                    port(0),
                    port(2)
                ),
            ],
        );
        // Two clients (TCP and WebSocket); the server stays while either is there.
        let mut tcp = TcpStream::connect(("127.0.0.1", port(0))).unwrap();
        let mut greeting = [0u8; 4];
        tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        tcp.read_exact(&mut greeting).unwrap();
        assert_eq!(greeting, [0x00, 0xa6, 0x00, 0x00], "{l}");
        let ws = open_ws(port(2), "");
        drop(tcp);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "{l}: stopped with a client left"
        );
        assert!(!listeners.iter().any(hung_up), "{l}");
        drop(ws);
        assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0), "{l}");
        let log = server.log();
        let tail: Vec<&str> = log
            .lines()
            .skip_while(|line| !line.ends_with("Autostopping due to lack of sessions."))
            .map(|line| {
                line.split_once(' ')
                    .filter(|_| line.starts_with("20"))
                    .map_or(line, |(_, rest)| rest)
            })
            .collect();
        assert_eq!(
            tail,
            [
                "Info/Status Autostopping due to lack of sessions.",
                "Info/Status Stopping server and kicking out 0 users...",
                "Info/Status Server stopped.",
                "Stopping microhttpd"
            ],
            "{l}:\n{log}"
        );
        // What systemd holds: the web admin socket hung up, the other two merely unserved.
        assert!(hung_up(&listeners[1]), "{l}: the web admin socket");
        assert!(!hung_up(&listeners[0]) && !hung_up(&listeners[2]), "{l}");

        // A plain stop (SIGTERM, as `systemctl restart drawpile-srv.service` sends) does the
        // same to the web admin socket: under its socket unit, a restart fails the socket too.
        let listeners: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let fds: Vec<i32> = listeners
            .iter()
            .map(std::os::fd::AsRawFd::as_raw_fd)
            .collect();
        let mut server = socket_activated(&srv, &fds, &[]);
        server.wait_log("Starting microhttpd on pre-opened socket\n");
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(server.child.id() as i32, libc::SIGTERM);
        }
        server.wait_exit(Duration::from_secs(5));
        let log = server.log();
        assert!(
            log.ends_with("Server stopped.\nStopping microhttpd\n"),
            "{l}:\n{log}"
        );
        assert!(
            hung_up(&listeners[1]),
            "{l}: the web admin socket after SIGTERM"
        );
    }
}

/// The real builds run here: scripts/test-deps.sh installed every library `ldd` names.
#[test]
fn the_real_builds_find_their_libraries() {
    for version in ["2.3.0", "2.2.2"] {
        match Server::real(version) {
            Some(real) => {
                let bin = real.host_binary();
                assert_eq!(
                    crate::support::drawpile::missing_libraries(&bin),
                    Vec::<String>::new()
                );
                let out = unprivileged(&real).arg("--version").output().unwrap();
                assert_eq!(
                    text(&out.stdout).lines().next(),
                    Some(format!("drawpile-srv {version}").as_str()),
                    "{}",
                    text(&out.stderr)
                );
            }
            None => eprintln!("{}", Server::standin(version).describe()),
        }
    }
}

/// The units the stand-in runs under when the real build is absent are the upstream files,
/// and the binary goes where their `ExecStart=` says.
#[test]
fn the_standin_units_are_the_upstream_files() {
    for version in ["2.3.0", "2.2.2"] {
        let standin = Server::standin(version);
        let Some(real) = Server::real(version) else {
            eprintln!("{}: nothing to compare", standin.describe());
            continue;
        };
        let l = real.describe();
        assert_eq!(standin.service_unit(), real.service_unit(), "{l}");
        assert_eq!(standin.socket_unit(), real.socket_unit(), "{l}");
        assert_eq!(standin.exec_path(), real.exec_path(), "{l}");
    }
    let s = Server::standin("2.3.0");
    assert_eq!(s.exec_path(), "/opt/dpsrv/bin/drawpile-srv");
    assert!(
        s.service_unit()
            .contains("ExecStart=/opt/dpsrv/bin/drawpile-srv\nRestart=always\nWatchdogSec=60s\n")
    );
    assert_eq!(s.socket_unit(), None);
    let s = Server::standin("2.2.2");
    assert_eq!(s.exec_path(), "/opt/dpsrv-2.2.2/bin/drawpile-srv");
    assert!(s.service_unit().contains("Also=drawpile-srv.socket\n"));
    assert!(s.socket_unit().is_some_and(|u| {
        u.contains("ListenStream=27750\nListenStream=27780\nListenStream=27751\n")
    }));
}
