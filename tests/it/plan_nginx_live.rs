//! The rendered location, served by the REAL nginx over TLS, in front of a WebSocket backend:
//! the browser client's Origin and the desktop app's missing Origin get through (101 and a
//! Drawpile greeting), a foreign Origin gets 403. Probed with dpwizard's own verify module.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dpwizard::plan::nginx::{LocationSpec, render_location};
use dpwizard::verify::{self, TlsVerify};

use crate::support::*;

/// A real nginx in the foreground, killed on drop.
struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its workers; SIGKILL would orphan them.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_nginx(domain: &str, tls_port: u16, location: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let cert = dpwizard::plan::selfsigned::generate(domain, now(), 30).unwrap();
    std::fs::write(p.join("cert.pem"), &cert.cert_pem).unwrap();
    std::fs::write(p.join("key.pem"), &cert.key_pem).unwrap();
    let conf = format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n\
         server {{\n        listen 127.0.0.1:{tls_port} ssl;\n        server_name {domain};\n\
         ssl_certificate {dir}/cert.pem;\n        ssl_certificate_key {dir}/key.pem;\n\
         {location}\n    }}\n}}\n",
        dir = p.display()
    );
    std::fs::write(p.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(p)
        .arg("-c")
        .arg(p.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, _dir: dir }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A backend answering the upgrade like drawpile-srv 2.3.0 (recorded bytes), for this test
/// of the proxy path; the stand-in server replaces it in the end-to-end suites.
fn start_backend() -> SocketAddr {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let Some(key) = req.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("sec-websocket-key")
                        .then(|| v.trim().to_string())
                }) else {
                    return;
                };
                let json = r#"{"flags":["MULTI","AVATAR","MBANIMPEX","LOOKUP","CINFO"],"message":"Drawpile server 2.3.0","methods":{"guest":{"actions":["join","host"]}},"type":"login","version":4}"#;
                let mut resp = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    verify::accept_for_key(&key)
                )
                .into_bytes();
                resp.extend_from_slice(&[0x82, 0x7e]);
                resp.extend_from_slice(&((json.len() + 2) as u16).to_be_bytes());
                resp.extend_from_slice(&[0, 0]);
                resp.extend_from_slice(json.as_bytes());
                let _ = s.write_all(&resp);
                std::thread::sleep(Duration::from_millis(500));
            });
        }
    });
    addr
}

#[test]
fn rendered_location_behind_real_nginx_passes_the_three_handshakes() {
    if skip_unless_root("real nginx on loopback") || skip_unless_program("nginx") {
        return;
    }
    let backend = start_backend();
    let tls_port = free_port();
    let location = render_location(
        &LocationSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: backend.port(),
            extra_origins: vec!["https://paint.example.org".into()],
            revert_switches: vec![],
        },
        "        ",
    );
    let _nginx = start_nginx("draw.example.test", tls_port, &location);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt.block_on(verify::check_proxy(
        "draw.example.test",
        SocketAddr::from(([127, 0, 0, 1], tls_port)),
        TlsVerify::SystemRoots,
        Duration::from_secs(3),
    ));
    for c in &report.checks {
        assert!(c.passed, "{}: {}", c.name, c.detail);
    }
    let by_name = |n: &str| report.checks.iter().find(|c| c.name == n).unwrap();
    assert_eq!(by_name("proxy-foreign-origin").status, Some(403));
    assert_eq!(by_name("proxy-no-origin").status, Some(101));
    // Self-signed: verification failed, was reported, and the probe went on.
    let tls = report.tls.as_ref().unwrap();
    assert!(tls.verify_error.is_some());
    assert_eq!(tls.names, vec!["draw.example.test".to_string()]);

    // The extra origin is let through too, and a look-alike is not.
    let target = verify::Target {
        addr: SocketAddr::from(([127, 0, 0, 1], tls_port)),
        host: "draw.example.test".into(),
        tls: Some(TlsVerify::Insecure),
        timeout: Duration::from_secs(3),
    };
    let (hs, _) = rt
        .block_on(verify::ws_handshake(
            &target,
            Some("https://paint.example.org"),
        ))
        .unwrap();
    assert!(hs.reached_drawpile(), "{hs:?}");
    let (hs, _) = rt
        .block_on(verify::ws_handshake(
            &target,
            Some("https://paintXexample.org"),
        ))
        .unwrap();
    assert_eq!(hs.status, 403);
    let (hs, _) = rt
        .block_on(verify::ws_handshake(
            &target,
            Some("https://web.drawpile.net.evil.invalid"),
        ))
        .unwrap();
    assert_eq!(hs.status, 403);
}
