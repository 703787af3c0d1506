//! dpwizard on a tree someone else wrote (issue 11): reads stay inside `--root`, a device or
//! FIFO where a file should be is reported instead of read, nothing from the tree runs as
//! root, and `nginx -t` changes nothing outside its sandbox.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{FakeMachine, dpwizard_bin, skip_unless_root};

/// What a bounded run of dpwizard did.
#[derive(Debug)]
struct Bounded {
    code: Option<i32>,
    out: String,
    took: Duration,
}

/// Address space a bounded run may use: far more than dpwizard needs, far less than a read
/// of /dev/zero would take.
const MEMORY_CAP: u64 = 1 << 30;

/// Runs dpwizard with its address space capped and a 20 s deadline (killed after it).
fn bounded(root: Option<&Path>, args: &[&str]) -> Bounded {
    let mut cmd = Command::new(dpwizard_bin());
    if let Some(r) = root {
        cmd.arg("--root").arg(r);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MEMORY_CAP,
                rlim_max: MEMORY_CAP,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn dpwizard");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    let out = reader.join().unwrap_or_default() + &ereader.join().unwrap_or_default();
    Bounded { code, out, took }
}

fn assert_finished(b: &Bounded, what: &str) {
    assert!(
        b.code.is_some() && b.took < Duration::from_secs(15),
        "{what}: did not finish in time ({:?}, code {:?}): {}",
        b.took,
        b.code,
        b.out
    );
    assert!(
        !b.out.contains("memory allocation") && !b.out.contains("panicked"),
        "{what}: {}",
        b.out
    );
}

fn mkfifo(p: &Path) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
}

/// A host file with a secret, and a tree whose links point at it, absolutely and by `..`:
/// inside the tree neither target exists.
#[test]
fn a_dangling_link_to_a_host_file_is_never_read() {
    let host_dir = tempfile::tempdir().expect("tempdir");
    let secret = host_dir.path().join("secret");
    std::fs::write(
        &secret,
        "PRETTY_NAME=\"HOST-SECRET-7f3a\"\nserver { server_name HOST-SECRET-7f3a; }\n",
    )
    .expect("write secret");
    let secret_abs = secret.display().to_string();

    let m = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(m.root());
    m.symlink("/etc/os-release", &secret_abs);
    m.symlink("/etc/nginx/sites-enabled/evil", &secret_abs);
    // Enough `..` to climb out of any temp dir, then the host path.
    let climb = format!("{}{}", "../".repeat(30), secret_abs.trim_start_matches('/'));
    m.symlink("/etc/nginx/conf.d/climb.conf", &climb);

    for json in [false, true] {
        let mut args = vec!["detect"];
        if json {
            args.push("--json");
        }
        let run = m.dpwizard(&args);
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(
            !all.contains("HOST-SECRET-7f3a"),
            "the host's file was read through a link in the tree:\n{all}"
        );
        assert!(
            all.contains("dangling link"),
            "a link to nothing inside the tree is not called dangling:\n{all}"
        );
    }
}

/// A site file, certificate, drop-in and os-release that are the tree's /dev/zero; FIFOs in
/// sites-enabled, as a drop-in and as os-release: every command finishes within seconds in
/// 1 GiB of address space and names the path.
#[test]
fn devices_and_fifos_are_reported_not_read() {
    if skip_unless_root("mknod for the tree's /dev/zero") {
        return;
    }
    let zero = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(zero.root());
    zero.dir("/dev");
    nix::sys::stat::mknod(
        &zero.path("/dev/zero"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 5),
    )
    .expect("mknod");
    zero.symlink("/etc/nginx/sites-enabled/zero", "/dev/zero")
        .symlink("/etc/os-release", "/dev/zero")
        .symlink("/etc/ssl/zero.pem", "/dev/zero")
        .file(
            "/etc/nginx/conf.d/tls.conf",
            "server {\n    listen 443 ssl;\n    server_name paint.example.com;\n    \
             ssl_certificate /etc/ssl/zero.pem;\n    ssl_certificate_key /etc/ssl/zero.pem;\n}\n",
        )
        .unit(
            "drawpile-srv.service",
            "[Service]\nExecStart=/usr/bin/drawpile-srv\n",
        )
        .symlink(
            "/etc/systemd/system/drawpile-srv.service.d/zero.conf",
            "/dev/zero",
        );

    let fifo = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(fifo.root());
    fifo.unit(
        "drawpile-srv.service",
        "[Service]\nExecStart=/usr/bin/drawpile-srv\n",
    );
    std::fs::remove_file(fifo.path("/etc/os-release")).expect("rm");
    mkfifo(&fifo.path("/etc/os-release"));
    mkfifo(&fifo.path("/etc/nginx/sites-enabled/pipe"));
    mkfifo(&fifo.path("/etc/systemd/system/drawpile-srv.service.d/pipe.conf"));

    let (_dir, answers) = crate::support::answers_file(
        "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n",
    );
    for (m, expect) in [
        (
            &zero,
            &[
                "/etc/nginx/sites-enabled/zero",
                "/etc/os-release",
                "/etc/ssl/zero.pem",
                "zero.conf",
                "character device",
            ][..],
        ),
        (
            &fifo,
            &[
                "/etc/nginx/sites-enabled/pipe",
                "/etc/os-release",
                "pipe.conf",
                "FIFO",
            ][..],
        ),
    ] {
        for args in [
            &["detect"][..],
            &["detect", "--json"],
            &["audit", "--offline"],
            &["plan", "--answers", &answers],
        ] {
            let b = bounded(Some(m.root()), args);
            assert_finished(&b, &format!("{args:?}"));
            if args[0] == "detect" {
                for e in expect {
                    assert!(b.out.contains(e), "{args:?}: {e:?} not named:\n{}", b.out);
                }
            }
        }
    }
}

#[test]
fn an_answers_file_that_is_a_device_or_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipe = dir.path().join("answers.toml");
    mkfifo(&pipe);
    let pipe = pipe.display().to_string();
    let m = FakeMachine::debian12();
    for (root, args, expect) in [
        (
            None,
            vec!["answers", "--check", "/dev/zero"],
            "character device",
        ),
        (None, vec!["answers", "--check", pipe.as_str()], "FIFO"),
        (
            Some(m.root()),
            vec!["plan", "--answers", pipe.as_str()],
            "FIFO",
        ),
        (
            Some(m.root()),
            vec!["apply", "--yes", "--answers", "/dev/zero"],
            "character device",
        ),
    ] {
        let b = bounded(root, &args);
        assert_finished(&b, &format!("{args:?}"));
        assert_ne!(b.code, Some(0), "{args:?}: {}", b.out);
        assert!(b.out.contains(expect), "{args:?}: {}", b.out);
        assert!(
            b.out.contains(args.last().copied().unwrap_or_default()),
            "{args:?}: the path is not named: {}",
            b.out
        );
    }
}

/// An answers file larger than its cap is refused with the cap named, not read.
#[test]
fn an_oversized_answers_file_is_refused_with_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.toml");
    let mut text = String::from("[site]\ndomain = \"paint.example.com\"\n");
    while text.len() <= 1 << 20 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, text).expect("write");
    let b = bounded(None, &["answers", "--check", &big.display().to_string()]);
    assert_finished(&b, "answers --check big");
    assert_eq!(b.code, Some(2), "{}", b.out);
    assert!(b.out.contains("larger than 1 MiB"), "{}", b.out);
}

/// A script that records the uid it ran as in `record/<name>`, then does `then`.
fn recorder(record: &Path, name: &str, then: &str) -> String {
    format!("#!/bin/sh\nid -u >> {}/{name}\n{then}\n", record.display())
}

/// The tree's nginx, apache2, caddy, certbot, docker and docker-compose are never run under
/// `--root` (their versions come from the tree's package database), and a drawpile-srv
/// wrapper script is read, not run: the binary its `exec` line names is probed instead.
#[test]
fn nothing_from_the_tree_runs_as_root_and_no_wrapper_script_runs() {
    let record = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        record.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let m = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(m.root());
    for (path, name) in [
        ("/usr/sbin/nginx", "nginx"),
        ("/usr/sbin/apache2", "apache2"),
        ("/usr/bin/caddy", "caddy"),
        ("/usr/bin/certbot", "certbot"),
        ("/usr/bin/docker", "docker"),
        ("/usr/bin/docker-compose", "docker-compose"),
    ] {
        m.exec(
            path,
            recorder(record.path(), name, "echo 'nginx version: nginx/6.6.6' >&2"),
        );
    }
    m.file(
        "/var/lib/dpkg/status",
        "Package: nginx\nStatus: install ok installed\nVersion: 1.22.1-9+deb12u1\n\n\
         Package: certbot\nStatus: install ok installed\nVersion: 2.1.0-4\n\n\
         Package: docker.io\nStatus: install ok installed\nVersion: 20.10.24+dfsg1-1+b3\n",
    );
    // A wrapper named drawpile-srv that starts the real binary, and one that starts another
    // script: neither may run; the first one's binary is probed (as nobody).
    m.with_drawpile(
        "/usr/bin/drawpile-srv",
        &crate::support::drawpile::Build::v("2.3.0"),
    );
    m.exec(
        "/opt/dp/drawpile-srv",
        recorder(
            record.path(),
            "wrapper",
            "exec /usr/bin/drawpile-srv \"$@\"",
        ),
    );
    m.exec(
        "/opt/other/drawpile-srv",
        recorder(record.path(), "wrapper2", "exec /opt/other/start.sh \"$@\""),
    );
    m.exec(
        "/opt/other/start.sh",
        recorder(record.path(), "start", "mkdir -p /tmp/started"),
    );
    m.unit(
        "drawpile-srv.service",
        "[Service]\nUser=nobody\nExecStart=/opt/dp/drawpile-srv --port 27750\n",
    )
    .unit(
        "drawpile-other.service",
        "[Service]\nExecStart=/opt/other/drawpile-srv\n",
    );
    let (_d, answers) = crate::support::answers_file(
        "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n",
    );

    let v = m.detect_json(&[]);
    for args in [
        &["detect"][..],
        &["audit", "--offline"],
        &["plan", "--answers", &answers],
        &["apply", "--yes", "--answers", &answers],
    ] {
        let run = m.dpwizard(args);
        assert!(!run.stderr.contains("panicked"), "{args:?}: {run:?}");
    }
    let ran: Vec<(String, String)> = std::fs::read_dir(record.path())
        .expect("record dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        ran.is_empty(),
        "programs of the tree ran (name, uids): {ran:?}"
    );

    // Versions without running anything: the package database.
    let nginx = crate::support::jget(&v, "web_servers")
        .as_array()
        .expect("web servers")
        .iter()
        .find(|w| w["name"] == "nginx")
        .cloned()
        .expect("nginx");
    assert_eq!(nginx["version"], "1.22.1");
    assert_eq!(crate::support::jget(&v, "tls.certbot_version"), "2.1.0");
    assert_eq!(
        crate::support::jget(&v, "runtime.docker.cli_version"),
        "20.10.24"
    );
    let probes = crate::support::jget(&v, "probes").to_string();
    assert!(
        probes.contains("not run: it belongs to the tree under --root"),
        "{probes}"
    );
    let bins = crate::support::jget(&v, "drawpile.binaries")
        .as_array()
        .expect("binaries")
        .clone();
    let by_path = |p: &str| {
        bins.iter()
            .find(|b| b["path"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("{p} not among {bins:#?}"))
    };
    let wrapper = by_path("/opt/dp/drawpile-srv");
    assert_eq!(wrapper["version"], "2.3.0", "{wrapper:#}");
    assert_eq!(wrapper["probed_as"], "nobody", "{wrapper:#}");
    assert_eq!(
        wrapper["probe_note"],
        "a script; it starts /usr/bin/drawpile-srv, which was probed instead"
    );
    let other = by_path("/opt/other/drawpile-srv");
    assert_eq!(
        other["error"],
        "not probed: a script; it starts /opt/other/start.sh"
    );
    assert_eq!(other["version"], serde_json::Value::Null);
    assert!(!m.path("/tmp/started").exists() && !Path::new("/tmp/started").exists());
}

/// Every entry under `dir` with its mode, owner and size, sorted: what "nothing changed"
/// is compared by.
fn listing(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let meta = std::fs::symlink_metadata(&d).expect("stat");
        out.push(format!(
            "{} {:o} {}:{} {}",
            d.strip_prefix(dir).unwrap_or(&d).display(),
            meta.mode(),
            meta.uid(),
            meta.gid(),
            if meta.is_file() { meta.len() } else { 0 }
        ));
        if meta.is_dir() {
            for e in std::fs::read_dir(&d).expect("read_dir") {
                todo.push(e.expect("entry").path());
            }
        }
    }
    out.sort();
    out
}

/// Debian's nginx and drawpile-srv 2.3.0 with the upstream unit: enough to plan and apply.
fn drawpile_machine() -> FakeMachine {
    let m = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(m.root());
    m.with_drawpile(
        "/usr/local/bin/drawpile-srv",
        &crate::support::drawpile::Build::v("2.3.0"),
    )
    .unit(
        "drawpile-srv.service",
        &crate::support::systemd::upstream_service("/usr/local", false),
    );
    m
}

/// The ids of the audit's passed checks and the evidence of a failed one.
fn audit_nginx_t(m: &FakeMachine) -> Result<(), String> {
    let run = m.dpwizard(["audit", "--offline", "--json"]);
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    let passed = v["passed"]
        .as_array()
        .expect("passed")
        .iter()
        .any(|p| p["id"] == "DPW-PROXY-012" || *p == "DPW-PROXY-012");
    if passed {
        return Ok(());
    }
    let finding = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "DPW-PROXY-012")
        .unwrap_or_else(|| panic!("nginx -t neither passed nor failed: {v:#}"));
    Err(finding["evidence"].to_string())
}

/// `nginx -t` (the audit's and apply's) runs in a sandbox: temp paths, logs and pid named
/// by the configuration are created in a throwaway overlay, never on this machine (here: a
/// root-owned 0555 directory outside the tree, which the sandbox does not even show) nor
/// in the tree.
#[test]
fn nginx_t_changes_nothing_outside_its_sandbox() {
    if skip_unless_root("mount namespaces for nginx -t")
        || crate::support::skip_unless_program("nginx")
    {
        return;
    }
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("keep"), "x").expect("write");
    std::fs::set_permissions(
        outside.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o555),
    )
    .expect("chmod");
    let o = outside.path().display();
    let m = drawpile_machine();
    m.file(
        "/etc/nginx/conf.d/elsewhere.conf",
        format!("proxy_temp_path {o}/proxy_temp;\naccess_log {o}/access.log;\n"),
    );
    let before_outside = listing(outside.path());
    let before_tree = listing(m.root());

    // Paths of this machine: not in the tree, so nginx -t fails on them, and they are
    // neither created nor chowned here.
    let evidence = audit_nginx_t(&m).expect_err("the host's directory is not the tree's");
    assert!(evidence.contains(&format!("{o}/proxy_temp")), "{evidence}");
    assert_eq!(
        listing(outside.path()),
        before_outside,
        "audit wrote outside the tree"
    );
    assert_eq!(listing(m.root()), before_tree, "audit wrote into the tree");

    // Paths in the tree (its parents read-only): nginx -t passes, and the tree is as it was.
    m.dir("/var/cache/dpw").dir("/var/log/dpw");
    m.chmod("/var/cache/dpw", 0o555);
    m.file(
        "/etc/nginx/conf.d/elsewhere.conf",
        "proxy_temp_path /var/cache/dpw/proxy_temp;\nclient_body_temp_path /var/cache/dpw/body;\n\
         access_log /var/log/dpw/access.log;\nerror_log /var/log/dpw/error.log;\n",
    );
    let before_tree = listing(m.root());
    audit_nginx_t(&m).expect("nginx -t passes on paths the tree has");
    assert_eq!(listing(m.root()), before_tree, "audit wrote into the tree");

    // Apply under --root: its nginx -t passes, and only the planned files change.
    let (_d, answers) = crate::support::answers_file(
        "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let run = m.dpwizard(["apply", "--yes", "--answers", &answers]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("nginx -t"), "{}", run.stdout);
    assert_eq!(
        listing(outside.path()),
        before_outside,
        "apply wrote outside the tree"
    );
    assert_eq!(
        listing(&m.path("/var/cache/dpw")),
        vec![" 40555 0:0 0".to_string()],
        "apply's nginx -t created its temp paths in the tree"
    );
    assert!(!m.path("/var/log/dpw/access.log").exists());
    assert!(!m.path("/run/nginx.pid").exists());
}

/// On the live machine too (a throwaway VPS here), the audit's `nginx -t` runs in the
/// sandbox: a temp path and a log in a root-owned 0555 directory are not created, the
/// directory is not chowned, and nginx's own /var/lib/nginx stays as it was.
#[test]
fn live_nginx_t_changes_nothing_either() {
    if skip_unless_root("a throwaway VPS") || crate::support::skip_unless_program("nginx") {
        return;
    }
    let vps = crate::support::vps::Vps::new();
    vps.file(
        "/etc/nginx/conf.d/elsewhere.conf",
        "proxy_temp_path /srv/dpw/proxy_temp;\naccess_log /srv/dpw/access.log;\n",
        0o644,
    );
    let script = format!(
        r#"set -e
mkdir -p /srv/dpw && chmod 555 /srv/dpw
ls -la --time-style=+ /srv/dpw /var/lib/nginx > /results/before 2>&1 || true
{bin} --root / audit --offline --json > /results/audit.json || true
ls -la --time-style=+ /srv/dpw /var/lib/nginx > /results/after 2>&1 || true
"#,
        bin = crate::support::dpwizard_in_machine()
    );
    let out = vps.run(&script);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = vps.result("audit.json");
    let v: serde_json::Value =
        serde_json::from_str(&audit).unwrap_or_else(|e| panic!("{e}: {audit}"));
    let passed = v["passed"]
        .as_array()
        .expect("passed")
        .iter()
        .any(|p| p["id"] == "DPW-PROXY-012" || *p == "DPW-PROXY-012");
    assert!(passed, "nginx -t did not run and pass: {v:#}");
    let before = vps.result("before");
    assert!(before.contains("dr-xr-xr-x"), "{before}");
    assert_eq!(vps.result("after"), before);
}

/// 10,000 nested blocks (nginx itself accepts them) are a clear error with FILE:LINE:COLUMN
/// in every command, never a stack overflow.
#[test]
fn deeply_nested_nginx_blocks_are_an_error_not_a_crash() {
    let m = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(m.root());
    let depth = 10_000;
    m.file(
        "/etc/nginx/conf.d/deep.conf",
        format!(
            "server {{\n{}{}}}\n",
            "location / {\n".repeat(depth),
            "}\n".repeat(depth)
        ),
    );
    let (_d, answers) = crate::support::answers_file(
        "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n",
    );
    for args in [
        &["detect"][..],
        &["detect", "--json"],
        &["audit", "--offline"],
        &["plan", "--answers", &answers],
    ] {
        let b = bounded(Some(m.root()), args);
        assert_finished(&b, &format!("{args:?}"));
        assert!(
            matches!(b.code, Some(0..=3)),
            "{args:?} ended by a signal or crash: {b:?}"
        );
        if args[0] == "detect" {
            assert!(
                b.out.contains("/etc/nginx/conf.d/deep.conf:101:")
                    && b.out.contains("nested more than 100 deep"),
                "{args:?}: {}",
                b.out
            );
        }
    }
}

/// A drop-in directory that is a regular file is called one, in detect and in apply (it
/// used to be "a symbolic link").
#[test]
fn a_dropin_directory_that_is_a_file_is_named_for_what_it_is() {
    let m = drawpile_machine();
    m.file(
        "/etc/systemd/system/drawpile-srv.service.d",
        "not a directory\n",
    );
    let v = m.detect_json(&[]);
    let units = crate::support::jget(&v, "runtime.units").to_string();
    assert!(
        units.contains(
            "/etc/systemd/system/drawpile-srv.service.d is a regular file, not a directory"
        ),
        "{units}"
    );
    let (_d, answers) = crate::support::answers_file(
        "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let run = m.dpwizard(["apply", "--yes", "--answers", &answers]);
    assert_ne!(run.code, 0, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(
            "/etc/systemd/system/drawpile-srv.service.d is a regular file, not a directory"
        ),
        "{all}"
    );
    assert!(!all.contains("symbolic link"), "{all}");
}

/// Escape sequences, bells and bidi overrides in a tree's files reach the terminal only as
/// visible escapes, in detect's and the audit's text (with colour on, too).
#[test]
fn control_and_bidi_characters_from_files_are_escaped_in_text_output() {
    let m = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(m.root());
    m.file(
        "/etc/nginx/sites-enabled/evil\u{202e}fnoc",
        "server {\n    listen 443 ssl;\n    server_name \"paint\x1b]0;pwned\x07.example.com\";\n}\n",
    )
    .unit(
        "drawpile-srv.service",
        "[Service]\nExecStart=/usr/bin/drawpile-srv --motd \"\x1b[2J\x1b[8mhi\"\n",
    );
    for args in [
        &["detect"][..],
        &["--color", "always", "detect"],
        &["audit", "--offline"],
        &[
            "--color",
            "always",
            "audit",
            "--offline",
            "--domain",
            "paint.example.com",
        ],
    ] {
        let run = m.dpwizard(args);
        let all = format!("{}{}", run.stdout, run.stderr);
        for bad in ["\x07", "\u{202e}", "\x1b]", "\x1b[2J", "\x1b[8m"] {
            assert!(
                !all.contains(bad),
                "{args:?}: {bad:?} reached the terminal:\n{all}"
            );
        }
        assert!(
            all.contains("\\u{202e}") || all.contains("\\x1b"),
            "{args:?}: the hostile text is not shown escaped:\n{all}"
        );
    }
}

/// A FIFO planted where apply will write (dpwizard's own site file) neither blocks the plan
/// nor the apply: apply refuses it by name.
#[test]
fn a_fifo_at_a_path_apply_writes_is_refused_not_waited_on() {
    let m = drawpile_machine();
    let fifo = "/etc/nginx/sites-available/dpwizard-paint.example.com.conf";
    mkfifo(&m.path(fifo));
    let (_d, answers) = crate::support::answers_file(
        "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let plan = bounded(Some(m.root()), &["plan", "--answers", &answers]);
    assert_finished(&plan, "plan");
    let apply = bounded(Some(m.root()), &["apply", "--yes", "--answers", &answers]);
    assert_finished(&apply, "apply");
    assert_ne!(apply.code, Some(0), "{}", apply.out);
    assert!(
        apply.out.contains(&format!(
            "{fifo}: it is a FIFO (named pipe), not a regular file"
        )),
        "{}",
        apply.out
    );
}

/// Under `--root` the tree's passwd does not choose who probes drawpile-srv: a `nobody` with
/// uid 0 there (or a unit's `User=` that is a person's uid here) is not used; uid 65534 is.
#[test]
fn a_trees_passwd_cannot_make_the_probe_run_as_root() {
    if skip_unless_root("switching users for the probe") {
        return;
    }
    let m = drawpile_machine();
    m.file(
        "/etc/passwd",
        "root:x:0:0::/root:/bin/sh\nnobody:x:0:0::/:/bin/sh\nartist:x:0:0::/:/bin/sh\n",
    )
    .dropin(
        "drawpile-srv.service",
        "user.conf",
        "[Service]\nUser=artist\n",
    );
    let v = m.detect_json(&[]);
    let b = crate::support::jget(&v, "drawpile.binaries.0");
    // The stand-in refuses root like the real one: a version proves it ran unprivileged.
    assert_eq!(b["version"], "2.3.0", "{b:#}");
    assert_eq!(b["probed_as"], "nobody", "{b:#}");
}
