//! Apply's safety net: `kill -9` of a journalled run at many moments leaves every file either
//! entirely old or entirely new, and `dpwizard rollback` then restores the tree byte for byte.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::*;

const N: usize = 5;

fn old(i: usize) -> Vec<u8> {
    format!("old-{i}\n").repeat(200_000).into_bytes()
}

fn new(i: usize) -> Vec<u8> {
    format!("new-{i}\n").repeat(200_000).into_bytes()
}

/// A machine with files 0..N-1 except the last (which the run creates).
fn machine() -> FakeMachine {
    let m = FakeMachine::debian12();
    for i in 0..N - 1 {
        m.file(&format!("/etc/dpw-crash/file{i}"), old(i));
    }
    m
}

fn etc_files(m: &FakeMachine) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(m.path("/etc/dpw-crash"))
        .unwrap()
        .flatten()
    {
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        );
    }
    out
}

fn helper() -> std::path::PathBuf {
    target_dir().join("examples/journal-crash-helper")
}

#[test]
fn kill_9_at_any_moment_leaves_old_or_new_and_rollback_recovers() {
    // How long an undisturbed run takes, to spread the kills over it.
    let m = machine();
    let t = Instant::now();
    let st = Command::new(helper())
        .arg(m.root())
        .arg(N.to_string())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let full = t.elapsed();
    let after = etc_files(&m);
    for i in 0..N {
        assert_eq!(
            after[&format!("file{i}")],
            new(i),
            "an undisturbed run writes everything"
        );
    }

    let kills = 24;
    let mut midway = 0;
    for k in 0..kills {
        let m = machine();
        let before = etc_files(&m);
        let mut child = Command::new(helper())
            .arg(m.root())
            .arg(N.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(k as f64 / kills as f64));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for (name, bytes) in etc_files(&m) {
            if name.starts_with('.') {
                continue; // a temp file of the interrupted write; never the file itself
            }
            let i: usize = name.trim_start_matches("file").parse().unwrap();
            assert!(
                bytes == old(i) || bytes == new(i),
                "kill {k}: {name} is torn ({} bytes)",
                bytes.len()
            );
        }
        let files = etc_files(&m);
        if files.get("file0") == Some(&new(0)) && files.get("file3") == Some(&old(3)) {
            midway += 1;
        }
        let run = m.dpwizard(["rollback"]);
        if run.code == 2 {
            // Killed before the journal existed: nothing may have changed.
            assert!(run.stderr.contains("no runs"), "{run:?}");
            let now: BTreeMap<_, _> = etc_files(&m)
                .into_iter()
                .filter(|(n, _)| !n.starts_with('.'))
                .collect();
            assert_eq!(now, before, "kill {k}: files changed without a journal");
            continue;
        }
        assert_eq!(run.code, 0, "kill {k}: {run:?}");
        assert_eq!(
            etc_files(&m),
            before,
            "kill {k}: rollback did not restore the tree"
        );
    }
    // The kills really landed in the middle of runs, not only before or after them.
    assert!(midway >= 1, "no kill landed mid-run (run took {full:?})");
}

#[test]
fn rollback_refuses_to_clobber_later_edits_and_is_idempotent() {
    let m = machine();
    let st = Command::new(helper())
        .arg(m.root())
        .arg("2")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    m.file("/etc/dpw-crash/file0", "edited later\n");
    let run = m.dpwizard(["rollback"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("/etc/dpw-crash/file0 was changed after run"),
        "{}",
        run.stderr
    );
    let run = m.dpwizard(["rollback", "--force"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(m.read("/etc/dpw-crash/file0").as_bytes(), old(0).as_slice());
    let run = m.dpwizard(["rollback"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("already rolled back"), "{}", run.stdout);
    let run = m.dpwizard(["rollback", "20990101T000000Z-1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no run 20990101T000000Z-1"));
}

pub(crate) mod plan_and_apply {
    //! `plan` and `apply --answers` on a fake Debian VPS with nginx, a certbot site and a
    //! drawpile-srv unit; the real nginx validates and dumps the result.

    use crate::support::drawpile::Build;
    use crate::support::nginx::{real_nginx_dump, trees};
    use crate::support::systemd::upstream_service;
    use crate::support::*;

    /// Also the wizard tests' machine (tests/it/wizard.rs).
    pub(crate) fn machine() -> (FakeMachine, std::path::PathBuf, tempfile::TempDir) {
        let m = FakeMachine::debian12();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let c = dpwizard::plan::selfsigned::generate("paint.example.com", now, 90).unwrap();
        trees::certbot_site(m.root(), "paint.example.com", &c.cert_pem, &c.key_pem);
        // The fixture's hand-written location would (rightly) stop dpwizard: remove it here.
        let site = m.read("/etc/nginx/sites-available/paint.example.com");
        let start = site.find("    location /drawpile-web/ws {").unwrap();
        let end = site[start..].find("    }\n").unwrap() + start + 6;
        m.file(
            "/etc/nginx/sites-available/paint.example.com",
            format!("{}{}", &site[..start], &site[end..]),
        );
        m.with_drawpile("/usr/local/bin/drawpile-srv", &Build::v("2.3.0"))
            .unit_in("/usr/local/lib/systemd/system", "drawpile-srv.service", &upstream_service("/usr/local", false))
            .dropin("drawpile-srv.service", "override.conf", "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --port 27750 --websocket-port 27760\n")
            .enable("drawpile-srv.service", "multi-user.target", "/usr/local/lib/systemd/system/drawpile-srv.service");
        let dir = tempfile::tempdir().unwrap();
        let answers = dir.path().join("answers.toml");
        std::fs::write(&answers, "[site]\ndomain = \"paint.example.com\"\n[proxy]\nextra_origins = [\"https://paint.example.org\"]\n").unwrap();
        (m, answers, dir)
    }

    #[test]
    fn plan_apply_is_idempotent_and_rolls_back() {
        let (m, answers, _d) = machine();
        let site_before = m.read("/etc/nginx/sites-available/paint.example.com");
        let a = answers.to_str().unwrap();
        let plan = m.dpwizard(["--color", "never", "plan", "--answers", a]);
        assert_eq!(plan.code, 0, "{plan:?}");
        let dropin = "/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf";
        assert!(
            plan.stdout.contains(&format!("== {dropin}")),
            "{}",
            plan.stdout
        );
        // The configured WebSocket port (27760, from override.conf) is kept.
        assert!(plan.stdout.contains("+ExecStart=/usr/local/bin/drawpile-srv --port 27750 --websocket-port 27760 --websocket-listen 127.0.0.1"), "{}", plan.stdout);
        assert!(
            plan.stdout.contains("+    # BEGIN dpwizard"),
            "{}",
            plan.stdout
        );
        assert!(plan.stdout.contains("systemctl daemon-reload"));
        assert_eq!(m.dpwizard(["plan", "--check", "--answers", a]).code, 1);
        assert!(!m.path(dropin).exists(), "plan wrote something");

        let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", a]);
        assert_eq!(apply.code, 0, "{apply:?}");
        if is_root() && which_host("nginx").is_some() {
            assert!(
                apply
                    .stdout
                    .contains("nginx -t: the configuration is valid"),
                "{}",
                apply.stdout
            );
        }
        if which_host("systemd-analyze").is_some() {
            // Checked under --root too; the tree's missing sysinit.target is not held
            // against the drop-in.
            assert!(
                apply
                    .stdout
                    .contains("✓ systemd-analyze verify: the units are valid"),
                "{}",
                apply.stdout
            );
        }
        assert!(
            apply
                .stdout
                .contains("systemctl restart drawpile-srv.service"),
            "commands are listed under --root"
        );
        let site = m.read("/etc/nginx/sites-available/paint.example.com");
        assert!(
            site.contains("proxy_pass http://127.0.0.1:27760;"),
            "{site}"
        );
        assert!(site.contains("paint\\.example\\.org"), "{site}");
        // Every byte outside the inserted block is as before.
        let begin = site.find("    # BEGIN dpwizard").unwrap();
        let end = site.find("# END dpwizard\n").unwrap() + "# END dpwizard\n".len();
        assert_eq!(format!("{}{}", &site[..begin], &site[end..]), site_before);

        // Detect now sees what apply did.
        let v = m.detect_json(&[]);
        let unit = jget(&v, "runtime.units.0");
        assert_eq!(unit["options"]["websocket_port"], "27760");
        assert_eq!(unit["options"]["websocket_listen"], "127.0.0.1");
        assert_eq!(unit["exec_start_origin"]["file"], dropin);
        let tls = jget(&v, "nginx.servers")
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["ssl"] == true)
            .unwrap()
            .clone();
        assert!(
            tls["locations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["path"] == "/drawpile-web/ws")
        );
        if is_root() && which_host("nginx").is_some() {
            let real = real_nginx_dump(m.root());
            assert!(real.ok, "{}", real.stderr);
        }

        // Applying twice changes nothing.
        assert_eq!(m.dpwizard(["plan", "--check", "--answers", a]).code, 0);
        let again = m.dpwizard(["apply", "--yes", "--answers", a]);
        assert_eq!(again.code, 0);
        assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);

        let rb = m.dpwizard(["rollback"]);
        assert_eq!(rb.code, 0, "{rb:?}");
        assert_eq!(
            m.read("/etc/nginx/sites-available/paint.example.com"),
            site_before
        );
        assert!(!m.path(dropin).exists());
    }

    #[test]
    fn a_configuration_nginx_refuses_is_restored_byte_for_byte() {
        if skip_unless_root("nginx -t in namespaces") || skip_unless_program("nginx") {
            return;
        }
        let (m, _answers, d) = machine();
        let answers = d.path().join("bad.toml");
        // A new site for another name, pointing at certificate files that do not exist.
        std::fs::write(&answers, "[site]\ndomain = \"other.example.com\"\n[tls]\nmode = \"existing\"\ncertificate = \"/etc/ssl/none.pem\"\nkey = \"/etc/ssl/none.key\"\n").unwrap();
        let before: Vec<String> = ["/etc/nginx/sites-available/paint.example.com"]
            .iter()
            .map(|p| m.read(p))
            .collect();
        let run = m.dpwizard(["apply", "--yes", "--answers", answers.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("nginx -t refused"), "{}", run.stderr);
        assert!(run.stderr.contains("restored"), "{}", run.stderr);
        assert!(
            !m.path("/etc/nginx/sites-available/dpwizard-other.example.com.conf")
                .exists()
        );
        assert!(
            std::fs::symlink_metadata(
                m.path("/etc/nginx/sites-enabled/dpwizard-other.example.com.conf")
            )
            .is_err()
        );
        assert!(
            !m.path("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf")
                .exists()
        );
        assert_eq!(
            m.read("/etc/nginx/sites-available/paint.example.com"),
            before[0]
        );
    }

    #[test]
    fn apply_without_yes_and_no_terminal_refuses() {
        let (m, answers, _d) = machine();
        let run = m.dpwizard(["apply", "--answers", answers.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("--yes"), "{}", run.stderr);
        assert!(
            !m.path("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf")
                .exists()
        );
    }

    #[test]
    fn a_build_without_websockets_is_refused_with_the_reason() {
        let (m, answers, _d) = machine();
        m.with_drawpile(
            "/usr/local/bin/drawpile-srv",
            &Build::v("2.2.2").without_websockets(),
        );
        let run = m.dpwizard(["plan", "--answers", answers.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains("no WebSocket support"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("QtWebSockets: N/A"), "{}", run.stderr);
    }

    /// The unit already runs drawpile-srv right, only spelled and ordered otherwise: no
    /// drop-in, no restart (a restart ends every session on the server).
    #[test]
    fn a_unit_already_right_in_another_order_is_left_alone() {
        let (m, answers, _d) = machine();
        m.dropin(
            "drawpile-srv.service",
            "override.conf",
            "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --websocket-listen=127.0.0.1 -p 27750 --websocket-port 27760\n",
        );
        let plan = m.dpwizard([
            "--color",
            "never",
            "plan",
            "--answers",
            answers.to_str().unwrap(),
        ]);
        assert_eq!(plan.code, 0, "{plan:?}");
        assert!(!plan.stdout.contains("zz-dpwizard.conf"), "{}", plan.stdout);
        assert!(
            !plan.stdout.contains("systemctl restart"),
            "{}",
            plan.stdout
        );
        assert!(
            plan.stdout.contains("proxy_pass http://127.0.0.1:27760;"),
            "{}",
            plan.stdout
        );
    }

    /// Explicit answers always win: binary, user and ports go into the drop-in.
    #[test]
    fn explicit_binary_user_and_ports_change_the_unit() {
        let (m, _answers, _d) = machine();
        m.with_drawpile("/opt/dpsrv/bin/drawpile-srv", &Build::v("2.3.0"))
            .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\ndrawpile:x:990:990::/var/lib/drawpile:/usr/sbin/nologin\n");
        let (_d2, a) = answers_file(
            "[site]\ndomain = \"paint.example.com\"\n[drawpile]\nbinary = \"/opt/dpsrv/bin/drawpile-srv\"\nuser = \"drawpile\"\ntcp_port = 27800\nweb_admin_port = 27880\n",
        );
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        let dropin = m.read("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf");
        assert!(
            dropin.contains("ExecStart=/opt/dpsrv/bin/drawpile-srv --websocket-port 27760 --websocket-listen 127.0.0.1 --port 27800 --web-admin-port 27880\n"),
            "{dropin}"
        );
        assert!(dropin.contains("\nUser=drawpile\n"), "{dropin}");
        assert_eq!(
            m.dpwizard(["plan", "--check", "--answers", &a]).code,
            0,
            "a second run changes nothing"
        );
    }

    /// An explicit answer that cannot be honoured is refused where it is written.
    #[test]
    fn explicit_answers_that_cannot_be_honoured_are_refused_at_their_line() {
        let (m, _answers, _d) = machine();
        m.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
        for (text, key, line) in [
            (
                "[site]\ndomain = \"paint.example.com\"\n[drawpile]\nuser = \"ghost\"\n",
                "[drawpile.user] there is no user ghost",
                4,
            ),
            (
                "[site]\ndomain = \"paint.example.com\"\n\n[drawpile]\nbinary = \"/opt/none/drawpile-srv\"\n",
                "[drawpile.binary]",
                5,
            ),
            (
                "[site]\ndomain = \"paint.example.com\"\n[proxy]\nsite_file = \"/etc/passwd\"\n",
                "[proxy.site_file] /etc/passwd is not a file nginx reads a server block from",
                4,
            ),
        ] {
            let (_d, a) = answers_file(text);
            let before = m.read("/etc/nginx/sites-available/paint.example.com");
            let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
            assert_eq!(run.code, 2, "{run:?}");
            assert!(
                run.stderr.contains(&format!("{a}:{line}:")) && run.stderr.contains(key),
                "{key}: {}",
                run.stderr
            );
            assert_eq!(
                m.read("/etc/nginx/sites-available/paint.example.com"),
                before
            );
            assert!(
                !m.path("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf")
                    .exists()
            );
        }
    }

    /// `proxy.site_file` may name the real file behind the enabled link: the location goes
    /// there, and no second TLS server for the same name is written.
    #[test]
    fn site_file_is_recognised_through_the_enabled_link() {
        let (m, _answers, _d) = machine();
        let (_d2, a) = answers_file(
            "[site]\ndomain = \"paint.example.com\"\n[proxy]\nsite_file = \"/etc/nginx/sites-available/paint.example.com\"\n",
        );
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            m.read("/etc/nginx/sites-available/paint.example.com")
                .contains("location /drawpile-web/ws")
        );
        assert!(
            !m.path("/etc/nginx/sites-available/dpwizard-paint.example.com.conf")
                .exists()
        );
    }
}

mod sockets {
    //! Socket-activated setups, 2.3.0 with a leftover socket and 2.2.x alike, are migrated
    //! to an enabled service with arguments.

    use crate::support::drawpile::Build;
    use crate::support::nginx::trees;
    use crate::support::systemd::{upstream_service, upstream_socket};
    use crate::support::*;

    fn machine(build: &Build, socket: &str) -> (FakeMachine, String, tempfile::TempDir) {
        let m = FakeMachine::debian12();
        let c =
            dpwizard::plan::selfsigned::generate("paint.example.com", 1_795_000_000, 3650).unwrap();
        trees::debian_default(m.root());
        trees::certbot_lineage(m.root(), "paint.example.com", &c.cert_pem, &c.key_pem);
        m.with_drawpile("/usr/bin/drawpile-srv", build)
            .unit_in(
                "/lib/systemd/system",
                "drawpile-srv.service",
                &upstream_service("/usr", true),
            )
            .unit_in("/lib/systemd/system", "drawpile-srv.socket", socket)
            .enable(
                "drawpile-srv.socket",
                "sockets.target",
                "/lib/systemd/system/drawpile-srv.socket",
            );
        let (d, a) = answers_file("[site]\ndomain = \"paint.example.com\"\n");
        (m, a, d)
    }

    #[test]
    fn a_leftover_socket_beside_230_is_masked_and_its_ports_become_arguments() {
        let sock = "[Socket]\nListenStream=0.0.0.0:27755\nListenStream=27785\nListenStream=27751\n[Install]\nWantedBy=sockets.target\n";
        let (m, a, _d) = machine(&Build::v("2.3.0"), sock);
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            std::fs::read_link(m.path("/etc/systemd/system/drawpile-srv.socket")).unwrap(),
            std::path::Path::new("/dev/null")
        );
        assert!(
            std::fs::symlink_metadata(
                m.path("/etc/systemd/system/sockets.target.wants/drawpile-srv.socket")
            )
            .is_err()
        );
        let dropin = m.read("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf");
        assert!(dropin.contains("ExecStart=/usr/bin/drawpile-srv --port 27755 --web-admin-port 27785 --websocket-port 27751 --websocket-listen 127.0.0.1"), "{dropin}");
        let stop = run
            .stdout
            .find("systemctl stop drawpile-srv.socket")
            .expect("socket stopped");
        let restart = run
            .stdout
            .find("systemctl restart drawpile-srv.service")
            .expect("service restarted");
        assert!(stop < restart);
        let v = m.detect_json(&[]);
        assert_eq!(jget(&v, "runtime.kind"), "systemd-service");
        assert_eq!(jget(&v, "runtime.sockets.0.masked"), true);
        assert_eq!(
            m.dpwizard(["plan", "--check", "--answers", &a]).code,
            0,
            "a second run changes nothing"
        );
        assert_eq!(m.dpwizard(["rollback"]).code, 0);
        assert!(
            m.path("/etc/systemd/system/sockets.target.wants/drawpile-srv.socket")
                .symlink_metadata()
                .is_ok()
        );
        assert!(
            m.path("/etc/systemd/system/drawpile-srv.socket")
                .symlink_metadata()
                .is_err()
        );
    }

    #[test]
    fn a_22x_socket_is_migrated_to_an_enabled_service_with_arguments() {
        // The 2.2.x socket fails for good after the first autostop (drawpile-real.md): its
        // ports become arguments, the service is enabled on its own, the socket masked.
        let (m, a, _d) = machine(&Build::v("2.2.2"), &upstream_socket(true, true));
        let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
        assert_eq!(plan.code, 0, "{plan:?}");
        assert!(
            plan.stdout.contains("POLLHUP"),
            "the review says why:\n{}",
            plan.stdout
        );
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        let dropin = m.read("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf");
        assert!(
            dropin.contains("ExecStart=/usr/bin/drawpile-srv --web-admin-port 27780 --websocket-port 27751 --websocket-listen 127.0.0.1"),
            "{dropin}"
        );
        assert!(
            !m.path("/etc/systemd/system/drawpile-srv.socket.d").exists(),
            "no socket slots any more"
        );
        assert_eq!(
            std::fs::read_link(m.path("/etc/systemd/system/drawpile-srv.socket")).unwrap(),
            std::path::Path::new("/dev/null")
        );
        // Enabled as `systemctl enable` would: the upstream unit wants multi-user.target.
        assert_eq!(
            std::fs::read_link(
                m.path("/etc/systemd/system/multi-user.target.wants/drawpile-srv.service")
            )
            .unwrap(),
            std::path::Path::new("/lib/systemd/system/drawpile-srv.service")
        );
        let v = m.detect_json(&[]);
        assert_eq!(jget(&v, "runtime.kind"), "systemd-service");
        assert_eq!(jget(&v, "runtime.units.0.enabled"), true);
        assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
        // Under --root the running state is the admin's: rollback lists what undoes it.
        let back = m.dpwizard(["--color", "never", "rollback"]);
        assert_eq!(back.code, 0, "{back:?}");
        for c in [
            "systemctl daemon-reload",
            "systemctl start drawpile-srv.socket",
            "systemctl restart drawpile-srv.service",
            "systemctl reload nginx",
        ] {
            assert!(back.stdout.contains(c), "missing {c}:\n{}", back.stdout);
        }
        let daemon = back.stdout.find("systemctl daemon-reload").unwrap();
        let socket = back
            .stdout
            .find("systemctl start drawpile-srv.socket")
            .unwrap();
        let service = back
            .stdout
            .find("systemctl restart drawpile-srv.service")
            .unwrap();
        assert!(daemon < socket && socket < service, "{}", back.stdout);
        assert!(
            m.path("/etc/systemd/system/multi-user.target.wants/drawpile-srv.service")
                .symlink_metadata()
                .is_err()
        );
        assert!(
            m.path("/etc/systemd/system/sockets.target.wants/drawpile-srv.socket")
                .symlink_metadata()
                .is_ok()
        );
    }

    #[test]
    fn a_real_socket_file_in_etc_is_moved_aside_not_masked_over_and_comes_back_byte_for_byte() {
        let (m, a, _d) = machine(&Build::v("2.3.0"), &upstream_socket(true, true));
        // An admin's own copy in /etc (overrides the packaged one).
        let own =
            "# my socket\n[Socket]\nListenStream=27750\nListenStream=27780\nListenStream=27751\n";
        m.unit("drawpile-srv.socket", own);
        let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
        assert_eq!(plan.code, 0, "{plan:?}");
        let removal = plan
            .stdout
            .find("== /etc/systemd/system/drawpile-srv.socket (moves the socket unit")
            .unwrap_or_else(|| panic!("shown as a removal:\n{}", plan.stdout));
        assert!(
            plan.stdout[removal..].contains("-# my socket"),
            "{}",
            plan.stdout
        );
        assert_eq!(
            m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a])
                .code,
            0
        );
        assert_eq!(
            std::fs::read_link(m.path("/etc/systemd/system/drawpile-srv.socket")).unwrap(),
            std::path::Path::new("/dev/null")
        );
        let back = m.dpwizard(["--color", "never", "rollback"]);
        assert_eq!(back.code, 0, "{back:?}");
        assert_eq!(m.read("/etc/systemd/system/drawpile-srv.socket"), own);
    }
}

mod new_container {
    //! A fresh VPS with Docker but no drawpile-srv: a unit running the official image.

    use crate::support::nginx::trees;
    use crate::support::*;

    #[test]
    fn the_official_image_runs_from_a_new_unit_with_the_websocket_port_on_loopback() {
        let m = FakeMachine::debian12();
        trees::debian_default(m.root());
        m.exec(
            "/usr/bin/docker",
            "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n",
        );
        let (_d, a) = answers_file(
            "[site]\ndomain = \"draw.example.com\"\n[drawpile]\nruntime = \"new-container\"\n[tls]\nmode = \"self-signed\"\n",
        );
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout
                .contains("/usr/bin/docker pull drawpile/drawpile-srv:2.3"),
            "{}",
            run.stdout
        );
        let unit = m.read("/etc/systemd/system/drawpile-srv.service");
        let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        assert!(exec.contains(" -p 127.0.0.1:27751:27751 "), "{exec}");
        assert!(exec.contains(" -p 27750:27750 "), "{exec}");
        assert!(
            !exec.contains("--websocket-listen"),
            "never inside a container: {exec}"
        );
        let site = m.read("/etc/nginx/sites-available/dpwizard-draw.example.com.conf");
        assert!(
            site.contains("proxy_pass http://127.0.0.1:27751;"),
            "{site}"
        );
        assert_eq!(
            m.dpwizard(["plan", "--check", "--answers", &a]).code,
            0,
            "second run: no change"
        );
        // Without Docker (and without nginx) on a Debian machine the plan installs them
        // first and plans the rest once they are there; without apt it says what to install.
        let bare = FakeMachine::debian12();
        let run = bare.dpwizard(["--color", "never", "plan", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout
                .contains("apt-get install -y --no-install-recommends nginx docker.io"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("apt-get update"), "{}", run.stdout);
        let applied = bare.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(applied.code, 0, "{applied:?}");
        assert!(
            applied.stdout.contains("Then run `dpwizard"),
            "the admin runs the commands and dpwizard again: {}",
            applied.stdout
        );
        let no_apt = FakeMachine::debian12();
        std::fs::remove_file(no_apt.path("/usr/bin/apt-get")).unwrap();
        let run = no_apt.dpwizard(["plan", "--answers", &a]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains("needs nginx docker.io, which is not installed"),
            "{}",
            run.stderr
        );
    }
}

mod docker_run {
    //! A container started by hand: nginx is configured, and the plan prints the exact
    //! commands that re-create the container with the WebSocket port on loopback.

    use crate::support::nginx::trees;
    use crate::support::*;

    /// A `docker` that answers like a daemon with one drawpile container (the shapes of
    /// the recorded real output: `version` JSON, `ps` JSON lines, `inspect` array).
    const FAKE_DOCKER: &str = r#"#!/bin/sh
case "$1" in
version) echo '{"Client":{"Version":"28.2.2"},"Server":{"Version":"20.10.24+dfsg1"}}' ;;
ps) echo '{"ID":"aaaa","Image":"drawpile/drawpile-srv:2.3.0","Names":"paint","State":"running"}' ;;
inspect) cat <<'JSON'
[{"Id":"aaaa","Name":"/paint","Args":["--local-host","paint.example.com","--websocket-listen","127.0.0.1"],
  "State":{"Status":"running"},"Config":{"Image":"drawpile/drawpile-srv:2.3.0","Env":["DRAWPILESRV_WEB_ADMIN_AUTH=x:y"]},
  "HostConfig":{"NetworkMode":"default","RestartPolicy":{"Name":"unless-stopped"},"PortBindings":{"27750/tcp":[{"HostIp":"","HostPort":"27750"}]}},
  "NetworkSettings":{"Ports":{"27750/tcp":[{"HostIp":"0.0.0.0","HostPort":"27750"}]}},
  "Mounts":[{"Type":"volume","Name":"dpdata","Destination":"/home/drawpile"}]}]
JSON
;;
*) exit 1 ;;
esac
"#;

    #[test]
    fn the_exact_docker_run_is_printed_and_nginx_is_configured() {
        let m = FakeMachine::debian12();
        trees::debian_default(m.root());
        m.with_host_docker(FAKE_DOCKER);
        let (_d, a) =
            answers_file("[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n");
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout
                .contains("$ docker stop paint && docker rm paint"),
            "{}",
            run.stdout
        );
        let expected = "$ docker run -d --name paint --restart unless-stopped -p 27750:27750 -p 127.0.0.1:27751:27751 -v dpdata:/home/drawpile -e DRAWPILESRV_WEB_ADMIN_AUTH drawpile/drawpile-srv:2.3.0 --local-host paint.example.com --websocket-port 27751";
        assert!(run.stdout.contains(expected), "{}", run.stdout);
        assert!(!run.stdout.contains("x:y"), "secrets are never printed");
        let site = m.read("/etc/nginx/sites-available/dpwizard-paint.example.com.conf");
        assert!(
            site.contains("proxy_pass http://127.0.0.1:27751;"),
            "{site}"
        );
        // Until the container is re-created, the machine still differs.
        assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 1);
    }
}

mod compose {
    //! A compose service's changes go into the override file; the project's own file stays.

    use crate::support::nginx::trees;
    use crate::support::*;

    const FILE: &str = "# drawpile for the club\nservices:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3.0  # pinned\n    command: --local-host paint.example.com --websocket-listen 127.0.0.1\n    ports:\n      - \"27750:27750\"\n    restart: unless-stopped\n";

    #[test]
    fn the_services_changes_go_into_the_override_file_and_applying_twice_changes_nothing() {
        let m = FakeMachine::debian12();
        trees::debian_default(m.root());
        m.file("/opt/dpserver/docker-compose.yml", FILE);
        let (_d, a) =
            answers_file("[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n");
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        // The project's own file stays; the change goes into the override file.
        assert_eq!(m.read("/opt/dpserver/docker-compose.yml"), FILE);
        assert_eq!(
            m.read("/opt/dpserver/docker-compose.override.yaml"),
            "# Customisations of this Compose project (its README: they survive `git pull`); \
             written by dpwizard.\nservices:\n  drawpile-srv:\n    command: [\"--local-host\", \"paint.example.com\", \"--websocket-port\", \"27751\"]\n    ports:\n      - \"127.0.0.1:27751:27751\"\n"
        );
        assert!(
            run.stdout
                .contains("-f /opt/dpserver/docker-compose.yml -f /opt/dpserver/docker-compose.override.yaml up -d drawpile-srv"),
            "{}",
            run.stdout
        );
        let site = m.read("/etc/nginx/sites-available/dpwizard-paint.example.com.conf");
        assert!(
            site.contains("proxy_pass http://127.0.0.1:27751;"),
            "{site}"
        );
        let v = m.detect_json(&[]);
        assert_eq!(
            jget(
                &v,
                "runtime.compose.files.0.services.0.options.websocket_port"
            ),
            "27751"
        );
        assert_eq!(
            jget(
                &v,
                "runtime.compose.files.0.services.0.options.websocket_listen"
            ),
            &Value::Null
        );
        assert_eq!(
            m.dpwizard(["plan", "--check", "--answers", &a]).code,
            0,
            "second run: no change"
        );
    }
}

mod appimage {
    //! An AppImage `--server` unit: the drop-in keeps `--server`, adds the WebSocket options
    //! and makes it Type=simple (an AppImage never reports readiness).

    use crate::support::drawpile::Build;
    use crate::support::nginx::trees;
    use crate::support::*;

    #[test]
    fn an_appimage_unit_gets_websockets_and_type_simple() {
        let m = FakeMachine::debian12();
        trees::debian_default(m.root());
        m.with_drawpile("/opt/Drawpile-2.3.0.AppImage", &Build::v("2.3.0").appimage())
            .unit(
                "paint-server.service",
                "[Service]\nType=notify\nUser=artist\nExecStart=/opt/Drawpile-2.3.0.AppImage --server --port 27750\n",
            );
        let (_d, a) =
            answers_file("[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n");
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        let dropin = m.read("/etc/systemd/system/paint-server.service.d/zz-dpwizard.conf");
        assert!(dropin.contains("ExecStart=/opt/Drawpile-2.3.0.AppImage --server --port 27750 --websocket-port 27751 --websocket-listen 127.0.0.1\n"), "{dropin}");
        assert!(dropin.contains("\nType=simple\n"), "{dropin}");
        assert!(!dropin.contains("User="), "artist is kept: {dropin}");
        assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    }
}

mod root_unit {
    //! A unit without `User=` runs as root, which drawpile-srv refuses: the drop-in sets
    //! `User=nobody`, and a second run keeps it (no change).

    use crate::support::drawpile::Build;
    use crate::support::nginx::trees;
    use crate::support::*;

    #[test]
    fn user_nobody_is_set_once_and_kept() {
        let m = FakeMachine::debian12();
        trees::debian_default(m.root());
        m.with_drawpile("/usr/local/bin/drawpile-srv", &Build::v("2.3.0"))
            .unit(
                "drawpile-srv.service",
                "[Service]\nExecStart=/usr/local/bin/drawpile-srv\n",
            );
        let (_d, a) =
            answers_file("[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n");
        let run = m.dpwizard(["apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        let dropin = m.read("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf");
        assert!(dropin.contains("\nUser=nobody\n"), "{dropin}");
        assert_eq!(jget(&m.detect_json(&[]), "runtime.units.0.user"), "nobody");
        assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    }
}

mod safety {
    //! Two applies at once, and writes that fail: never a mixed or half-written machine.

    use crate::support::*;

    fn answers(port: u16) -> (tempfile::TempDir, String) {
        answers_file(&format!(
            "[site]\ndomain = \"paint.example.com\"\n[drawpile]\nwebsocket_port = {port}\n"
        ))
    }

    /// The WebSocket port drawpile-srv is set up with, and the one nginx proxies to.
    fn ports(m: &FakeMachine) -> (Option<String>, Option<String>) {
        let dropin = std::fs::read_to_string(
            m.path("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf"),
        )
        .ok();
        let srv = dropin.and_then(|d| {
            d.split("--websocket-port ")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        });
        let site = m.read("/etc/nginx/sites-available/paint.example.com");
        let proxy = site
            .split("location /drawpile-web/ws")
            .nth(1)
            .and_then(|l| l.split("proxy_pass http://127.0.0.1:").nth(1))
            .map(|r| r.split(';').next().unwrap_or("").to_string());
        (srv, proxy)
    }

    #[test]
    fn twenty_pairs_of_concurrent_applies_never_leave_a_mixed_setup() {
        for round in 0..20 {
            let (m, _a, _d) = crate::apply::plan_and_apply::machine();
            let (_d1, a1) = answers(27771);
            let (_d2, a2) = answers(27772);
            let spawn = |a: &str| {
                std::process::Command::new(dpwizard_bin())
                    .arg("--root")
                    .arg(m.root())
                    .args(["--color", "never", "apply", "--yes", "--answers", a])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            };
            let (p1, p2) = (spawn(&a1), spawn(&a2));
            let (o1, o2) = (
                p1.wait_with_output().unwrap(),
                p2.wait_with_output().unwrap(),
            );
            let (srv, proxy) = ports(&m);
            assert_eq!(
                srv,
                proxy,
                "round {round}: drawpile-srv and nginx disagree\n{}\n{}",
                String::from_utf8_lossy(&o1.stderr),
                String::from_utf8_lossy(&o2.stderr)
            );
            let ok = [&o1, &o2].iter().filter(|o| o.status.success()).count();
            assert!(ok >= 1, "round {round}: neither applied");
            for o in [&o1, &o2] {
                if !o.status.success() {
                    let err = String::from_utf8_lossy(&o.stderr);
                    assert!(
                        err.contains("another dpwizard is changing this machine")
                            || err.contains("changed since the plan was made"),
                        "round {round}: {err}"
                    );
                }
            }
        }
    }

    /// A file system that fills up in the middle of apply: everything written before is put
    /// back, the message says what to free, and the tree is as it was.
    #[test]
    fn a_full_disk_midway_leaves_the_tree_as_it_was() {
        if skip_unless_root("mount namespaces") {
            return;
        }
        let (m, _a, _d) = crate::apply::plan_and_apply::machine();
        let (_d1, a) = answers_file(
            "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n[proxy]\nsite_file = \"auto\"\n",
        );
        m.dir("/etc/ssl/dpwizard");
        let before = config_tree(m.root());
        // /etc/ssl/dpwizard is a full 16 KiB tmpfs in a private mount namespace.
        let script = format!(
            "set -e; d={root}/etc/ssl/dpwizard; mkdir -p $d; mount -t tmpfs -o size=16k tmpfs $d; \
             dd if=/dev/zero of=$d/fill bs=4k count=100 2>/dev/null || true; set +e; \
             {bin} --root {root} --color never apply --yes --answers {a}; echo rc=$?",
            root = m.root().display(),
            bin = dpwizard_bin().display(),
        );
        let text = in_private_mounts(&script);
        assert!(text.contains("rc=1"), "{text}");
        assert!(text.contains("No space left on device"), "{text}");
        assert!(text.contains("df -h"), "what to free: {text}");
        assert!(
            text.contains("every file written so far was restored"),
            "{text}"
        );
        assert_eq!(config_tree(m.root()), before, "{text}");
    }

    /// A read-only subtree is found before the first write: nothing is written at all.
    #[test]
    fn a_read_only_target_is_refused_before_anything_is_written() {
        if skip_unless_root("mount namespaces") {
            return;
        }
        let (m, a, _d) = crate::apply::plan_and_apply::machine();
        let before = config_tree(m.root());
        let script = format!(
            "set -e; d={root}/etc/nginx; mount --bind $d $d; mount -o remount,bind,ro $d; set +e; \
             {bin} --root {root} --color never plan --answers {a}; echo plan-rc=$?; \
             {bin} --root {root} --color never apply --yes --answers {a}; echo rc=$?",
            root = m.root().display(),
            bin = dpwizard_bin().display(),
            a = a.display(),
        );
        let text = in_private_mounts(&script);
        assert!(text.contains("rc=1"), "{text}");
        assert!(text.contains("read-only file system"), "{text}");
        // `plan` says it up front too.
        assert!(text.contains("plan-rc=1"), "{text}");
        assert!(
            text.contains("dpwizard: apply would refuse: cannot write"),
            "{text}"
        );
        assert!(text.contains("nothing was written"), "{text}");
        assert_eq!(config_tree(m.root()), before, "{text}");
    }

    /// Runs `script` as root in a private mount namespace (its mounts vanish with it); all it
    /// printed.
    fn in_private_mounts(script: &str) -> String {
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script])
            .output()
            .expect("unshare");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The tree as `tree` sees it, without dpwizard's own state (its lock and journals).
    fn config_tree(root: &std::path::Path) -> Vec<(String, String)> {
        tree(root)
            .into_iter()
            .filter(|(p, _)| !p.contains("/var/lib/dpwizard"))
            .collect()
    }

    /// Every file under `root` with a hash of its bytes (links: their target), sorted.
    fn tree(root: &std::path::Path) -> Vec<(String, String)> {
        fn walk(p: &std::path::Path, out: &mut Vec<(String, String)>) {
            let Ok(md) = p.symlink_metadata() else { return };
            if md.file_type().is_symlink() {
                let t = std::fs::read_link(p).unwrap_or_default();
                out.push((p.display().to_string(), format!("-> {}", t.display())));
            } else if md.is_dir() {
                out.push((format!("{}/", p.display()), String::new()));
                for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                    walk(&e.path(), out);
                }
            } else {
                let bytes = std::fs::read(p).unwrap_or_default();
                out.push((
                    p.display().to_string(),
                    dpwizard::apply::journal::sha256(&bytes),
                ));
            }
        }
        let mut out = Vec::new();
        walk(root, &mut out);
        out.sort();
        out
    }
}
