//! Docker detection: parsers on the recorded output of both real CLIs, and the whole
//! detector against a real private dockerd with a locally built image running drawpile-srv
//! (the real upstream build when ../shared/drawpile-srv has it, else the stand-in).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dpwizard::detect::docker::*;

use crate::support::dockerd::Dockerd;
use crate::support::drawpile::Server;
use crate::support::*;

/// shared/docs/docker-recorded, beside the repository (as in CI) or above a worktree.
fn recorded() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DPWIZARD_SHARED_DOCS") {
        return Some(PathBuf::from(p).join("docker-recorded"));
    }
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let cand = dir.join("shared/docs/docker-recorded");
        if cand.is_dir() {
            return Some(cand);
        }
        if !dir.pop() {
            eprintln!("SKIPPED: shared/docs/docker-recorded not found beside the repository");
            return None;
        }
    }
}

#[test]
fn recorded_image_list_finds_the_drawpile_images() {
    let Some(dir) = recorded() else {
        return;
    };
    let images: Vec<String> = read(&dir, "images-json.cli20.jsonl")
        .lines()
        .filter_map(parse_image_line)
        .filter(|i| is_drawpile_image(i))
        .collect();
    assert!(
        images.contains(&"drawpile/drawpile-srv:2.3.0".to_string()),
        "{images:?}"
    );
    assert!(
        images
            .iter()
            .all(|i| i.starts_with("drawpile/drawpile-srv:")),
        "{images:?}"
    );
    assert_eq!(
        parse_image_line(r#"{"Repository":"<none>","Tag":"<none>"}"#),
        None
    );
    assert_eq!(parse_image_line("not json"), None);
}

fn read(dir: &std::path::Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

#[test]
fn recorded_ps_output_of_both_clis_finds_the_drawpile_containers() {
    let Some(dir) = recorded() else { return };
    for f in [
        "ps-a-no-trunc-json.cli20.jsonl",
        "ps-a-no-trunc-json.cli28.jsonl",
    ] {
        let text = read(&dir, f);
        let rows: Vec<(String, String)> = text.lines().filter_map(parse_ps_line).collect();
        assert_eq!(
            rows.len(),
            text.lines().filter(|l| !l.trim().is_empty()).count(),
            "{f}"
        );
        let dp = rows
            .iter()
            .filter(|(_, img)| is_drawpile_image(img))
            .count();
        // Every container in the recording runs the drawpile image (README of the recording).
        assert_eq!(dp, rows.len(), "{f}");
        assert!(
            rows.iter().all(|(id, _)| id.len() == 64),
            "--no-trunc ids: {f}"
        );
    }
}

#[test]
fn recorded_inspect_of_every_state_parses() {
    let Some(dir) = recorded() else { return };
    let states = [
        ("dp-created", "created"),
        ("dp-exited", "exited"),
        ("dp-paused", "paused"),
        ("dp-restarting", "restarting"),
        ("dp-health", "running"),
        ("dp-host", "running"),
        ("dp-none", "running"),
        ("drawpile-srv", "running"),
    ];
    for (name, state) in states {
        let v: Value =
            serde_json::from_str(&read(&dir, &format!("inspect-container.{name}.json"))).unwrap();
        let c = parse_inspect(&v[0]).unwrap();
        assert_eq!(c.name, name);
        assert_eq!(c.image, "drawpile/drawpile-srv:2.3.0");
        assert_eq!(c.image_tag.as_deref(), Some("2.3.0"));
        // dp-paused is recorded paused; its State.Status says so.
        assert_eq!(c.state, v[0]["State"]["Status"].as_str().unwrap(), "{name}");
        assert_eq!(c.state, state, "{name}");
    }
    let v: Value =
        serde_json::from_str(&read(&dir, "inspect-container.drawpile-srv.json")).unwrap();
    let c = parse_inspect(&v[0]).unwrap();
    assert_eq!(c.options.websocket_port.as_deref(), Some("27751"));
    let ws: Vec<&PublishedPort> = c
        .ports
        .iter()
        .filter(|p| p.container_port == 27751)
        .collect();
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0].host_ip, "127.0.0.1");
    assert!(
        c.ports
            .iter()
            .any(|p| p.container_port == 27750 && p.is_public())
    );
    assert_eq!(c.restart_policy.as_deref(), Some("unless-stopped"));
    let health: Value =
        serde_json::from_str(&read(&dir, "inspect-container.dp-health.json")).unwrap();
    assert_eq!(
        parse_inspect(&health[0]).unwrap().health.as_deref(),
        Some("healthy")
    );
    let compose: Value =
        serde_json::from_str(&read(&dir, "inspect-container.dpstack_drawpile-srv_1.json")).unwrap();
    let c = parse_inspect(&compose[0]).unwrap();
    assert_eq!(c.compose_project.as_deref(), Some("dpstack"));
    assert_eq!(c.compose_service.as_deref(), Some("drawpile-srv"));
    assert_eq!(
        c.compose_files,
        vec!["/opt/dpserver/docker-compose.yml".to_string()]
    );
}

#[test]
fn an_image_built_from_scratch_is_recognised_by_its_entrypoint() {
    // Recorded `docker image inspect` of a locally built image (docs/docker-recorded).
    let Some(dir) = recorded() else { return };
    let text = read(&dir, "inspect-image.built-from-scratch-2.3.1.json");
    let v: Value = serde_json::from_str(&text).unwrap();
    let d = drawpile_image_from_inspect(&v[0]).unwrap();
    assert_eq!(d.version.as_deref(), Some("2.3.1"));
    assert_eq!(d.recognised_by, "image entrypoint");
    let nginx = serde_json::json!({"Config": {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"]}});
    assert!(drawpile_image_from_inspect(&nginx).is_none());
    let old = serde_json::json!({"RepoTags": ["mydp:2.1.20"], "Config": {"Entrypoint": null, "Cmd": ["/usr/bin/drawpile-srv", "-p", "27750"]}});
    assert!(
        drawpile_image_from_inspect(&old)
            .unwrap()
            .note
            .unwrap()
            .contains("too old")
    );
    // brushdojo/drawpile-srv's image (d2f81de): its own entrypoint script, then a shell
    // command that runs drawpile-srv.
    let shell = serde_json::json!({"RepoTags": ["brush-dojo/drawpile-srv:latest"], "Config": {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["bash", "-c", "drawpile-srv   --local-host brushdojo.com   --port 27750"]}});
    assert_eq!(
        drawpile_image_from_inspect(&shell).unwrap().image,
        "brush-dojo/drawpile-srv:latest"
    );
    let sh_nginx = serde_json::json!({"Config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["nginx -g 'daemon off;'"]}});
    assert!(drawpile_image_from_inspect(&sh_nginx).is_none());
}

#[test]
fn recorded_daemon_errors_are_classified() {
    let Some(dir) = recorded() else { return };
    for (f, kind) in [
        ("error-no-daemon.version.cli20.txt", "not-running"),
        ("error-no-daemon.version.cli28.txt", "not-running"),
        ("error-no-daemon.docker-host.cli28.txt", "not-running"),
        ("error-stale-socket.cli28.txt", "not-running"),
        ("error-permission-denied.cli20.txt", "permission-denied"),
        ("error-permission-denied.cli28.txt", "permission-denied"),
        ("inspect-missing.cli28.txt.stderr", "other"),
    ] {
        let (k, first) = classify_daemon_error(&read(&dir, f));
        assert_eq!(k, kind, "{f}");
        assert!(
            !first.is_empty() && !first.starts_with("# rc"),
            "{f}: {first}"
        );
    }
}

#[test]
fn recorded_compose_v1_file_parses() {
    let Some(dir) = recorded() else { return };
    let services = parse_compose(&read(&dir, "compose-v1.docker-compose.yml")).unwrap();
    assert_eq!(services.len(), 1);
    let s = &services[0];
    assert_eq!(s.name, "drawpile-srv");
    assert_eq!(s.line, Some(3));
    assert_eq!(s.options.websocket_port.as_deref(), Some("27761"));
    assert_eq!(s.ports[0].host_ip, "127.0.0.1");
    assert_eq!(s.restart.as_deref(), Some("unless-stopped"));
}

#[test]
fn a_hung_docker_delays_detect_by_no_more_than_its_timeout() {
    let m = FakeMachine::debian12();
    m.with_host_docker("#!/bin/sh\nexec sleep 1000\n");
    let start = Instant::now();
    let v = m.detect_json(&["--timeout", "0.5"]);
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(jget(&v, "runtime.docker.daemon_reachable"), false);
    assert_eq!(jget(&v, "runtime.docker.daemon_problem"), "timeout");
    assert!(
        jget(&v, "runtime.docker.daemon_error")
            .as_str()
            .unwrap()
            .contains("timed out after 0.5 s")
    );
}

#[test]
fn a_docker_printing_garbage_is_a_fact_not_a_crash() {
    let m = FakeMachine::debian12();
    m.with_host_docker("#!/bin/sh\nprintf '\\377\\000{not json'\nexit 0\n");
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "runtime.docker.daemon_reachable"), false);
    assert_eq!(
        jget(&v, "runtime.docker.containers")
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn compose_files_in_the_usual_places_and_broken_ones() {
    let m = FakeMachine::debian12();
    m.file(
        "/opt/dpserver/docker-compose.yml",
        "services:\n  web:\n    image: nginx\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3\n    command: --websocket-port 27751 --web-admin-port 27780\n    ports:\n      - \"27750:27750\"\n      - \"127.0.0.1:27751:27751\"\n",
    )
    .file("/srv/broken/compose.yaml", "services:\n  x: [\n")
    .file("/root/other/compose.yml", "services:\n  a:\n    image: redis\n");
    let v = m.detect_json(&[]);
    let files = jget(&v, "runtime.compose.files")
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(files.len(), 1, "{files:#?}");
    assert_eq!(files[0]["path"], "/opt/dpserver/docker-compose.yml");
    assert_eq!(files[0]["services"][0]["name"], "drawpile-srv");
    assert_eq!(files[0]["services"][0]["line"], 4);
    assert_eq!(
        files[0]["services"][0]["options"]["web_admin_port"],
        "27780"
    );
    let errors = jget(&v, "runtime.compose.errors").to_string();
    assert!(errors.contains("/srv/broken/compose.yaml:"), "{errors}");
    assert_eq!(jget(&v, "runtime.kind"), "compose");
    // --compose-file adds one outside the usual places.
    m.file(
        "/data/dp.yml",
        "services:\n  dp:\n    image: docker.io/drawpile/drawpile-srv\n",
    );
    let v = m.detect_json(&["--compose-file", "/data/dp.yml"]);
    let files = jget(&v, "runtime.compose.files").to_string();
    assert!(
        files.contains("/data/dp.yml") && files.contains("--compose-file"),
        "{files}"
    );
}

#[test]
fn real_daemon_containers_in_every_state_and_compose_v1() {
    if skip_unless_root("a private dockerd") || skip_unless_program("dockerd") {
        return;
    }
    let d = Dockerd::start();
    d.build_image("2.3.0", &Server::pick("2.3.0"));
    let img = "drawpile/drawpile-srv:2.3.0";
    d.ok(&[
        "run",
        "-d",
        "--name",
        "dp-run",
        "-p",
        "27750:27750",
        "-p",
        "127.0.0.1:27751:27751",
        img,
        "--websocket-port",
        "27751",
        "--websocket-listen",
        "127.0.0.1",
    ]);
    d.ok(&["run", "--name", "dp-exited", img, "--version"]);
    d.ok(&[
        "create",
        "--name",
        "dp-created",
        "-p",
        "127.0.0.1:27780:27780",
        img,
        "--web-admin-port",
        "27780",
    ]);
    d.ok(&["run", "-d", "--name", "dp-paused", img]);
    d.ok(&["pause", "dp-paused"]);
    d.ok(&["create", "--name", "dp-host", "--network", "host", img]);
    // An image built FROM drawpile's under another name (as forks do), and one that is not
    // drawpile-srv at all: only the first is found, by its entrypoint, with its label's version.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {img}\nLABEL org.opencontainers.image.version=2.3.0\n"),
    )
    .unwrap();
    d.ok(&[
        "build",
        "-q",
        "-t",
        "myorg/drawing-server:prod",
        &ctx.path().display().to_string(),
    ]);
    d.ok(&[
        "create",
        "--name",
        "dp-built",
        "myorg/drawing-server:prod",
        "--websocket-port",
        "27751",
    ]);
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {img}\nENTRYPOINT [\"/bin/sh\"]\n"),
    )
    .unwrap();
    d.ok(&[
        "build",
        "-q",
        "-t",
        "myorg/not-drawpile",
        &ctx.path().display().to_string(),
    ]);
    d.ok(&["create", "--name", "not-dp", "myorg/not-drawpile"]);

    let m = FakeMachine::debian12();
    let cli = which_host("docker").unwrap();
    m.exec(
        "/usr/bin/docker",
        format!("#!/bin/sh\nexec {} \"$@\"\n", cli.display()),
    );
    if let Some(compose) = which_host("docker-compose") {
        m.exec(
            "/usr/bin/docker-compose",
            format!("#!/bin/sh\nexec {} \"$@\"\n", compose.display()),
        );
    }
    // The tree's docker-compose is not run under --root: its version is the package's.
    m.file(
        "/var/lib/dpkg/status",
        "Package: docker-compose\nStatus: install ok installed\nVersion: 1.29.2-3\n",
    );
    // Compose v1 (Debian's docker-compose) on the same daemon, from a file in the fake root.
    let compose_file = m.path("/opt/dpserver/docker-compose.yml");
    m.file(
        "/opt/dpserver/docker-compose.yml",
        "version: \"3.8\"\nservices:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3.0\n    command: [\"--websocket-port\", \"27761\", \"--port\", \"27760\"]\n    ports:\n      - \"127.0.0.1:27761:27761\"\n      - \"27760:27760\"\n",
    );
    if which_host("docker-compose").is_some() {
        let out = std::process::Command::new("docker-compose")
            .args(["-p", "dpstack", "-f"])
            .arg(&compose_file)
            .args(["up", "-d"])
            .env("DOCKER_HOST", &d.host)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let out = std::process::Command::new(dpwizard_bin())
        .arg("--root")
        .arg(m.root())
        // docker-compose (Python) starts slowly on a loaded machine: more than the default
        // 3 s per probe here, so that a busy CI box does not make the probe a skip.
        .args(["--timeout", "15", "detect", "--json"])
        .env("DOCKER_HOST", &d.host)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        jget(&v, "runtime.docker.daemon_reachable"),
        true,
        "{:#}",
        jget(&v, "runtime.docker")
    );
    let containers = jget(&v, "runtime.docker.containers")
        .as_array()
        .unwrap()
        .clone();
    let by = |n: &str| {
        containers
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {containers:#?}"))
            .clone()
    };
    let run = by("dp-run");
    assert_eq!(run["state"], "running");
    assert_eq!(run["options"]["websocket_listen"], "127.0.0.1");
    assert!(
        run["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["container_port"] == 27751 && p["host_ip"] == "127.0.0.1")
    );
    assert_eq!(by("dp-exited")["state"], "exited");
    assert_eq!(by("dp-created")["state"], "created");
    assert_eq!(by("dp-created")["ports"][0]["host_port"], 27780);
    assert_eq!(by("dp-paused")["state"], "paused");
    assert_eq!(by("dp-host")["network_mode"], "host");
    let built = by("dp-built");
    assert_eq!(built["drawpile"]["recognised_by"], "image entrypoint");
    assert_eq!(built["drawpile"]["version"], "2.3.0");
    assert_eq!(built["options"]["websocket_port"], "27751");
    assert!(
        !containers.iter().any(|c| c["name"] == "not-dp"),
        "{containers:#?}"
    );
    assert_eq!(run["drawpile"]["recognised_by"], "official image");
    if which_host("docker-compose").is_some() {
        let c = containers
            .iter()
            .find(|c| c["compose_project"] == "dpstack")
            .expect("compose container");
        assert_eq!(c["compose_service"], "drawpile-srv");
        assert_eq!(c["options"]["websocket_port"], "27761");
        assert_eq!(
            jget(&v, "runtime.compose.files.0.services.0.options.port"),
            "27760"
        );
        assert!(
            jget(&v, "runtime.docker.compose_v1")
                .as_str()
                .unwrap()
                .starts_with("1.")
        );
    }
    // The stand-in really serves inside the containers. The compose one publishes 27761 on
    // the host's loopback and listens on all of the container's interfaces: reachable. dp-run
    // has `--websocket-listen 127.0.0.1` inside the container, known mistake 4 of the facts:
    // the published port leads nowhere.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let direct = |port: u16| {
        rt.block_on(dpwizard::verify::check_direct(
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(3),
        ))
    };
    if which_host("docker-compose").is_some() {
        let good = direct(27761);
        assert!(good.passed, "{good:?}");
    }
    let bad = direct(27751);
    assert!(!bad.passed, "{bad:?}");

    // Daemon gone: an error, not a hang.
    drop(d);
    let out = std::process::Command::new(dpwizard_bin())
        .arg("--root")
        .arg(m.root())
        .args(["detect", "--json"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jget(&v, "runtime.docker.daemon_problem"), "not-running");
}

/// Runs dpwizard on `m` against the private daemon `d`.
fn dpw_docker(m: &FakeMachine, d: &Dockerd, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(dpwizard_bin())
        .arg("--root")
        .arg(m.root())
        .args(["--color", "never"])
        .args(args)
        .env("DOCKER_HOST", &d.host)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn finding_ids(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// Compose v1 and a container started by hand, on a real daemon: the audit sees known
/// mistake 4 (`--websocket-listen 127.0.0.1` inside the container), apply writes the fix into
/// the compose override file (or prints the `docker run`), and once the admin runs the listed commands the real
/// containers answer on the published loopback port and the audit is clean.
#[test]
fn apply_fixes_compose_and_docker_run_on_a_real_daemon() {
    if skip_unless_root("a private dockerd")
        || skip_unless_program("dockerd")
        || skip_unless_program("docker-compose")
    {
        return;
    }
    let d = Dockerd::start();
    d.build_image("2.3.0", &Server::pick("2.3.0"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let greets = |port: u16| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let c = rt.block_on(dpwizard::verify::check_direct(
                std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(2),
            ));
            if c.passed || Instant::now() > deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let answers = answers_file(
        "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n[drawpile]\nwebsocket_port = 27771\n",
    );

    // Compose: the file lives in the fake root; the real docker-compose runs it.
    let m = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(m.root());
    crate::support::dockerd::host_clis(&m);
    let file = "/opt/dpserver/docker-compose.yml";
    m.file(
        file,
        "# the club's server\nversion: \"3.8\"\nservices:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3.0  # pinned\n    command: [\"--port\", \"27770\", \"--websocket-listen\", \"127.0.0.1\"]\n    ports:\n      - \"27770:27770\"\n",
    );
    let over = "/opt/dpserver/docker-compose.override.yaml";
    let compose = |args: &[&str]| {
        let mut cmd = std::process::Command::new("docker-compose");
        cmd.args(["-p", "dpstack", "-f"]).arg(m.path(file));
        if m.path(over).exists() {
            cmd.arg("-f").arg(m.path(over));
        }
        let out = cmd.args(args).env("DOCKER_HOST", &d.host).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    compose(&["up", "-d"]);
    let main = m.read(file);
    let (code, out, err) = dpw_docker(&m, &d, &["apply", "--yes", "--answers", &answers.1]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("-f {file} -f {over} up -d drawpile-srv")),
        "{out}"
    );
    // The project's own file stays; the change is in the override file Compose merges.
    assert_eq!(m.read(file), main);
    let edited = m.read(over);
    assert!(edited.contains("\"127.0.0.1:27771:27771\""), "{edited}");
    assert!(
        edited.contains("command: [\"--port\", \"27770\", \"--websocket-port\", \"27771\"]"),
        "{edited}"
    );
    // The command apply listed, run by the admin (here: the test) on the real daemon.
    compose(&["up", "-d", "drawpile-srv"]);
    let c = greets(27771);
    assert!(c.passed, "{c:?}");
    let (_, json, _) = dpw_docker(&m, &d, &["audit", "--offline", "--json"]);
    assert_eq!(finding_ids(&json), ["DPW-TLS-007"], "{json}");
    compose(&["down"]);

    // A container started by hand: the audit names the mistake; apply prints the commands
    // that re-create it, and they work on the real daemon.
    let m2 = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(m2.root());
    m2.exec(
        "/usr/bin/docker",
        format!(
            "#!/bin/sh\nexec {} \"$@\"\n",
            which_host("docker").unwrap().display()
        ),
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "paint",
        "-p",
        "27770:27770",
        "-p",
        "127.0.0.1:27771:27771",
        "drawpile/drawpile-srv:2.3.0",
        "--port",
        "27770",
        "--websocket-port",
        "27771",
        "--websocket-listen",
        "127.0.0.1",
    ]);
    let (_, json, _) = dpw_docker(
        &m2,
        &d,
        &[
            "audit",
            "--offline",
            "--json",
            "--domain",
            "paint.example.com",
        ],
    );
    let ids = finding_ids(&json);
    assert!(ids.contains(&"DPW-SRV-007".to_string()), "{json}");
    assert!(!greets(27771).passed, "the published port leads nowhere");
    let (code, out, err) = dpw_docker(&m2, &d, &["apply", "--yes", "--answers", &answers.1]);
    assert_eq!(code, 0, "{out}{err}");
    let commands: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("$ docker "))
        .collect();
    assert_eq!(commands.len(), 2, "{out}");
    for c in &commands {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("docker {c}"))
            .env("DOCKER_HOST", &d.host)
            .env("DOCKER_CONFIG", d.dir.path().join("cfg"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {c}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let c = greets(27771);
    assert!(c.passed, "{c:?}");
    let (_, json, _) = dpw_docker(&m2, &d, &["audit", "--offline", "--json"]);
    assert_eq!(finding_ids(&json), ["DPW-TLS-007"], "{json}");
    assert_eq!(
        dpw_docker(&m2, &d, &["plan", "--check", "--answers", &answers.1]).0,
        0,
        "re-created as planned: nothing left to do"
    );
}
