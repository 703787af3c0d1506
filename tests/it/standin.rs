//! The stand-in must be faithful: its output is compared with the real program's recorded
//! output (shared docs, drawpile-outputs.md), typed here from the document.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::drawpile::{Build, standin_binary};
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

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let (tcp, ws) = (free_port(), free_port());
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(standin_binary());
        c
    } else {
        Command::new(standin_binary())
    };
    let child = cmd
        .args(["--listen", "127.0.0.1", "--port", &tcp.to_string()])
        .args([
            "--websocket-port",
            &ws.to_string(),
            "--websocket-listen",
            "127.0.0.1",
        ])
        .env("DRAWPILE_STANDIN", Build::v("2.3.0").profile())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _guard = Running(child);
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
