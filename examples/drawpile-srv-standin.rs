//! A stand-in for drawpile-srv, for tests only (drawpile-srv has no Debian package and its
//! image is not reachable here). It reproduces the RECORDED output and behaviour of the real
//! program (shared docs: drawpile.md, drawpile-outputs.md), never invented behaviour:
//! `--version`/`--help` byte for byte per version and build options, the root refusal, the
//! option errors, the TCP and WebSocket greetings, the 101 headers, the log lines, socket
//! activation (2.2.x) and its refusal (2.3.0+), sd_notify, SIGTERM. Where the real builds were
//! observed to differ from a replay (drawpile-real.md) it does what they do: the watchdog
//! pings and `STATUS=` texts, the dual-stack bind, the WebSocket version checks, pings and close
//! frames, the X-Real-IP log line, and the 2.2.x autostop that shuts the web admin socket down
//! (so systemd fails a socket unit with POLLHUP). tests/it/standin.rs runs the same assertions
//! against the real builds when they are there.
//!
//! Which build it plays comes from a profile: the env var `DRAWPILE_STANDIN`, else a sidecar
//! file `<argv0>.standin` or `<real exe>.standin`; lines `key=value`:
//! `version=2.2.2`, `websockets=yes|no`, `webadmin=yes|no`, `libsodium=yes|no`,
//! `systemd=yes|no`, `gui=yes|no`, `misbehave=crash|garbage|hang` (the failure cases).
//! Default: 2.3.0 with everything.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use sha1::{Digest, Sha1};

#[derive(Debug, Clone)]
struct Profile {
    version: String,
    major: u32,
    minor: u32,
    patch: u32,
    websockets: bool,
    webadmin: bool,
    libsodium: bool,
    systemd: bool,
    gui: bool,
    /// For the failure cases: `crash` (SIGSEGV), `garbage` (binary noise, exit 0) or
    /// `hang`, whatever the arguments. A real binary that breaks, not a script.
    misbehave: Option<String>,
}

impl Profile {
    fn parse(text: &str) -> Profile {
        let mut p = Profile {
            version: "2.3.0".into(),
            major: 2,
            minor: 3,
            patch: 0,
            websockets: true,
            webadmin: true,
            libsodium: true,
            systemd: true,
            gui: false,
            misbehave: None,
        };
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let yes = v.trim() == "yes";
            match k.trim() {
                "version" => p.version = v.trim().to_string(),
                "websockets" => p.websockets = yes,
                "webadmin" => p.webadmin = yes,
                "libsodium" => p.libsodium = yes,
                "systemd" => p.systemd = yes,
                "gui" => p.gui = yes,
                "misbehave" => p.misbehave = Some(v.trim().to_string()),
                _ => {}
            }
        }
        let nums: Vec<u32> = p
            .version
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        p.major = nums.first().copied().unwrap_or(0);
        p.minor = nums.get(1).copied().unwrap_or(0);
        p.patch = nums.get(2).copied().unwrap_or(0);
        // 2.2.0 has no WebSocket server at all; 2.3.0+ always has one.
        if p.at_least(2, 3, 0) {
            p.websockets = true;
        }
        if !p.at_least(2, 2, 1) {
            p.websockets = false;
        }
        p
    }

    fn at_least(&self, a: u32, b: u32, c: u32) -> bool {
        (self.major, self.minor, self.patch) >= (a, b, c)
    }

    /// 2.2.2 up to 2.3.0-beta.3 print the QtWebSockets line and the help suffix; here:
    /// 2.2.2 and later 2.2.x (2.3.x always has WebSockets, so the line never matters).
    fn era_222(&self) -> bool {
        self.at_least(2, 2, 2) && !self.at_least(2, 3, 0)
    }

    fn protocol(&self) -> &'static str {
        if self.at_least(2, 3, 0) {
            "25.1"
        } else {
            "24.0"
        }
    }

    fn socket_activation(&self) -> bool {
        !self.at_least(2, 3, 0)
    }
}

fn load_profile(argv0: &str) -> Profile {
    if let Ok(text) = std::env::var("DRAWPILE_STANDIN") {
        return Profile::parse(&text);
    }
    let mut candidates = vec![format!("{argv0}.standin")];
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        candidates.push(format!("{}.standin", exe.display()));
    }
    for c in candidates {
        if let Ok(text) = std::fs::read_to_string(&c) {
            return Profile::parse(&text);
        }
    }
    Profile::parse("")
}

fn version_text(p: &Profile) -> String {
    let mut s = format!(
        "drawpile-srv {}\nProtocol version: {}\nQt version: 5.15.8 (compiled against 5.15.8)\n\
         SSL library version: OpenSSL 3.0.19 27 Jan 2026 (805306672)\n",
        p.version,
        p.protocol()
    );
    let era222 = p.at_least(2, 2, 2);
    s.push_str(match (p.webadmin, era222) {
        (true, _) => "Libmicrohttpd version: 0.9.75\n",
        (false, false) => "Libmicrohttpd version: N/A\n",
        (false, true) => "Libmicrohttpd version: N/A (not compiled in)\n",
    });
    if era222 {
        s.push_str(if p.libsodium {
            "Libsodium version: 1.0.18\n"
        } else {
            "Libsodium version: N/A (not compiled in)\n"
        });
    }
    if p.era_222() {
        s.push_str(if p.websockets {
            "QtWebSockets: yes\n"
        } else {
            "QtWebSockets: N/A (not compiled in)\n"
        });
    }
    s
}

/// One help entry: the option column is 41 wide, descriptions wrap at Qt's width.
fn entry(out: &mut String, opt: &str, desc: &[&str]) {
    for (i, d) in desc.iter().enumerate() {
        let left = if i == 0 { opt } else { "" };
        out.push_str(&format!("  {left:<41}{d}\n"));
    }
}

fn help_text(p: &Profile, argv0: &str) -> String {
    let mut s = format!("Usage: {argv0} [options]\nStandalone server for Drawpile\n\nOptions:\n");
    entry(
        &mut s,
        "-h, --help",
        &["Displays help on commandline", "options."],
    );
    entry(
        &mut s,
        "--help-all",
        &["Displays help including Qt specific", "options."],
    );
    entry(&mut s, "-v, --version", &["Displays version information."]);
    if p.gui {
        entry(&mut s, "--gui", &["Run the graphical version."]);
        if p.at_least(2, 3, 0) {
            entry(&mut s, "--no-gui", &["Run the server without a GUI."]);
        }
    }
    entry(&mut s, "--port, -p <port>", &["Listening port"]);
    entry(&mut s, "--listen, -l <address>", &["Listening address"]);
    if p.at_least(2, 2, 1) {
        if p.websockets {
            entry(
                &mut s,
                "--websocket-port <port>",
                &["WebSocket listening port (0 to", "disable)"],
            );
            entry(
                &mut s,
                "--websocket-listen <address>",
                &["WebSocket listening address"],
            );
        } else if p.era_222() {
            entry(
                &mut s,
                "--websocket-port <port>",
                &[
                    "WebSocket listening port (0 to",
                    "disable) [QtWebSockets not compiled",
                    "in, this option is unavailable]",
                ],
            );
            entry(
                &mut s,
                "--websocket-listen <address>",
                &[
                    "WebSocket listening address",
                    "[QtWebSockets not compiled in, this",
                    "option is unavailable]",
                ],
            );
        }
    }
    entry(
        &mut s,
        "--local-host <hostname>",
        &["This server's hostname for session", "announcement"],
    );
    entry(
        &mut s,
        "--announce-port <port>",
        &[
            "Port number to announce (set if",
            "forwarding from different port)",
        ],
    );
    entry(
        &mut s,
        "--ssl-cert <certificate>",
        &["SSL certificate file"],
    );
    entry(&mut s, "--ssl-key <key>", &["SSL key file"]);
    entry(
        &mut s,
        "--ssl-key-algorithm <algorithm>",
        &[
            "SSL key algorithm: guess (the",
            "default), rsa, ec, dsa or dh.",
        ],
    );
    entry(&mut s, "--record <path>", &["Record sessions"]);
    entry(
        &mut s,
        "--web-admin-port <port>",
        &["Web admin interface port"],
    );
    entry(
        &mut s,
        "--web-admin-auth <user:password>",
        &[
            "Web admin username & password (you",
            "can also use the",
            "DRAWPILESRV_WEB_ADMIN_AUTH",
            "environment variable for this)",
        ],
    );
    entry(
        &mut s,
        "--web-admin-access <address/subnet|all>",
        &["Set web admin access mask"],
    );
    entry(
        &mut s,
        "--web-admin-allowed-origin <origin>",
        &[
            "Allowed origin for",
            "Access-Control-Allow-Origin headers",
            "in responses",
        ],
    );
    entry(
        &mut s,
        "--database, -d <filename>",
        &["Use configuration database"],
    );
    entry(
        &mut s,
        "--config, -c <filename>",
        &["Use configuration file"],
    );
    entry(&mut s, "--sessions, -s <path>", &["File backed sessions"]);
    entry(&mut s, "--templates, -t <path>", &["Session templates"]);
    entry(&mut s, "--extauth <url>", &["Extauth server URL"]);
    entry(
        &mut s,
        "--crypt-key <key>",
        &["Encryption key for session ban", "exports"],
    );
    entry(
        &mut s,
        "--generate-crypt-key",
        &["Generate a key to pass to", "--crypt-key and exit"],
    );
    entry(&mut s, "--report-url <url>", &["Abuse report handler URL"]);
    s
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1);
}

#[derive(Default)]
struct Options {
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Options {
    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Options as QCommandLineParser knows them for this build: (long, short, takes value).
fn known_options(p: &Profile) -> Vec<(&'static str, Option<char>, bool)> {
    let mut v = vec![
        ("help", Some('h'), false),
        ("help-all", None, false),
        ("version", Some('v'), false),
        ("port", Some('p'), true),
        ("listen", Some('l'), true),
        ("local-host", None, true),
        ("announce-port", None, true),
        ("ssl-cert", None, true),
        ("ssl-key", None, true),
        ("ssl-key-algorithm", None, true),
        ("record", None, true),
        ("web-admin-port", None, true),
        ("web-admin-auth", None, true),
        ("web-admin-access", None, true),
        ("web-admin-allowed-origin", None, true),
        ("database", Some('d'), true),
        ("config", Some('c'), true),
        ("sessions", Some('s'), true),
        ("templates", Some('t'), true),
        ("extauth", None, true),
        ("crypt-key", None, true),
        ("generate-crypt-key", None, false),
        ("report-url", None, true),
    ];
    // A 2.2.1 build without QtWebSockets does not know the options at all.
    if p.websockets || p.era_222() {
        v.push(("websocket-port", None, true));
        v.push(("websocket-listen", None, true));
    }
    if p.gui {
        // The AppImage is the desktop app; `--server` turns it into drawpile-srv.
        v.push(("server", None, false));
        v.push(("gui", None, false));
        if p.at_least(2, 3, 0) {
            v.push(("no-gui", None, false));
        }
    }
    v
}

fn parse_args(p: &Profile, args: &[String]) -> Options {
    let known = known_options(p);
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let (name, inline) = if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            }
        } else if let Some(short) = a.strip_prefix('-') {
            let c = short.chars().next().unwrap_or('-');
            match known.iter().find(|(_, s, _)| *s == Some(c)) {
                Some((long, _, true)) => {
                    let rest = &short[c.len_utf8()..];
                    (
                        long.to_string(),
                        (!rest.is_empty()).then(|| rest.to_string()),
                    )
                }
                Some((long, _, false)) => (long.to_string(), None),
                None => fail(&format!("drawpile-srv: Unknown option '{short}'.")),
            }
        } else {
            // Positional arguments are ignored by drawpile-srv.
            continue;
        };
        let Some((_, _, takes)) = known.iter().find(|(l, _, _)| *l == name) else {
            fail(&format!("drawpile-srv: Unknown option '{name}'."));
        };
        if *takes {
            let value = match inline {
                Some(v) => v,
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => fail(&format!("drawpile-srv: Missing value after '{a}'.")),
            };
            o.values.push((name, value));
        } else {
            o.flags.push(name);
        }
    }
    o
}

fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn log(kind: &str, msg: &str) {
    eprintln!("{} {kind} {msg}", now_iso());
}

fn greeting_json(p: &Profile, prefer_ws: bool) -> String {
    let prefer = if prefer_ws {
        r#","preferWebSockets":true"#
    } else {
        ""
    };
    format!(
        r#"{{"flags":["MULTI","AVATAR","MBANIMPEX","LOOKUP","CINFO"],"message":"Drawpile server {}","methods":{{"guest":{{"actions":["join","host"]}}}}{prefer},"type":"login","version":4}}"#,
        p.version
    )
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

struct Server {
    profile: Profile,
    prefer_ws: bool,
    clients: AtomicUsize,
    autostop: bool,
    /// The web admin's listening socket (-1: none): microhttpd shuts it down when the server
    /// stops, which is what makes systemd fail a 2.2.x socket unit (POLLHUP).
    admin_fd: AtomicI32,
}

impl Server {
    /// A client connected: the real server counts it in its status text at once.
    fn client_came(&self) {
        let n = self.clients.fetch_add(1, Ordering::SeqCst) + 1;
        self.status(n);
    }

    fn client_left(&self) {
        let n = self.clients.fetch_sub(1, Ordering::SeqCst) - 1;
        self.status(n);
        if n == 0 && self.autostop {
            log("Info/Status", "Autostopping due to lack of sessions.");
            self.stop();
            std::process::exit(0);
        }
    }

    /// `STATUS=` for systemd: `systemctl show -p StatusText` reads `0 users and 0 sessions`.
    fn status(&self, users: usize) {
        if self.profile.systemd {
            notify(&format!("STATUS={users} users and 0 sessions"));
        }
    }

    /// What the real server logs and does when it stops (SIGTERM or autostop).
    fn stop(&self) {
        log(
            "Info/Status",
            &format!(
                "Stopping server and kicking out {} users...",
                self.clients.load(Ordering::SeqCst)
            ),
        );
        log("Info/Status", "Server stopped.");
        let fd = self.admin_fd.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: shutdown(2) on a socket this process owns; the fd stays open.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
            eprintln!("Stopping microhttpd");
        }
    }
}

/// The address a peer is logged with: `::ffff:127.0.0.1` on a dual-stack socket, as real.
fn peer_of(s: &TcpStream) -> String {
    s.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

fn serve_tcp(server: Arc<Server>, listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let server = server.clone();
        let peer = peer_of(&s);
        log(
            "Info/Status",
            &format!("0;{peer};: New TCP client connected"),
        );
        server.client_came();
        std::thread::spawn(move || {
            let json = greeting_json(&server.profile, server.prefer_ws);
            let mut msg = (json.len() as u16).to_be_bytes().to_vec();
            msg.extend_from_slice(&[0, 0]);
            msg.extend_from_slice(json.as_bytes());
            let _ = s.write_all(&msg);
            idle_until_close(&mut s, &peer);
            server.client_left();
        });
    }
}

const IDLE: Duration = Duration::from_secs(60);

/// Keeps a client until it closes or has been idle for 60 s, like the real server.
fn idle_until_close(s: &mut TcpStream, who: &str) {
    let _ = s.set_read_timeout(Some(IDLE));
    let mut buf = [0u8; 4096];
    let err = loop {
        match s.read(&mut buf) {
            Ok(0) => break None,
            Ok(_) => {}
            Err(e) => break Some(e),
        }
    };
    drop_client(s, err, who);
}

/// Closes a client's connection; one that timed out is logged as the real server does.
fn drop_client(s: &mut TcpStream, err: Option<std::io::Error>, who: &str) {
    if err.is_some_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    }) {
        log(
            "Warn/Status",
            &format!("0;{who};: Message queue exceeded timeout of 60000ms"),
        );
    }
    let _ = s.shutdown(Shutdown::Both);
}

/// One WebSocket frame from a client: (opcode, unmasked payload). Clients mask; the real
/// server also takes unmasked frames (it answers an unmasked ping).
fn read_frame(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head)?;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > 16 << 20 {
        return Err(std::io::Error::other("frame too large"));
    }
    let mut mask = [0u8; 4];
    if masked {
        s.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload)?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((opcode, payload))
}

/// A WebSocket client after the greeting: pings get pongs, a close frame is echoed (its
/// status code, 1000 when it had none) before the connection closes, text frames are logged
/// as unexpected; idle for 60 s, the client is dropped.
fn websocket_session(s: &mut TcpStream, who: &str) {
    let _ = s.set_read_timeout(Some(IDLE));
    let err = loop {
        match read_frame(s) {
            Ok((0x9, payload)) => {
                let mut pong = vec![0x8a, payload.len().min(125) as u8];
                pong.extend_from_slice(&payload[..payload.len().min(125)]);
                if let Err(e) = s.write_all(&pong) {
                    break Some(e);
                }
            }
            Ok((0x8, payload)) => {
                let code = if payload.len() >= 2 {
                    [payload[0], payload[1]]
                } else {
                    1000u16.to_be_bytes()
                };
                let _ = s.write_all(&[0x88, 0x02, code[0], code[1]]);
                break None;
            }
            Ok((0x1, payload)) => eprintln!(
                "Unexpected WebSocket text message: '{}'",
                String::from_utf8_lossy(&payload)
            ),
            Ok(_) => {}
            Err(e) => break Some(e),
        }
    };
    drop_client(s, err, who);
}

fn header<'a>(req: &'a str, name: &str) -> Option<&'a str> {
    req.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn http_date() -> String {
    // RFC 7231 date from the ISO one; weekday from days since the epoch (1970-01-01: Thu).
    let iso = now_iso();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((secs / 86400) % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = (&iso[0..4], &iso[5..7], &iso[8..10]);
    let mi: usize = m.parse().unwrap_or(1);
    format!(
        "{wd}, {d} {} {y} {} GMT",
        months[mi.saturating_sub(1) % 12],
        &iso[11..19]
    )
}

fn serve_ws(server: Arc<Server>, listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let server = server.clone();
        std::thread::spawn(move || {
            let peer = peer_of(&s);
            let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                if buf.len() > 65536 {
                    return;
                }
            }
            let req = String::from_utf8_lossy(&buf).to_string();
            let upgrade =
                header(&req, "Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
            // A plain HTTP request, or a handshake without a (numeric) version, gets the
            // connection closed with no bytes; any version but 13 gets a 400 naming 13.
            let version = header(&req, "Sec-WebSocket-Version").and_then(|v| v.parse::<u32>().ok());
            let key = header(&req, "Sec-WebSocket-Key").filter(|_| upgrade);
            let (Some(key), Some(version)) = (key, version) else {
                let _ = s.shutdown(Shutdown::Both);
                return;
            };
            if version != 13 {
                let _ =
                    s.write_all(b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\r\n");
                let _ = s.shutdown(Shutdown::Both);
                return;
            }
            let mut h = Sha1::new();
            h.update(key.as_bytes());
            h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
            let accept = base64::engine::general_purpose::STANDARD.encode(h.finalize());
            let origin = header(&req, "Origin").unwrap_or("");
            let allow_origin = if origin.is_empty() { "*" } else { origin };
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\nServer: drawpile-srv_{}\r\n\
                 Access-Control-Allow-Credentials: false\r\nAccess-Control-Allow-Methods: GET\r\n\
                 Access-Control-Allow-Headers: content-type\r\nAccess-Control-Allow-Origin: {allow_origin}\r\n\
                 Date: {}\r\n\r\n",
                server.profile.version,
                http_date()
            );
            let json = greeting_json(&server.profile, server.prefer_ws);
            let payload_len = json.len() + 2;
            let mut frame = vec![0x82u8];
            if payload_len < 126 {
                frame.push(payload_len as u8);
            } else {
                frame.push(0x7e);
                frame.extend_from_slice(&(payload_len as u16).to_be_bytes());
            }
            frame.extend_from_slice(&[0, 0]);
            frame.extend_from_slice(json.as_bytes());
            let real_ip = header(&req, "X-Real-IP");
            let source = if real_ip.is_some() {
                "IP from X-Real-IP header"
            } else {
                "IP from WebSocket peer address"
            };
            // The user's address (X-Real-IP, else the peer) in the prefix; the peer (the
            // proxy) after "from".
            let who = real_ip.map(str::to_string).unwrap_or_else(|| peer.clone());
            let detail = if server.profile.at_least(2, 2, 2) {
                format!("{source}, Origin '{origin}'")
            } else {
                source.to_string()
            };
            log(
                "Info/Status",
                &format!("0;{who};: New WebSocket client connected from {peer} ({detail})"),
            );
            server.client_came();
            if s.write_all(resp.as_bytes()).is_ok() && s.write_all(&frame).is_ok() {
                websocket_session(&mut s, &who);
            }
            server.client_left();
        });
    }
}

fn serve_webadmin(server: Arc<Server>, listener: TcpListener, ws_active: bool) {
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let server = server.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/");
            let body = match path {
                "/api/server/" | "/api/server" => {
                    let web = if ws_active && server.profile.at_least(2, 2, 2) {
                        r#","allowGuestWeb":true,"allowGuestWebSession":true,"extauthweb":false,"extauthwebsession":false,"passwordDependentWebSession":false,"preferWebSockets":false"#
                    } else {
                        ""
                    };
                    format!(
                        r#"{{"allowGuestHosts":true,"allowGuests":true{web},"sessionCountLimit":25}}"#
                    )
                }
                "/api/status/" | "/api/status" => {
                    r#"{"sessions":0,"started":"","users":0}"#.to_string()
                }
                _ => {
                    let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
            };
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        });
    }
}

/// Binds a listener. With no address the real server (Qt's `QHostAddress::Any`) binds
/// dual-stack IPv6 (`ss` shows `*:PORT`) while its log says 0.0.0.0; IPv4 only where the
/// machine has no IPv6.
fn bind(addr: Option<&str>, port: u16) -> TcpListener {
    let candidates: Vec<String> = match addr {
        None => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
        Some(ip) if ip.contains(':') => vec![format!("[{ip}]:{port}")],
        Some(ip) => vec![format!("{ip}:{port}")],
    };
    let mut last = None;
    for c in &candidates {
        let sa: SocketAddr = c.parse().unwrap_or_else(|_| {
            fail(&format!(
                "Invalid listening address {}",
                addr.unwrap_or_default()
            ))
        });
        match TcpListener::bind(sa) {
            Ok(l) => return l,
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            log("Error/Status", "The bound address is already in use");
            std::process::exit(1);
        }
        Some(e) => fail(&format!("Couldn't start server: {e}")),
        None => fail("Couldn't start server"),
    }
}

/// The web admin listens on IPv4's any address (drawpile.md), whatever `--listen` says.
fn bind_web_admin(port: u16) -> TcpListener {
    bind(Some("0.0.0.0"), port)
}

fn port_of(o: &Options, name: &str, default: u16, what: &str) -> u16 {
    match o.get(name) {
        None => default,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= 65535 && (n > 0 || name != "port") => n as u16,
            _ => fail(&format!("Invalid {what}{v}")),
        },
    }
}

/// One sd_notify(3) message (`READY=1`, `STATUS=…`, `WATCHDOG=1`), when systemd asked.
fn notify(msg: &str) {
    let Ok(path) = std::env::var("NOTIFY_SOCKET") else {
        return;
    };
    use std::os::unix::net::UnixDatagram;
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    if let Some(abs) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes()) {
            let _ = sock.send_to_addr(msg.as_bytes(), &addr);
        }
    } else {
        let _ = sock.send_to(msg.as_bytes(), &path);
    }
}

/// The watchdog as the real server keeps it: with `WATCHDOG_USEC` (for this process) it
/// sends `WATCHDOG=1` every half period and says so; without, it logs that it is off. A
/// unit with `WatchdogSec=` kills a server that never pings.
fn start_watchdog(systemd: bool) {
    let usec = std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&u| u > 0);
    let for_us = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_none_or(|p| p == std::process::id());
    let usec = match usec {
        Some(u) if systemd && for_us => u,
        _ => {
            eprintln!("Watchdog timer not enabled");
            return;
        }
    };
    let interval_ms = usec / 2 / 1000;
    if interval_ms == 0 {
        eprintln!("Watchdog timeout {usec}usec results in keepalive interval of 0");
        eprintln!("Watchdog timer not enabled");
        return;
    }
    // Qt's timer types: very coarse (whole seconds) from 5 s on, as logged by the real one.
    let kind = if interval_ms >= 5000 {
        "very coarse"
    } else {
        "coarse"
    };
    eprintln!("Setting {kind} watchdog timer every {interval_ms}ms");
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(interval_ms));
            notify("WATCHDOG=1");
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .cloned()
        .unwrap_or_else(|| "drawpile-srv".into());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        fail("This program should not be run as root!");
    }
    let profile = load_profile(&argv0);
    match profile.misbehave.as_deref() {
        // SAFETY: resetting a handler and raising a signal have no preconditions. (std's
        // own SIGSEGV handler would return from a raised signal: back to the default.)
        Some("crash") => unsafe {
            libc::signal(libc::SIGSEGV, libc::SIG_DFL);
            libc::raise(libc::SIGSEGV);
        },
        Some("garbage") => {
            let _ = std::io::stdout().write_all(b"\xff\xfe\x00garbage\x01\n");
            std::process::exit(0);
        }
        Some("hang") => std::thread::sleep(Duration::from_secs(1000)),
        _ => {}
    }
    let opts = parse_args(&profile, &args[1..]);
    if opts.flags.iter().any(|f| f == "help" || f == "help-all") {
        print!("{}", help_text(&profile, &argv0));
        return;
    }
    if opts.flags.iter().any(|f| f == "version") {
        print!("{}", version_text(&profile));
        return;
    }
    if !profile.websockets {
        let used: Vec<&str> = ["websocket-port", "websocket-listen"]
            .into_iter()
            .filter(|n| opts.get(n).is_some())
            .collect();
        if !used.is_empty() {
            fail(&format!(
                "QtWebSockets not compiled in, the following options are unavailable: {}",
                used.join(", ")
            ));
        }
    }
    if opts.get("config").is_some() && opts.get("database").is_some() {
        fail("Configuration file and database are mutually exclusive options");
    }
    let port = port_of(&opts, "port", 27750, "port ");
    let ws_port = port_of(&opts, "websocket-port", 0, "WebSocket port ");
    let admin_port = port_of(&opts, "web-admin-port", 0, "web admin port ");
    let prefer_ws = opts
        .get("config")
        .and_then(|c| std::fs::read_to_string(c).ok())
        .is_some_and(|text| {
            let mut in_config = false;
            text.lines().any(|l| {
                let l = l.trim();
                if l.starts_with('[') {
                    in_config = l == "[config]";
                    return false;
                }
                in_config
                    && l.split_once('=')
                        .is_some_and(|(k, v)| k.trim() == "preferWebSockets" && v.trim() == "true")
            })
        });

    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_sigterm as *const () as libc::sighandler_t);
    }

    let passed: usize = match (std::env::var("LISTEN_PID"), std::env::var("LISTEN_FDS")) {
        (Ok(pid), Ok(n)) if pid.parse::<u32>().ok() == Some(std::process::id()) => {
            n.parse().unwrap_or(0)
        }
        _ => 0,
    };
    let server = Arc::new(Server {
        profile: profile.clone(),
        prefer_ws,
        clients: AtomicUsize::new(0),
        autostop: passed > 0,
        admin_fd: AtomicI32::new(-1),
    });

    let mut ws_active = false;
    let mut admin_listener = None;
    if passed > 0 {
        if !profile.socket_activation() {
            fail(&format!(
                "Got {passed} file descriptor(s), but socket activation is no longer supported. \
                 Uninstall systemd from drawpile-srv.socket and try again."
            ));
        }
        if passed > 3 {
            fail(&format!("Too many sockets passed: {passed}"));
        }
        // SAFETY: systemd passes these descriptors to us (sd_listen_fds(3)), starting at 3.
        let fds: Vec<TcpListener> = (0..passed)
            .map(|i| unsafe { TcpListener::from_raw_fd(3 + i as i32) })
            .collect();
        for (opt, shown) in [
            ("port", "--port"),
            ("listen", "--listen"),
            ("websocket-port", "--websocket-port"),
            ("websocket-listen", "--websocket-listen"),
            ("web-admin-port", "--web-admin-port"),
        ] {
            if opts.get(opt).is_some() {
                log(
                    "Warn/Status",
                    &format!(
                        "Command-line argument {shown} ignored because sockets are passed via systemd"
                    ),
                );
            }
        }
        let mut it = fds.into_iter();
        let tcp = it.next();
        let admin = it.next();
        let ws = it.next();
        if admin.is_some() && !profile.webadmin {
            fail("Web admin socket passed, but web admin support not built in!");
        }
        let tcp_port = tcp
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port());
        let ws_port_passed = ws
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port());
        log(
            "Info/Status",
            &format!(
                "Started listening on passed TCP socket on port {}, WebSocket port {}",
                tcp_port.unwrap_or(0),
                ws_port_passed.unwrap_or(0)
            ),
        );
        if let Some(l) = tcp {
            let s = server.clone();
            std::thread::spawn(move || serve_tcp(s, l));
        }
        if let Some(l) = ws {
            ws_active = true;
            let s = server.clone();
            std::thread::spawn(move || serve_ws(s, l));
        }
        admin_listener = admin;
    } else {
        let listen = opts.get("listen");
        let tcp = bind(listen, port);
        log(
            "Info/Status",
            &format!(
                "Started listening for TCP connections on port {port} at address {}",
                listen.unwrap_or("0.0.0.0")
            ),
        );
        let s = server.clone();
        std::thread::spawn(move || serve_tcp(s, tcp));
        if ws_port > 0 {
            let ws_listen = opts.get("websocket-listen");
            let ws = bind(ws_listen, ws_port);
            ws_active = true;
            log(
                "Info/Status",
                &format!(
                    "Started listening for WebSocket connections on port {ws_port} at address {}",
                    ws_listen.unwrap_or("0.0.0.0")
                ),
            );
            let s = server.clone();
            std::thread::spawn(move || serve_ws(s, ws));
        }
        if admin_port > 0 && profile.webadmin {
            // The real web admin listens on all interfaces, whatever --listen says.
            admin_listener = Some(bind_web_admin(admin_port));
        }
    }
    if let Some(l) = admin_listener {
        if passed > 0 {
            eprintln!("Starting microhttpd on pre-opened socket");
        } else {
            let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
            eprintln!("Starting microhttpd on port {port}");
        }
        server.admin_fd.store(l.as_raw_fd(), Ordering::SeqCst);
        let s = server.clone();
        std::thread::spawn(move || serve_webadmin(s, l, ws_active));
    }
    if profile.systemd {
        notify("READY=1");
    }
    start_watchdog(profile.systemd);
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}
