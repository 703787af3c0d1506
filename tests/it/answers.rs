//! Answers files through the real binary: every bad file gives exit 2 and a message naming
//! the line, column and key; good files pass. Expected positions come from where each case
//! puts its bad line, not from the output.

use crate::support::*;

/// (what, file text with the bad value on the line marked `#<`, key named, words expected)
const BAD: &[(&str, &str, &str, &str)] = &[
    (
        "unknown key",
        "[site]\ndomain = \"draw.example.com\"\ndomian = \"x\" #<\n",
        "",
        "unknown field `domian`",
    ),
    (
        "unknown section",
        "[site]\ndomain = \"draw.example.com\"\n[nginx] #<\n",
        "",
        "unknown field `nginx`",
    ),
    (
        "wrong type",
        "[site]\ndomain = \"draw.example.com\"\n[drawpile]\nwebsocket_port = \"27751\" #<\n",
        "",
        "invalid type",
    ),
    (
        "port 0",
        "[site]\ndomain = \"draw.example.com\"\n[drawpile]\nwebsocket_port = 0 #<\n",
        "drawpile.websocket_port",
        "out of range",
    ),
    (
        "port 70000",
        "[site]\ndomain = \"draw.example.com\"\n[drawpile]\ntcp_port = 70000 #<\n",
        "drawpile.tcp_port",
        "out of range",
    ),
    (
        "duplicate ports",
        "[site]\ndomain = \"draw.example.com\"\n[drawpile]\nwebsocket_port = 27750\ntcp_port = 27750 #<\n",
        "drawpile.tcp_port",
        "same port",
    ),
    (
        "IPv4 domain",
        "[site]\ndomain = \"203.0.113.5\" #<\n",
        "site.domain",
        "IP address",
    ),
    (
        "IPv6 domain",
        "[site]\ndomain = \"2001:db8::5\" #<\n",
        "site.domain",
        "IP address",
    ),
    (
        "localhost",
        "[site]\ndomain = \"localhost\" #<\n",
        "site.domain",
        "only works on this machine",
    ),
    (
        "semicolon in domain",
        "[site]\ndomain = \"draw.example.com; return 200\" #<\n",
        "site.domain",
        "could break out",
    ),
    (
        "quote in domain",
        "[site]\ndomain = 'draw\"example.com' #<\n",
        "site.domain",
        "could break out",
    ),
    // A multi-line string: the error points at where the value starts.
    (
        "newline in domain",
        "[site]\ndomain = \"\"\"\\\n  draw.example.com\nx.y\"\"\" # value starts on the line above\n",
        "site.domain",
        "newline",
    ),
    (
        "dollar in domain",
        "[site]\ndomain = \"$host.example.com\" #<\n",
        "site.domain",
        "could break out",
    ),
    (
        "brace in domain",
        "[site]\ndomain = \"a}.example.com\" #<\n",
        "site.domain",
        "could break out",
    ),
    (
        "origin with path",
        "[site]\ndomain = \"draw.example.com\"\n[proxy]\nextra_origins = [\"https://a.example.com/x\"] #<\n",
        "proxy.extra_origins",
        "path",
    ),
    (
        "http origin",
        "[site]\ndomain = \"draw.example.com\"\n[proxy]\nextra_origins = [\"http://a.example.com\"] #<\n",
        "proxy.extra_origins",
        "https://",
    ),
    (
        "origin injection",
        "[site]\ndomain = \"draw.example.com\"\n[proxy]\nextra_origins = [\"https://a.example.com\\\") { return 200; }\"] #<\n",
        "proxy.extra_origins",
        "origin",
    ),
    (
        "official origin again",
        "[site]\ndomain = \"draw.example.com\"\n[proxy]\nextra_origins = [\"https://web.drawpile.net\"] #<\n",
        "proxy.extra_origins",
        "always allowed",
    ),
    (
        "relative path",
        "[site]\ndomain = \"draw.example.com\"\n[tls]\nmode = \"existing\"\ncertificate = \"certs/x.pem\" #<\nkey = \"/etc/ssl/x.key\"\n",
        "tls.certificate",
        "not absolute",
    ),
    (
        "path with semicolon",
        "[site]\ndomain = \"draw.example.com\"\n[drawpile]\nbinary = \"/usr/bin/x;rm\" #<\n",
        "drawpile.binary",
        "could break out",
    ),
    (
        "bad runtime",
        "[site]\ndomain = \"draw.example.com\"\n[drawpile]\nruntime = \"kubernetes\" #<\n",
        "drawpile.runtime",
        "is not one of",
    ),
    (
        "bad tls mode",
        "[site]\ndomain = \"draw.example.com\"\n[tls]\nmode = \"letsencrypt\" #<\n",
        "tls.mode",
        "is not one of",
    ),
    (
        "certificate without key",
        "[site]\ndomain = \"draw.example.com\"\n[tls]\nmode = \"existing\"\ncertificate = \"/etc/ssl/x.pem\" #<\n",
        "tls.certificate",
        "go together",
    ),
    (
        "missing domain",
        "[site] #<\nemail = \"a@example.com\"\n",
        "site.domain",
        "required",
    ),
    ("empty file", "#<\n", "site.domain", "required"),
    (
        "plain http acme",
        "[site]\ndomain = \"draw.example.com\"\n[tls]\nacme_server = \"http://acme.example.com/dir\" #<\n",
        "tls.acme_server",
        "https://",
    ),
    (
        "root user",
        "[site]\ndomain = \"draw.example.com\"\n[drawpile]\nuser = \"root\" #<\n",
        "drawpile.user",
        "refuses to run as root",
    ),
    (
        "listen not an IP",
        "[site]\ndomain = \"draw.example.com\"\n[drawpile]\nwebsocket_listen = \"localhost\" #<\n",
        "drawpile.websocket_listen",
        "not an IP address",
    ),
    (
        "unknown proxy",
        "[site]\ndomain = \"draw.example.com\"\n[proxy]\nserver = \"lighttpd\" #<\n",
        "proxy.server",
        "is not one of \"nginx\", \"apache\", \"caddy\"",
    ),
    ("not TOML", "[site #<\ndomain = 1\n", "", "expected `]`"),
];

#[test]
fn every_bad_answers_file_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (what, text, key, words)) in BAD.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let marked = text
            .lines()
            .position(|l| l.contains("#<"))
            .map(|i| i + 1)
            .unwrap_or(2);
        let out = dpw([
            std::ffi::OsStr::new("answers"),
            "--check".as_ref(),
            path.as_os_str(),
        ]);
        let err = out.stderr.clone();
        assert_eq!(Some(out.code), Some(2), "{what}: {err}");
        let prefix = format!("{}:{marked}:", path.display());
        assert!(err.contains(&prefix), "{what}: expected {prefix} in {err}");
        if !key.is_empty() {
            assert!(err.contains(&format!("[{key}]")), "{what}: {err}");
        }
        assert!(err.contains(words), "{what}: expected {words:?} in {err}");
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.toml");
    std::fs::write(
        &path,
        "[site]\ndomain = \"1.2.3.4\"\n[drawpile]\nwebsocket_port = 0\n[tls]\nmode = \"x\"\n",
    )
    .unwrap();
    let out = dpw([
        std::ffi::OsStr::new("answers"),
        "--check".as_ref(),
        path.as_os_str(),
    ]);
    let err = out.stderr.clone();
    assert_eq!(err.lines().count(), 3, "{err}");
}

#[test]
fn unreadable_and_non_utf8_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"[site]\ndomain = \"caf\xe9.example.com\"\n").unwrap();
    let out = dpw([
        std::ffi::OsStr::new("answers"),
        "--check".as_ref(),
        path.as_os_str(),
    ]);
    assert_eq!(Some(out.code), Some(2));
    assert!(out.stderr.clone().contains("not UTF-8"));
    let out = dpw(["answers", "--check", "/nonexistent/a.toml"]);
    assert_eq!(Some(out.code), Some(2));
    assert!(out.stderr.clone().contains("/nonexistent/a.toml"));
}

#[test]
fn good_files_and_the_template_once_its_domain_is_edited_pass() {
    let dir = tempfile::tempdir().unwrap();
    let t = dpw(["answers", "--template"]);
    assert_eq!(Some(t.code), Some(0));
    let path = dir.path().join("template.toml");
    std::fs::write(&path, &t.stdout).unwrap();
    let check = |path: &std::path::Path| {
        dpw([
            std::ffi::OsStr::new("answers"),
            "--check".as_ref(),
            path.as_os_str(),
        ])
    };
    // As printed, it still has the example domain: refused, at its place, saying what to do.
    let out = check(&path);
    assert_eq!(Some(out.code), Some(2), "{}", out.stdout);
    let line = t
        .stdout
        .lines()
        .position(|l| l.starts_with("domain = "))
        .expect("the domain line")
        + 1;
    assert!(
        out.stderr
            .contains(&format!("{}:{line}:10: [site.domain]", path.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("edit site.domain"), "{}", out.stderr);
    // Edited, it passes.
    std::fs::write(
        &path,
        t.stdout.replace(
            "domain = \"draw.example.com\"",
            "domain = \"paint.example.net\"",
        ),
    )
    .unwrap();
    let out = check(&path);
    assert_eq!(Some(out.code), Some(0), "{}", out.stderr.clone());
    let path = dir.path().join("good.toml");
    std::fs::write(
        &path,
        "[site]\ndomain = \"Paint.Example.com\"\nemail = \"admin@example.com\"\n[drawpile]\nwebsocket_port = 27755\nwebsocket_listen = \"127.0.0.1\"\n[tls]\nmode = \"certbot\"\nacme_server = \"https://localhost:14000/dir\"\n[proxy]\nextra_origins = [\"https://paint.example.org:8443\"]\n",
    )
    .unwrap();
    let out = dpw([
        std::ffi::OsStr::new("--json"),
        "answers".as_ref(),
        "--check".as_ref(),
        path.as_os_str(),
    ]);
    assert_eq!(Some(out.code), Some(0), "{}", out.stderr.clone());
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(jget(&v, "site.domain"), "paint.example.com");
    assert_eq!(jget(&v, "drawpile.websocket_port"), 27755);
    assert_eq!(jget(&v, "tls.mode"), "certbot");
    assert_eq!(
        jget(&v, "proxy.extra_origins.0"),
        "https://paint.example.org:8443"
    );
}
