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
            .dropin("drawpile-srv.service", "override.conf", "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --port 27750 --websocket-port 27760\n");
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
}

mod sockets {
    //! Socket-activated setups: 2.3.0 with a leftover socket is migrated to arguments;
    //! 2.2.x keeps activation with the TCP, web admin and WebSocket slots in order.

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
    fn a_22x_socket_without_the_admin_slot_gets_all_three_in_order() {
        let (m, a, _d) = machine(&Build::v("2.2.2"), &upstream_socket(false, true));
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        let dropin = m.read("/etc/systemd/system/drawpile-srv.socket.d/zz-dpwizard.conf");
        assert!(dropin.contains("[Socket]\nListenStream=\nListenStream=27750\nListenStream=27780\nListenStream=127.0.0.1:27751\n"), "{dropin}");
        assert!(
            !m.path("/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf")
                .exists(),
            "arguments would be ignored"
        );
        let v = m.detect_json(&[]);
        let s = jget(&v, "runtime.sockets.0");
        assert_eq!(s["slots"]["websocket"], "127.0.0.1:27751");
        assert_eq!(s["notes"], serde_json::json!([]));
        let site = m.read("/etc/nginx/sites-available/dpwizard-paint.example.com.conf");
        assert!(
            site.contains("proxy_pass http://127.0.0.1:27751;"),
            "{site}"
        );
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
        // Without Docker the plan says what to install and changes nothing.
        let bare = FakeMachine::debian12();
        trees::debian_default(bare.root());
        let run = bare.dpwizard(["plan", "--answers", &a]);
        assert_eq!(run.code, 2);
        assert!(
            run.stderr.contains("Docker is not installed"),
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
    //! A compose service is edited in place: comments and every other byte stay.

    use crate::support::nginx::trees;
    use crate::support::*;

    const FILE: &str = "# drawpile for the club\nservices:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3.0  # pinned\n    command: --local-host paint.example.com --websocket-listen 127.0.0.1\n    ports:\n      - \"27750:27750\"\n    restart: unless-stopped\n";

    #[test]
    fn the_service_is_edited_keeping_comments_and_applying_twice_changes_nothing() {
        let m = FakeMachine::debian12();
        trees::debian_default(m.root());
        m.file("/opt/dpserver/docker-compose.yml", FILE);
        let (_d, a) =
            answers_file("[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n");
        let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
        assert_eq!(run.code, 0, "{run:?}");
        let after = m.read("/opt/dpserver/docker-compose.yml");
        assert_eq!(
            after,
            FILE.replace(
                "    command: --local-host paint.example.com --websocket-listen 127.0.0.1\n",
                "    command: [\"--local-host\", \"paint.example.com\", \"--websocket-port\", \"27751\"]\n"
            )
            .replace("      - \"27750:27750\"\n", "      - \"27750:27750\"\n      - \"127.0.0.1:27751:27751\"\n")
        );
        assert!(
            run.stdout
                .contains("-f /opt/dpserver/docker-compose.yml up -d drawpile-srv"),
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
