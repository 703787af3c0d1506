//! dpserver's layout on a private dockerd: drawpile-srv (the real 2.3.0 build, else the
//! stand-in) and nginx (Debian's, in a locally built image) as services of one Compose
//! project, the site bind-mounted from nginx-config/. apply (under --root, so the admin runs
//! the listed commands: here the test) replaces the pre-2026 Origin check; after the reload
//! the three handshakes through the container's 443 pass.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::dockerd::Dockerd;
use crate::support::dpserver::{self, DOMAIN};
use crate::support::drawpile::Server;
use crate::support::*;

/// `nginx:dpw-test`: Debian's nginx with its libraries, a self-signed certificate for
/// DOMAIN where dpserver's image keeps it, and nginx.conf reading conf.d/*.conf.
pub(crate) fn build_nginx_image(d: &Dockerd) {
    let root = d.dir.path().join("rootfs-nginx");
    for dir in [
        "bin",
        "etc/nginx/conf.d",
        "usr/sbin",
        "usr/share/nginx/certificates",
        "var/log/nginx",
        "var/lib/nginx",
        "run",
        "tmp",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static");
    let _ = std::os::unix::fs::symlink("busybox", root.join("bin/sh"));
    std::fs::copy("/usr/sbin/nginx", root.join("usr/sbin/nginx")).unwrap();
    let ldd = Command::new("ldd").arg("/usr/sbin/nginx").output().unwrap();
    for l in String::from_utf8_lossy(&ldd.stdout).lines() {
        let t = l.trim();
        let Some(p) = t.split("=>").nth(1).unwrap_or(t).trim().split(' ').next() else {
            continue;
        };
        if p.starts_with('/') {
            let dest = root.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(p, dest).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/nginx/nginx.conf"),
        "user root;\nevents {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let certs = root.join("usr/share/nginx/certificates");
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(certs.join("privkey.pem"))
        .arg("-out")
        .arg(certs.join("fullchain.pem"))
        .args(["-subj", &format!("/CN={DOMAIN}")])
        .args(["-addext", &format!("subjectAltName=DNS:{DOMAIN}")])
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let tar = d.dir.path().join("rootfs-nginx.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    d.ok(&[
        "import",
        "--change",
        "ENTRYPOINT [\"/usr/sbin/nginx\", \"-g\", \"daemon off;\"]",
        tar.to_str().unwrap(),
        "nginx:dpw-test",
    ]);
}

/// dpserver's docker-compose.yaml reduced to the two services there are images for, with
/// nginx's 443 published on `https_port`.
pub(crate) fn compose_text(https_port: u16) -> String {
    format!(
        "services:\n    drawpile-srv:\n        image: drawpile/drawpile-srv:${{DP_VERSION:-2.3.0}}\n        command: \n            --local-host ${{DOMAIN}}\n            --websocket-port 27751\n        restart: always\n        networks:\n            - dpserver\n\n    nginx:\n        image: nginx:dpw-test\n        restart: always\n        ports:\n            - \"127.0.0.1:{https_port}:443\"\n        volumes:\n            - type: bind\n              source: ./nginx-config\n              target: /etc/nginx/conf.d\n              read_only: true\n        networks:\n            - dpserver\n\nnetworks:\n    dpserver:\n        driver: bridge\n"
    )
}

/// dpserver's site with `origin_check`, without the list server and the web admin, whose
/// containers are not here (nginx resolves every proxy_pass name when it loads).
pub(crate) fn site_without_missing_services(origin_check: &str) -> String {
    let conf = dpserver::default_conf(origin_check);
    let cut = |s: &str, start: &str| {
        let a = s.find(start).unwrap();
        let b = s[a..].find("\n\t}\n").unwrap() + a + 4;
        format!("{}{}", &s[..a], &s[b..])
    };
    cut(
        &cut(&conf, "\tlocation /admin/ {"),
        "\tlocation /listing/ {",
    )
}

pub(crate) fn run_compose(d: &Dockerd, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("docker-compose")
        .current_dir(dir)
        .args(["-p", "dpserver"])
        .args(args)
        .env("DOCKER_HOST", &d.host)
        .env("DOCKER_CONFIG", d.dir.path().join("cfg"))
        .output()
        .unwrap()
}

#[test]
fn apply_fixes_the_old_origin_check_in_dpservers_nginx_container() {
    if skip_unless_root("a private dockerd")
        || skip_unless_program("dockerd")
        || skip_unless_program("docker-compose")
        || skip_unless_program("nginx")
    {
        return;
    }
    let d = Dockerd::start();
    d.build_image("2.3.0", &Server::pick("2.3.0"));
    build_nginx_image(&d);
    let m = FakeMachine::debian12();
    // The audit takes a container publishing 443 on host port 443 as the web server in front.
    let https_port = 443;
    if std::net::TcpListener::bind(("127.0.0.1", https_port)).is_err() {
        eprintln!("skipped: 127.0.0.1:443 is busy");
        return;
    }
    // The site: dpserver's before 2026.
    let conf = site_without_missing_services(dpserver::PRE_2026_ORIGIN_CHECK);
    dpserver::install(&m, "/root/dpserver", &compose_text(https_port), &conf);
    let dir = m.path("/root/dpserver");
    let up = run_compose(&d, &dir, &["up", "-d"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let probe = || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = rt.block_on(dpwizard::verify::check_proxy(
                DOMAIN,
                std::net::SocketAddr::from(([127, 0, 0, 1], https_port)),
                dpwizard::verify::TlsVerify::Insecure,
                Duration::from_secs(3),
            ));
            if r.checks.iter().all(|c| c.status.is_some()) || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    // Before: the desktop app (no Origin) is refused.
    let before = probe();
    assert!(
        before
            .checks
            .iter()
            .any(|c| c.origin.is_none() && c.status == Some(403) && !c.passed),
        "{before:?}"
    );

    let a = tempfile::tempdir().unwrap();
    let answers = a.path().join("a.toml");
    std::fs::write(&answers, format!("[site]\ndomain = \"{DOMAIN}\"\n")).unwrap();
    let out = Command::new(dpwizard_bin())
        .arg("--root")
        .arg(m.root())
        .args(["--color", "never", "apply", "--yes", "--answers"])
        .arg(&answers)
        .env("DOCKER_HOST", &d.host)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("exec -T nginx nginx -s reload"), "{stdout}");
    // The commands apply listed, run by the admin (here: the test): check, then reload.
    let t = run_compose(&d, &dir, &["exec", "-T", "nginx", "nginx", "-t"]);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let r = run_compose(&d, &dir, &["exec", "-T", "nginx", "nginx", "-s", "reload"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    std::thread::sleep(Duration::from_millis(500));
    let after = probe();
    assert!(after.passed(), "{after:?}");
    assert_eq!(after.checks.len(), 3, "{after:?}");

    // A second apply changes nothing; rollback restores the site.
    let again = Command::new(dpwizard_bin())
        .arg("--root")
        .arg(m.root())
        .args(["apply", "--yes", "--answers"])
        .arg(&answers)
        .env("DOCKER_HOST", &d.host)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to do"),
        "{again:?}"
    );
    assert_eq!(m.dpwizard(["rollback"]).code, 0);
    assert_eq!(m.read("/root/dpserver/nginx-config/default.conf"), conf);

    // With the daemon visible and nginx stopped: checked in a throwaway container of the
    // service (same mounts), then started rather than reloaded.
    crate::support::dockerd::host_clis(&m);
    let stop = run_compose(&d, &dir, &["stop", "nginx"]);
    assert!(stop.status.success());
    let plan = Command::new(dpwizard_bin())
        .arg("--root")
        .arg(m.root())
        .args(["--color", "never", "plan", "--answers"])
        .arg(&answers)
        .env("DOCKER_HOST", &d.host)
        .env("DOCKER_CONFIG", d.dir.path().join("cfg"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&plan.stdout);
    let check = "run --rm --no-deps -T --entrypoint nginx nginx -t";
    assert!(out.contains(check), "{out}");
    assert!(out.contains("up -d nginx"), "{out}");
    assert!(!out.contains("-s reload"), "{out}");
    // That check, run as listed, works on the real daemon and refuses a broken site.
    let args: Vec<&str> = check.split(' ').collect();
    let ok = run_compose(&d, &dir, &args);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    m.file(
        "/root/dpserver/nginx-config/default.conf",
        conf.replace("proxy_http_version 1.1;", "proxy_http_version;"),
    );
    let bad = run_compose(&d, &dir, &args);
    assert!(!bad.status.success());
    let _ = run_compose(&d, &dir, &["down"]);
}
