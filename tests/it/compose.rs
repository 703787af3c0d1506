//! Compose projects as Compose reads them: detect's reading of drawpile/dpserver (and
//! variants) checked against the real `docker-compose config` (Debian's 1.29, the oracle),
//! the containerised nginx read from its bind-mounted files, and bad input.

use std::collections::BTreeMap;

use crate::support::dpserver::{self, DOMAIN};
use crate::support::*;

/// A service reduced to what both sides must agree on.
#[derive(Debug, PartialEq, Eq)]
struct Svc {
    image: String,
    command: Vec<String>,
    /// (host ip, host port, container port, protocol)
    ports: Vec<(String, Option<u16>, u16, String)>,
    /// (type, source, target, read only)
    mounts: Vec<(String, String, String, bool)>,
    networks: Vec<String>,
}

fn shell_words(s: &str) -> Vec<String> {
    // The commands here have no quotes: whitespace splitting is the shell's answer.
    s.split_whitespace().map(String::from).collect()
}

/// `docker-compose config` of the project in `dir` (under the machine's root), reduced.
fn oracle(m: &FakeMachine, dir: &str) -> Option<BTreeMap<String, Svc>> {
    let bin = which_host("docker-compose")?;
    let out = std::process::Command::new(bin)
        .arg("config")
        .current_dir(m.path(dir))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = m.root().display().to_string();
    let doc: yaml_serde::Value = yaml_serde::from_slice(&out.stdout).unwrap();
    let mut res = BTreeMap::new();
    for (name, s) in doc["services"].as_mapping().unwrap() {
        let str_of = |v: &yaml_serde::Value| match v {
            yaml_serde::Value::String(s) => s.clone(),
            yaml_serde::Value::Number(n) => n.to_string(),
            yaml_serde::Value::Bool(b) => b.to_string(),
            _ => String::new(),
        };
        let command = match &s["command"] {
            yaml_serde::Value::String(c) => shell_words(c),
            yaml_serde::Value::Sequence(items) => items.iter().map(str_of).collect(),
            _ => Vec::new(),
        };
        let mut ports: Vec<_> = s["ports"]
            .as_sequence()
            .map(|p| p.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|p| match p {
                yaml_serde::Value::String(t) => {
                    let (spec, proto) = t.split_once('/').unwrap_or((t, "tcp"));
                    let parts: Vec<&str> = spec.split(':').collect();
                    let (ip, host, cont) = match parts.as_slice() {
                        [ip, h, c] => (ip.to_string(), h.parse().ok(), c.parse().unwrap()),
                        [h, c] => (String::new(), h.parse().ok(), c.parse().unwrap()),
                        [c] => (String::new(), None, c.parse().unwrap()),
                        _ => panic!("{t}"),
                    };
                    (ip, host, cont, proto.to_string())
                }
                m => (
                    m["host_ip"].as_str().unwrap_or("").to_string(),
                    m["published"].as_u64().map(|p| p as u16),
                    m["target"].as_u64().unwrap() as u16,
                    m["protocol"].as_str().unwrap_or("tcp").to_string(),
                ),
            })
            .collect();
        ports.sort();
        let mut mounts: Vec<_> = s["volumes"]
            .as_sequence()
            .map(|p| p.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|v| {
                if let Some(short) = v.as_str() {
                    // `SOURCE:TARGET[:MODE]`, the source made absolute by Compose.
                    let parts: Vec<&str> = short.split(':').collect();
                    let src = parts[0].strip_prefix(&root).unwrap_or(parts[0]);
                    return (
                        if src.starts_with('/') {
                            "bind"
                        } else {
                            "volume"
                        }
                        .to_string(),
                        src.to_string(),
                        parts[1].to_string(),
                        parts
                            .get(2)
                            .is_some_and(|m| m.split(',').any(|o| o == "ro")),
                    );
                }
                let src = v["source"].as_str().unwrap_or("");
                (
                    v["type"].as_str().unwrap().to_string(),
                    src.strip_prefix(&root).unwrap_or(src).to_string(),
                    v["target"].as_str().unwrap().to_string(),
                    v["read_only"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        mounts.sort();
        // A service with network_mode joins no compose network; else `default` unless named.
        let mut networks: Vec<String> = match &s["networks"] {
            yaml_serde::Value::Mapping(n) => n.keys().map(str_of).collect(),
            _ if s.get("network_mode").is_some() => Vec::new(),
            _ => vec!["default".into()],
        };
        networks.sort();
        res.insert(
            str_of(name),
            Svc {
                image: s["image"].as_str().unwrap_or("").to_string(),
                command,
                ports,
                mounts,
                networks,
            },
        );
    }
    Some(res)
}

/// The same, from `dpwizard detect --json`.
fn detected(v: &Value, file: usize) -> BTreeMap<String, Svc> {
    let f = &v["runtime"]["compose"]["files"][file];
    let mut res = BTreeMap::new();
    for s in f["services"]
        .as_array()
        .unwrap()
        .iter()
        .chain(f["other_services"].as_array().unwrap())
    {
        let strs = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        };
        let mut ports: Vec<_> = s["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["host_ip"].as_str().unwrap().to_string(),
                    p["host_port"].as_u64().map(|p| p as u16),
                    p["container_port"].as_u64().unwrap() as u16,
                    p["protocol"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        ports.sort();
        let mut mounts: Vec<_> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["kind"].as_str().unwrap().to_string(),
                    m["source"].as_str().unwrap_or("").to_string(),
                    m["target"].as_str().unwrap().to_string(),
                    m["read_only"].as_bool().unwrap(),
                )
            })
            .collect();
        mounts.sort();
        let mut networks = strs(&s["networks"]);
        networks.sort();
        res.insert(
            s["name"].as_str().unwrap().to_string(),
            Svc {
                image: s["image"].as_str().unwrap().to_string(),
                command: strs(&s["command"]),
                ports,
                mounts,
                networks,
            },
        );
    }
    res
}

pub(crate) fn agree_with_docker_compose(m: &FakeMachine, dir: &str, v: &Value) {
    match oracle(m, dir) {
        Some(expected) => assert_eq!(detected(v, 0), expected),
        None => eprintln!("SKIPPED the oracle: docker-compose is not installed"),
    }
}

#[test]
fn dpserver_is_read_as_docker_compose_reads_it() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "runtime.kind"), "compose");
    let f = jget(&v, "runtime.compose.files.0");
    assert_eq!(f["path"], "/root/dpserver/docker-compose.yaml");
    assert_eq!(f["project_name"], "dpserver");
    assert_eq!(f["env_file"], "/root/dpserver/.env");
    assert_eq!(f["networks"], serde_json::json!(["dpserver"]));
    assert_eq!(
        f["named_volumes"],
        serde_json::json!(["serverdata", "certbot"])
    );
    let dp = &f["services"][0];
    assert_eq!(dp["name"], "drawpile-srv");
    assert_eq!(dp["line"], 3);
    assert_eq!(dp["image"], "drawpile/drawpile-srv:2.3");
    assert_eq!(
        dp["image_as_written"],
        "drawpile/drawpile-srv:${DP_VERSION:-2.3}"
    );
    assert_eq!(dp["drawpile"]["version"], "2.3");
    assert_eq!(dp["drawpile"]["recognised_by"], "official image");
    assert_eq!(dp["command_style"], "string");
    assert_eq!(dp["options"]["websocket_port"], "27751");
    assert_eq!(dp["options"]["local_host"], DOMAIN);
    // The nginx service is built FROM nginx:alpine.
    let nginx = f["other_services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nginx")
        .unwrap();
    assert_eq!(nginx["build"]["context"], "/root/dpserver/nginx");
    assert_eq!(nginx["build"]["from"], "nginx:alpine");
    agree_with_docker_compose(&m, "/root/dpserver", &v);
}

#[test]
fn an_override_file_and_compose_file_in_env_merge_as_compose_merges() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    // The README's way to customise: docker-compose.override.yaml next to the main file.
    m.file(
        "/root/dpserver/docker-compose.override.yaml",
        "version: \"3.7\"\nservices:\n    drawpile-srv:\n        command: [\"--websocket-port\", \"27752\", \"--local-host\", \"${DOMAIN}\"]\n        ports:\n            - \"127.0.0.1:27752:27752\"\n        volumes:\n            - ./more-templates:/var/session-templates:ro\n    listserver:\n        environment:\n            LS_DATABASE: memory\n",
    );
    let v = m.detect_json(&[]);
    let f = jget(&v, "runtime.compose.files.0");
    assert_eq!(
        f["config_files"],
        serde_json::json!([
            "/root/dpserver/docker-compose.yaml",
            "/root/dpserver/docker-compose.override.yaml"
        ])
    );
    assert_eq!(f["services"][0]["options"]["websocket_port"], "27752");
    assert_eq!(f["services"][0]["command_style"], "list");
    agree_with_docker_compose(&m, "/root/dpserver", &v);

    // COMPOSE_FILE in .env replaces the default pair.
    m.file(
        "/root/dpserver/.env",
        format!(
            "{}DP_VERSION=2.3.1-beta.1\nCOMPOSE_FILE=docker-compose.yaml:extra.yml\n",
            dpserver::dotenv()
        ),
    )
    .file(
        "/root/dpserver/extra.yml",
        "services:\n  drawpile-srv:\n    ports:\n      - target: 27751\n        published: 9751\n",
    );
    let v = m.detect_json(&[]);
    let f = jget(&v, "runtime.compose.files.0");
    assert_eq!(
        f["config_files"],
        serde_json::json!([
            "/root/dpserver/docker-compose.yaml",
            "/root/dpserver/extra.yml"
        ])
    );
    assert_eq!(
        f["services"][0]["image"],
        "drawpile/drawpile-srv:2.3.1-beta.1"
    );
    assert_eq!(f["services"][0]["options"]["websocket_port"], "27751");
    agree_with_docker_compose(&m, "/root/dpserver", &v);
}

#[test]
fn the_containerised_nginx_is_read_from_its_bind_mounted_files() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let v = m.detect_json(&[]);
    let n = jget(&v, "nginx_containers.0");
    assert_eq!(n["service"], "nginx");
    assert_eq!(n["image"], "nginx:alpine");
    assert_eq!(n["built"], true);
    assert_eq!(n["publishes_443"], true);
    assert_eq!(n["networks"], serde_json::json!(["dpserver"]));
    assert_eq!(
        n["config_mounts"][0]["source"],
        "/root/dpserver/nginx-config"
    );
    assert_eq!(n["config_mounts"][0]["target"], "/etc/nginx/conf.d");
    // Host files and lines: the 443 server is at line 15 of default.conf, its WebSocket
    // location at line 50 (dpserver's file, counted by hand).
    let conf = "/root/dpserver/nginx-config/default.conf";
    assert_eq!(n["config"]["files"], serde_json::json!([conf]));
    let tls = &n["config"]["servers"][1];
    assert_eq!(
        (tls["file"].as_str(), tls["line"].as_u64()),
        (Some(conf), Some(15))
    );
    let ws = tls["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["path"] == "/drawpile-web/ws")
        .unwrap();
    assert_eq!(ws["line"], 50);
    // The certificate is made inside the image: not on the host, and said so.
    let inside = n["paths_in_container"].to_string();
    assert!(
        inside.contains("/usr/share/nginx/certificates/fullchain.pem"),
        "{inside}"
    );
    assert!(inside.contains("/etc/nginx/nginx.conf"), "{inside}");
    // The host has no nginx.
    assert_eq!(jget(&v, "nginx.conf_path"), &Value::Null);
}

// The audit on Compose setups: one case per mistake, on top of dpserver as it is now.

use crate::audit::{DOC_LOCATION, GOOD_CERT, assert_findings, lineage, site};
use crate::support::nginx::trees;

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x.as_str()
                .map(String::from)
                .unwrap_or_else(|| x["id"].as_str().unwrap().to_string())
        })
        .collect()
}

fn evidence(v: &Value, id: &str) -> String {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .map(|f| f["evidence"].to_string())
        .unwrap_or_default()
}

#[test]
fn audit_dpserver_as_it_is_now_is_sound() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let v = assert_findings(&m, &[], &[]);
    assert_eq!(v["domain"], DOMAIN);
    let passed = ids(&v, "passed");
    for id in [
        "DPW-SRV-001",
        "DPW-SRV-002",
        "DPW-SRV-003",
        "DPW-SRV-006",
        "DPW-SRV-007",
        "DPW-SRV-008",
        "DPW-SRV-012",
        "DPW-SRV-013",
        "DPW-PROXY-001",
        "DPW-PROXY-002",
        "DPW-PROXY-003",
        "DPW-PROXY-004",
        "DPW-PROXY-005",
        "DPW-PROXY-006",
        "DPW-PROXY-007",
        "DPW-PROXY-008",
        "DPW-PROXY-009",
        "DPW-PROXY-010",
        "DPW-PROXY-011",
    ] {
        assert!(
            passed.contains(&id.to_string()),
            "{id} not passed: {passed:?}"
        );
    }
    // What the offline audit cannot see inside the containers is skipped with the reason.
    let skipped = v["skipped"].to_string();
    assert!(skipped.contains("compose service nginx"), "{skipped}");
    assert!(
        skipped.contains("/usr/share/nginx/certificates/fullchain.pem"),
        "{skipped}"
    );
    // No advice to install nginx on the host, no "no web server" error.
    assert!(
        !v.to_string()
            .contains("no web server configuration was found")
    );
}

#[test]
fn audit_dpserver_before_2026_refuses_the_desktop_app_and_the_mirror() {
    let m = FakeMachine::debian12();
    dpserver::pre_2026(&m);
    let v = assert_findings(&m, &[], &["DPW-PROXY-003", "DPW-PROXY-005"]);
    let ev = evidence(&v, "DPW-PROXY-003");
    assert!(
        ev.contains("/root/dpserver/nginx-config/default.conf:51: if ($http_origin != \\\"https://web.drawpile.net\\\")"),
        "{ev}"
    );
}

#[test]
fn audit_a_websocket_port_published_on_every_address_is_a_warning_behind_a_container_proxy() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.file(
        "/root/dpserver/docker-compose.override.yaml",
        "services:\n    drawpile-srv:\n        ports:\n            - \"27751:27751\"\n",
    );
    let v = assert_findings(&m, &[], &["DPW-SRV-008"]);
    assert!(evidence(&v, "DPW-SRV-008").contains("as 0.0.0.0:27751"));
}

#[test]
fn audit_nginx_in_the_container_proxying_to_the_wrong_port_or_service() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let conf = dpserver::default_conf(dpserver::ORIGIN_CHECK_2026);
    m.file(
        "/root/dpserver/nginx-config/default.conf",
        conf.replace(
            "proxy_pass http://drawpile-srv:27751;",
            "proxy_pass http://drawpile-srv:27750;",
        ),
    );
    let v = assert_findings(&m, &[], &["DPW-PROXY-007"]);
    assert!(
        evidence(&v, "DPW-PROXY-007")
            .contains("default.conf:59: proxy_pass http://drawpile-srv:27750")
    );
    let fix = v["findings"][0]["fix"].as_str().unwrap();
    assert!(fix.contains("http://drawpile-srv:27751"), "{fix}");
    // An address inside the nginx container is the nginx container itself.
    m.file(
        "/root/dpserver/nginx-config/default.conf",
        conf.replace(
            "proxy_pass http://drawpile-srv:27751;",
            "proxy_pass http://127.0.0.1:27751;",
        ),
    );
    assert_findings(&m, &[], &["DPW-PROXY-007"]);
    m.file(
        "/root/dpserver/nginx-config/default.conf",
        conf.replace(
            "proxy_pass http://drawpile-srv:27751;",
            "proxy_pass http://listserver:27751;",
        ),
    );
    assert_findings(&m, &[], &["DPW-PROXY-007"]);
}

/// The README's "Using your own web server": no nginx service; nginx on the host with the
/// documented location (proxy_pass http://localhost:27751) and a certbot certificate.
fn own_web_server(ws_ports: &[&str]) -> FakeMachine {
    let m = FakeMachine::debian12();
    let domain = "paint.example.com";
    dpserver::install(
        &m,
        "/root/dpserver",
        &dpserver::own_web_server_compose(ws_ports),
        &dpserver::default_conf(dpserver::ORIGIN_CHECK_2026),
    );
    m.file(
        "/root/dpserver/.env",
        dpserver::dotenv().replace(DOMAIN, domain),
    );
    trees::debian_default(m.root());
    lineage(&m, GOOD_CERT, true, true);
    site(&m, DOC_LOCATION, "", "");
    m
}

#[test]
fn audit_own_web_server_variant_with_the_websocket_port_published_on_loopback_is_sound() {
    let m = own_web_server(&["127.0.0.1:27751:27751"]);
    let v = assert_findings(&m, &[], &[]);
    assert!(ids(&v, "passed").contains(&"DPW-PROXY-007".to_string()));
    // The host nginx is the one in front: the project's own nginx-config is not judged.
    assert_eq!(v["domain"], "paint.example.com");
}

#[test]
fn audit_own_web_server_variant_proxying_to_a_port_the_container_does_not_publish() {
    // The README's list of changes publishes the web admin and the list server, not 27751.
    let m = own_web_server(&[]);
    let v = assert_findings(&m, &[], &["DPW-PROXY-007"]);
    let ev = evidence(&v, "DPW-PROXY-007");
    assert!(ev.contains("proxy_pass http://localhost:27751"), "{ev}");
    assert!(
        ev.contains("does not publish its WebSocket port 27751"),
        "{ev}"
    );
    let fix = v["findings"][0]["fix"].as_str().unwrap();
    assert!(fix.contains("\"127.0.0.1:27751:27751\""), "{fix}");
    // Published on another host port: the proxy must use that one.
    let m = own_web_server(&["127.0.0.1:9751:27751"]);
    let v = assert_findings(&m, &[], &["DPW-PROXY-007"]);
    assert!(evidence(&v, "DPW-PROXY-007").contains("127.0.0.1:9751"));
}

#[test]
fn audit_a_2_1_image_is_found_and_too_old_not_missing() {
    // dpserver as first published (69c320a, 2019): drawpile-srv:2.1, no WebSocket at all.
    let m = FakeMachine::debian12();
    let old = dpserver::COMPOSE
        .replace("${DP_VERSION:-2.3}", "${DP_VERSION:-2.1}")
        .replace("            --websocket-port 27751\n", "");
    let conf = dpserver::default_conf("");
    let ws = conf.find("\tlocation /drawpile-web/ws").unwrap();
    let end = conf[ws..].find("\t}\n").unwrap() + ws + 3;
    dpserver::install(
        &m,
        "/root/dpserver",
        &old,
        &format!("{}{}", &conf[..ws], &conf[end..]),
    );
    let v = assert_findings(
        &m,
        &["--domain", DOMAIN],
        &["DPW-SRV-002", "DPW-SRV-003", "DPW-SRV-006", "DPW-PROXY-002"],
    );
    assert!(evidence(&v, "DPW-SRV-002").contains("2.1 is too old for WebSockets"));
    // The same with Drawpile's former image name, untagged.
    m.file(
        "/root/dpserver/docker-compose.yaml",
        old.replace(
            "drawpile/drawpile-srv:${DP_VERSION:-2.1}",
            "callaa/drawpile-srv",
        ),
    );
    let v = assert_findings(&m, &["--domain", DOMAIN], &["DPW-SRV-006", "DPW-PROXY-002"]);
    let skipped = v["skipped"].to_string();
    assert!(
        skipped.contains("callaa/drawpile-srv was Drawpile's image before 2.2"),
        "{skipped}"
    );
}

#[test]
fn answers_from_machine_on_dpserver_says_compose() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let r = m.dpwizard(["answers", "--from-machine"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("runtime = \"compose\"\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("domain = \"{DOMAIN}\"")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("websocket_port = 27751\n"),
        "{}",
        r.stdout
    );
    // The certificate lives in the container: no host path is claimed for it.
    assert!(!r.stdout.contains("certificate = "), "{}", r.stdout);
}

// Bad input: a clear message naming the file and what is wrong, no panic, detect goes on.

fn compose_errors(v: &Value) -> String {
    jget(v, "runtime.compose.errors").to_string()
}

#[test]
fn bad_compose_input_gives_clear_messages() {
    let m = FakeMachine::debian12();
    // Anchors and merge keys are YAML Compose accepts: read, not refused.
    m.file(
        "/opt/anchors/compose.yaml",
        "x-common: &common\n  restart: always\n  networks: [dp]\nservices:\n  drawpile-srv:\n    <<: *common\n    image: drawpile/drawpile-srv:2.3.0\n    command: [\"--websocket-port\", \"27751\"]\nnetworks:\n  dp: {}\n",
    )
    // A merge key on a scalar: an error with a message.
    .file(
        "/opt/badmerge/compose.yaml",
        "x: &s 1\nservices:\n  drawpile-srv:\n    <<: *s\n    image: drawpile/drawpile-srv\n",
    )
    // ${VAR:?err} without the variable.
    .file(
        "/opt/required/docker-compose.yml",
        "services:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:${DP_VERSION:?set DP_VERSION in .env}\n",
    )
    // An undefined variable: empty, as Compose does, and reported.
    .file(
        "/opt/undefined/docker-compose.yml",
        "services:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3\n    command: --websocket-port 27751 --local-host ${DOMAIN}\n",
    )
    // An unreadable .env (a directory stands in for a file root cannot read).
    .file(
        "/opt/unreadable/docker-compose.yml",
        "services:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3\n",
    )
    .dir("/opt/unreadable/.env")
    // A .env line that is not KEY=VALUE.
    .file(
        "/opt/badenv/docker-compose.yml",
        "services:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3\n",
    )
    .file("/opt/badenv/.env", "DOMAIN=x.example.com\nthis is not a variable\n")
    // Shapes Compose refuses: no panic.
    .file("/opt/list/compose.yaml", "- a\n- b\n")
    .file("/opt/strsvc/compose.yaml", "services:\n  a: just-a-string\n  b: [1, 2]\n");
    let before = crate::readonly::snapshot(m.root());
    let run = m.dpwizard(["detect", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    // Nothing written, not even a timestamp; the audit on the same tree neither.
    assert_nothing_written(&m, &before);
    let audit = m.dpwizard(["audit", "--offline", "--json"]);
    assert!(audit.code == 0 || audit.code == 1, "{audit:?}");
    assert_nothing_written(&m, &before);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let errors = compose_errors(&v);
    for expected in [
        "/opt/badmerge/compose.yaml:merge key (<<):",
        "/opt/required/docker-compose.yml:services.drawpile-srv.image: required variable DP_VERSION is missing a value: set DP_VERSION in .env",
        "/opt/unreadable/.env: cannot read:",
        "/opt/badenv/.env: line 2: \\\"this is not a variable\\\" is not KEY=VALUE",
        "/opt/list/compose.yaml:the top level is not a mapping",
    ] {
        assert!(errors.contains(expected), "{expected} not in {errors}");
    }
    let files = jget(&v, "runtime.compose.files")
        .as_array()
        .unwrap()
        .clone();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/opt/anchors/compose.yaml",
            "/opt/undefined/docker-compose.yml"
        ]
    );
    assert_eq!(files[0]["services"][0]["restart"], "always");
    assert_eq!(
        files[0]["services"][0]["networks"],
        serde_json::json!(["dp"])
    );
    assert_eq!(
        files[1]["undefined_variables"],
        serde_json::json!(["DOMAIN"])
    );
    assert_eq!(
        files[1]["services"][0]["options"]["websocket_port"],
        "27751"
    );
}

#[test]
fn a_symlinked_project_dir_is_one_project() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.dir("/opt").symlink("/opt/dpserver", "/root/dpserver");
    let v = m.detect_json(&[]);
    let files = jget(&v, "runtime.compose.files").as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    // Found first through the symlink: Compose names the project after that directory too.
    assert_eq!(files[0]["project_dir"], "/opt/dpserver");
    assert_eq!(files[0]["project_name"], "dpserver");
    assert_eq!(jget(&v, "nginx_containers").as_array().unwrap().len(), 1);
    assert_eq!(
        jget(&v, "nginx_containers.0.config.files.0"),
        "/opt/dpserver/nginx-config/default.conf"
    );
}

#[test]
fn ten_thousand_services_read_in_linear_time() {
    let m = FakeMachine::debian12();
    let mut text =
        String::from("services:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "  svc{i}:\n    image: redis:${{TAG:-7}}\n    ports: [\"{}:6379\"]\n",
            20000 + i % 40000
        ));
    }
    m.file("/srv/big/compose.yaml", &text);
    let start = std::time::Instant::now();
    let v = m.detect_json(&[]);
    let took = start.elapsed();
    let f = jget(&v, "runtime.compose.files.0");
    assert_eq!(f["other_services"].as_array().unwrap().len(), 10_000);
    assert_eq!(f["other_services"][9999]["line"], 3 + 3 * 9999 + 1);
    assert_eq!(f["other_services"][9999]["image"], "redis:7");
    // Generous for a debug build on 2 shared cores; a quadratic scan took minutes.
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}

// Other real setups (tests/it/support/dpserver.rs names the repositories and commits).

#[test]
fn sz_drawpile_fork_with_container_names_and_absolute_mounts_is_sound() {
    let m = FakeMachine::debian12();
    dpserver::sz_drawpile(&m);
    let v = m.detect_json(&[]);
    agree_with_docker_compose(&m, "/home/drawpile", &v);
    assert_eq!(
        jget(&v, "nginx_containers.0.config.files.0"),
        "/home/drawpile/web-server/nginx-config/defaults.conf"
    );
    assert_eq!(
        jget(&v, "runtime.compose.files.0.services.0.container_name"),
        "drawpile-server"
    );
    let v = assert_findings(&m, &[], &[]);
    assert!(ids(&v, "passed").contains(&"DPW-PROXY-007".to_string()));
}

#[test]
fn onekey_wrapper_with_an_empty_domain_is_told_to_name_one() {
    let m = FakeMachine::debian12();
    dpserver::onekey_without_domain(&m);
    let v = assert_findings(&m, &[], &["DPW-PROXY-001", "DPW-PROXY-002"]);
    assert!(evidence(&v, "DPW-PROXY-001").contains("default.conf:50: location  /drawpile-web/ws"));
    // With the name given, the rest is judged as dpserver's.
    assert_findings(&m, &["--domain", DOMAIN], &[]);
}

#[test]
fn an_image_built_from_the_former_image_is_found_with_its_version() {
    let m = FakeMachine::debian12();
    dpserver::brushdojo(&m);
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "runtime.kind"), "compose");
    let d = jget(&v, "runtime.compose.files.0.services.0.drawpile");
    assert_eq!(d["recognised_by"], "built FROM callaa/drawpile-srv:2.1.12");
    assert_eq!(d["image"], "brush-dojo/drawpile-srv");
    assert_eq!(d["version"], "2.1.12");
    let v = assert_findings(
        &m,
        &[],
        &[
            "DPW-SRV-002",
            "DPW-SRV-003",
            "DPW-SRV-006",
            "DPW-PROXY-001",
            "DPW-PROXY-002",
        ],
    );
    assert!(evidence(&v, "DPW-SRV-002").contains("2.1.12 is too old for WebSockets"));
    assert!(evidence(&v, "DPW-PROXY-001").contains("no web server configuration was found"));
}

#[test]
fn detect_report_shows_the_project_and_its_nginx() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let r = m.dpwizard(["detect"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_contains_all(
        &r.stdout,
        &[
            "How it runs: compose",
            "compose project dpserver in /root/dpserver, variables from /root/dpserver/.env",
            "compose /root/dpserver/docker-compose.yaml:3 service drawpile-srv (drawpile/drawpile-srv:2.3)",
            "drawpile-srv 2.3 (official image)",
            "nginx in compose service nginx (/root/dpserver/docker-compose.yaml:49), built FROM nginx:alpine, ports 80->80 443->443",
            "/root/dpserver/nginx-config → /etc/nginx/conf.d",
            "TLS server (any name) at /root/dpserver/nginx-config/default.conf:15",
            "location /drawpile-web/ws at /root/dpserver/nginx-config/default.conf:50",
        ],
    );
}

#[test]
fn interpolation_agrees_with_docker_compose() {
    use dpwizard::formats::compose_project::{parse_dotenv, parse_file};
    let Some(bin) = which_host("docker-compose") else {
        eprintln!("SKIPPED: docker-compose is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dotenv = "SET=x\nEMPTY=\nQUOTED=\"a b\"\nCOMMENTED=v # note\nexport EXPORTED=e\nFROM_ABOVE=${SET}y${NOPE:-z}\nLITERAL='${SET}'\n";
    // Every form docker-compose 1.29 knows (`:+` is Compose v2 only, so not here).
    let compose = "version: '3.3'\nservices:\n  a:\n    image: \"r/i:${DP_VERSION:-2.3}\"\n    environment:\n      BRACED: ${SET}\n      BARE: $SET.c\n      UNSET_DEFAULT: ${UNSET:-d}\n      EMPTY_COLON_DEFAULT: ${EMPTY:-d}\n      EMPTY_DEFAULT: ${EMPTY-d}\n      UNSET_DASH: ${UNSET-d}\n      DOLLARS: $$SET and $${SET}\n      EMPTY_REQUIRED: ${EMPTY?unset}\n      UNDEFINED: x${NOPE}y\n      QUOTED: ${QUOTED}\n      COMMENTED: ${COMMENTED}\n      EXPORTED: ${EXPORTED}\n      FROM_ABOVE: ${FROM_ABOVE}\n      LITERAL: ${LITERAL}\n";
    std::fs::write(dir.path().join(".env"), dotenv).unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    let out = std::process::Command::new(&bin)
        .arg("config")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: yaml_serde::Value = yaml_serde::from_slice(&out.stdout).unwrap();
    let env = parse_dotenv(dotenv).unwrap();
    let mut undefined = Vec::new();
    let ours = parse_file(compose, &env, &mut undefined).unwrap();
    // `config` prints a literal `$` as `$$` again.
    let unescape = |v: &yaml_serde::Value| v.as_str().unwrap_or("").replace("$$", "$");
    assert_eq!(
        unescape(&theirs["services"]["a"]["image"]),
        ours["services"]["a"]["image"].as_str().unwrap()
    );
    let their_env = theirs["services"]["a"]["environment"].as_mapping().unwrap();
    assert_eq!(their_env.len(), 14); // every key of the file above
    for (k, v) in their_env {
        assert_eq!(
            unescape(v),
            ours["services"]["a"]["environment"][k.as_str().unwrap()]
                .as_str()
                .unwrap(),
            "{k:?}"
        );
    }
    assert_eq!(undefined, ["NOPE"]);
    // `${VAR:?err}` and a lone `$`: both refuse the file.
    for bad in ["${EMPTY:?needs a value}", "5$"] {
        let text = format!("version: '3.3'\nservices:\n  a:\n    image: \"{bad}\"\n");
        std::fs::write(dir.path().join("docker-compose.yml"), &text).unwrap();
        let out = std::process::Command::new(&bin)
            .arg("config")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        assert!(parse_file(&text, &env, &mut Vec::new()).is_err(), "{bad}");
    }
}

#[test]
fn audit_own_web_server_with_drawpile_on_the_host_network() {
    // network_mode: host publishes nothing: the host proxy reaches 127.0.0.1:27751 directly.
    let m = own_web_server(&[]);
    let text = m.read("/root/dpserver/docker-compose.yaml").replacen(
        "        restart: always\n        ports:\n            - \"27750:27750\"\n            - \"127.0.0.1:27780:27780\"\n",
        "        restart: always\n        network_mode: host\n",
        1,
    );
    let text = text.replacen(
        "        networks:\n            - dpserver\n\n    listserver:",
        "\n    listserver:",
        1,
    );
    let text = text.replacen(
        "            --websocket-port 27751\n",
        "            --websocket-port 27751\n            --websocket-listen 127.0.0.1\n",
        1,
    );
    m.file("/root/dpserver/docker-compose.yaml", &text);
    let v = m.detect_json(&[]);
    assert_eq!(
        jget(&v, "runtime.compose.files.0.services.0.network_mode"),
        "host"
    );
    agree_with_docker_compose(&m, "/root/dpserver", &v);
    let v = assert_findings(&m, &[], &[]);
    let passed = ids(&v, "passed");
    assert!(passed.contains(&"DPW-PROXY-007".to_string()), "{passed:?}");
    assert!(passed.contains(&"DPW-SRV-008".to_string()), "{passed:?}");
    // Without --websocket-listen 127.0.0.1 the port is open on every host address.
    m.file(
        "/root/dpserver/docker-compose.yaml",
        text.replace("            --websocket-listen 127.0.0.1\n", ""),
    );
    assert_findings(&m, &[], &["DPW-SRV-008"]);
}

#[test]
fn a_site_mounted_as_a_single_file_and_a_named_project() {
    let m = FakeMachine::debian12();
    m.file(
        "/srv/paint/compose.yaml",
        "name: paint\nservices:\n  drawpile:\n    image: drawpile/drawpile-srv:2.3.0\n    command: [\"--websocket-port\", \"27751\"]\n  web:\n    image: nginx:1.27-alpine\n    ports: [\"443:443\"]\n    volumes:\n      - ./site.conf:/etc/nginx/conf.d/default.conf:ro\n      - ./certs:/etc/ssl/paint:ro\n",
    )
    .file(
        "/srv/paint/site.conf",
        format!(
            "server {{\n    listen 443 ssl;\n    server_name {DOMAIN};\n    ssl_certificate /etc/ssl/paint/fullchain.pem;\n    ssl_certificate_key /etc/ssl/paint/privkey.pem;\n{}}}\n",
            crate::audit::DOC_LOCATION.replace("localhost:27751", "drawpile:27751")
        ),
    )
    .dir("/srv/paint/certs");
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "runtime.compose.files.0.project_name"), "paint");
    let n = jget(&v, "nginx_containers.0");
    assert_eq!(
        n["config"]["files"],
        serde_json::json!(["/srv/paint/site.conf"])
    );
    // The certificate is on the host through the mount.
    assert_eq!(
        n["config"]["servers"][0]["ssl_certificate"],
        "/srv/paint/certs/fullchain.pem"
    );
    let v = assert_findings(&m, &[], &["DPW-TLS-001"]);
    assert!(evidence(&v, "DPW-TLS-001").contains("/srv/paint/certs/fullchain.pem"));
    assert!(ids(&v, "passed").contains(&"DPW-PROXY-007".to_string()));
}

#[test]
fn audit_a_proxy_in_another_compose_project() {
    // drawpile as the README's variant publishes it; the web server in front is a project of
    // its own: nginx on the host's network (judged), or Caddy (not judged yet, said so).
    let m = FakeMachine::debian12();
    dpserver::install(
        &m,
        "/root/dpserver",
        &dpserver::own_web_server_compose(&["127.0.0.1:27751:27751"]),
        &dpserver::default_conf(dpserver::ORIGIN_CHECK_2026),
    );
    m.file(
        "/opt/proxy/docker-compose.yml",
        "services:\n  web:\n    image: nginx:stable\n    network_mode: host\n    volumes:\n      - ./sites:/etc/nginx/conf.d:ro\n      - /etc/letsencrypt:/etc/letsencrypt:ro\n",
    );
    m.file(
        "/opt/proxy/sites/paint.conf",
        format!(
            "server {{\n    listen 443 ssl;\n    server_name paint.example.com;\n    ssl_certificate /etc/letsencrypt/live/paint.example.com/fullchain.pem;\n    ssl_certificate_key /etc/letsencrypt/live/paint.example.com/privkey.pem;\n{}}}\n",
            DOC_LOCATION
        ),
    );
    lineage(&m, GOOD_CERT, true, true);
    let v = m.detect_json(&[]);
    assert_eq!(
        jget(&v, "runtime.compose.web_projects.0.path"),
        "/opt/proxy/docker-compose.yml"
    );
    assert_eq!(jget(&v, "nginx_containers.0.network_mode"), "host");
    let v = assert_findings(&m, &[], &[]);
    let passed = ids(&v, "passed");
    for id in ["DPW-PROXY-007", "DPW-TLS-001", "DPW-TLS-002"] {
        assert!(passed.contains(&id.to_string()), "{id}: {passed:?}");
    }

    m.file(
        "/opt/proxy/docker-compose.yml",
        "services:\n  caddy:\n    image: caddy:2\n    ports: [\"80:80\", \"443:443\"]\n",
    );
    let v = assert_findings(&m, &[], &["DPW-PROXY-013"]);
    let ev = evidence(&v, "DPW-PROXY-013");
    assert!(
        ev.contains(
            "caddy:2 in compose service caddy (/opt/proxy/docker-compose.yml:2) serves port 443"
        ),
        "{ev}"
    );
    assert!(
        !v.to_string()
            .contains("no web server configuration was found")
    );
}

#[test]
fn audit_a_proxy_project_reaches_drawpile_by_name_only_on_a_shared_network() {
    let m = FakeMachine::debian12();
    dpserver::install(
        &m,
        "/root/dpserver",
        &dpserver::own_web_server_compose(&[]),
        &dpserver::default_conf(dpserver::ORIGIN_CHECK_2026),
    );
    let proxy = |networks: &str| {
        format!(
            "services:\n  web:\n    image: nginx:stable\n    ports: [\"443:443\"]\n    networks: [edge]\n    volumes:\n      - ./sites:/etc/nginx/conf.d:ro\n      - /etc/letsencrypt:/etc/letsencrypt:ro\nnetworks:\n  edge:\n{networks}"
        )
    };
    m.file("/opt/proxy/docker-compose.yml", proxy("    {}\n"))
        .file(
            "/opt/proxy/sites/paint.conf",
            format!(
                "server {{\n    listen 443 ssl;\n    server_name paint.example.com;\n    ssl_certificate /etc/letsencrypt/live/paint.example.com/fullchain.pem;\n    ssl_certificate_key /etc/letsencrypt/live/paint.example.com/privkey.pem;\n{}}}\n",
                DOC_LOCATION.replace("localhost:27751", "drawpile-srv:27751")
            ),
        );
    lineage(&m, GOOD_CERT, true, true);
    // Each project on its own network: `drawpile-srv` does not resolve from the proxy.
    let v = assert_findings(&m, &[], &["DPW-PROXY-007"]);
    let ev = evidence(&v, "DPW-PROXY-007");
    assert!(
        ev.contains("dpserver_dpserver") && ev.contains("proxy_edge"),
        "{ev}"
    );
    // Both join one external network (the usual fix): reached by name.
    m.file(
        "/opt/proxy/docker-compose.yml",
        proxy("    external: true\n    name: edge\n"),
    )
    .file(
        "/root/dpserver/docker-compose.override.yaml",
        "services:\n    drawpile-srv:\n        networks:\n            - edge\nnetworks:\n    edge:\n        external:\n            name: edge\n",
    );
    let v = m.detect_json(&[]);
    agree_with_docker_compose(&m, "/root/dpserver", &v);
    assert_findings(&m, &[], &[]);
}

#[test]
fn the_direct_probe_is_skipped_with_the_reason_when_only_the_proxy_reaches_the_port() {
    // The judge on dpserver's facts with live observations in which nothing was probed
    // directly (the port is not published): a reason, not "nothing to probe".
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let host = dpwizard::host::Host::new(
        m.root(),
        std::time::Duration::from_secs(3),
        dpwizard::host::Clock::System,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let facts = rt.block_on(dpwizard::detect::detect(host, Default::default()));
    let obs = dpwizard::audit::Observations {
        live: Some(Default::default()),
        ..Default::default()
    };
    let r = dpwizard::audit::judge(&facts, &obs, None);
    let direct = r.skipped.iter().find(|s| s.id == "DPW-LIVE-002").unwrap();
    assert_eq!(
        direct.reason,
        "compose service drawpile-srv (/root/dpserver/docker-compose.yaml:3) does not publish its \
         WebSocket port on the host; the handshakes through the proxy reach it"
    );
}

#[test]
fn a_service_defined_in_the_override_file_is_reported_there() {
    // dpserver's README: add features in docker-compose.override.yaml; here drawpile-srv
    // runs from there beside a project whose main file has no drawpile service.
    let m = FakeMachine::debian12();
    m.file(
        "/root/stack/docker-compose.yml",
        "services:\n  web:\n    image: nginx:stable\n    ports: [\"443:443\"]\n    volumes: [\"./conf.d:/etc/nginx/conf.d:ro\"]\n",
    )
    .file(
        "/root/stack/docker-compose.override.yml",
        "# drawpile, added later\nservices:\n  drawpile:\n    image: drawpile/drawpile-srv:2.3.0\n    command: --websocket-port 27751\n",
    )
    .file(
        "/root/stack/conf.d/site.conf",
        format!(
            "server {{\n    listen 443 ssl;\n    server_name {DOMAIN};\n{}}}\n",
            crate::audit::DOC_LOCATION.replace("localhost:27751", "drawpile:27751")
        ),
    );
    let v = m.detect_json(&[]);
    let s = jget(&v, "runtime.compose.files.0.services.0");
    assert_eq!(s["file"], "/root/stack/docker-compose.override.yml");
    assert_eq!(s["line"], 3);
    agree_with_docker_compose(&m, "/root/stack", &v);
    let (_, v, _) = crate::audit::audit(&m, &[]);
    assert_eq!(
        v["instance"],
        "compose service drawpile (/root/stack/docker-compose.override.yml:3)"
    );
    assert!(ids(&v, "passed").contains(&"DPW-PROXY-007".to_string()));
}

#[test]
fn audit_the_web_admin_re_published_on_plain_http() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    let conf = dpserver::default_conf(dpserver::ORIGIN_CHECK_2026);
    // The web admin's API also on the port-80 server.
    let plain = conf.replacen(
        "\tlocation /.well-known/acme-challenge/ {",
        "\tlocation /admin/api/ {\n\t\tproxy_pass http://drawpile-srv:27780/api/;\n\t}\n\n\tlocation /.well-known/acme-challenge/ {",
        1,
    );
    m.file("/root/dpserver/nginx-config/default.conf", &plain);
    let v = assert_findings(&m, &[], &["DPW-PROXY-015"]);
    let ev = evidence(&v, "DPW-PROXY-015");
    assert!(
        ev.contains("default.conf:11: proxy_pass http://drawpile-srv:27780/api/ in location /admin/api/ of a server without TLS (/root/dpserver/nginx-config/default.conf:1, listen *:80, [::]:80)"),
        "{ev}"
    );
    // The README's own-web-server variant: the host nginx proxies the published web admin.
    let m = own_web_server(&["127.0.0.1:27751:27751"]);
    site(
        &m,
        DOC_LOCATION,
        "",
        "    location /admin/ { proxy_pass http://127.0.0.1:27780/; }",
    );
    assert_findings(&m, &[], &["DPW-PROXY-015"]);
    // In the TLS server it is fine (dpserver's own layout passes, see above).
    let m = own_web_server(&["127.0.0.1:27751:27751"]);
    site(
        &m,
        DOC_LOCATION,
        "    location /admin/ { proxy_pass http://127.0.0.1:27780/; }",
        "",
    );
    let v = assert_findings(&m, &[], &[]);
    assert!(ids(&v, "passed").contains(&"DPW-PROXY-015".to_string()));
}

// Each symptom of issue 12's "Why", as a test that fails on the behaviour it describes.

fn severity(v: &Value, id: &str) -> String {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .map(|f| f["severity"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn answers_for(domain: &str) -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("answers.toml");
    std::fs::write(&p, format!("[site]\ndomain = \"{domain}\"\n")).unwrap();
    let s = p.to_str().unwrap().to_string();
    (d, s)
}

#[test]
fn a_host_proxy_to_a_port_the_service_never_publishes_is_an_error() {
    // Symptom: exit 0 while every browser gets a 502.
    let m = own_web_server(&[]);
    let v = assert_findings(&m, &[], &["DPW-PROXY-007"]);
    assert_eq!(severity(&v, "DPW-PROXY-007"), "error");
    let run = m.dpwizard(["audit", "--offline"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("[DPW-PROXY-007]"), "{}", run.stdout);
}

#[test]
fn a_websocket_port_published_on_every_address_is_a_warning_whatever_proxy_is_in_front() {
    // Behind the nginx container (the project's main file, as an admin might add it).
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.file(
        "/root/dpserver/docker-compose.yaml",
        dpserver::COMPOSE.replacen(
            "            - \"27750:27750\"\n",
            "            - \"27750:27750\"\n            - \"27751:27751\"\n",
            1,
        ),
    );
    let v = assert_findings(&m, &[], &["DPW-SRV-008"]);
    assert_eq!(severity(&v, "DPW-SRV-008"), "warning");
    assert!(evidence(&v, "DPW-SRV-008").contains("as 0.0.0.0:27751"));
    assert_eq!(m.dpwizard(["audit", "--offline"]).code, 0);
    // Behind nginx on the host (the own-web-server variant).
    let m = own_web_server(&["27751:27751"]);
    let v = assert_findings(&m, &[], &["DPW-SRV-008"]);
    assert_eq!(severity(&v, "DPW-SRV-008"), "warning");
    assert!(evidence(&v, "DPW-SRV-008").contains("as 0.0.0.0:27751"));
}

#[test]
fn the_web_admin_published_on_every_address_is_flagged() {
    let published = |m: &FakeMachine| {
        let main = m.read("/root/dpserver/docker-compose.yaml");
        m.file(
            "/root/dpserver/docker-compose.yaml",
            main.replacen(
                "            - \"27750:27750\"\n",
                "            - \"27750:27750\"\n            - \"27780:27780\"\n",
                1,
            ),
        );
    };
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    published(&m);
    let v = assert_findings(&m, &[], &["DPW-SRV-012"]);
    assert!(evidence(&v, "DPW-SRV-012").contains("27780"), "{v}");
    // A warning whatever the proxy (the rule for the plain ports published on every
    // address): the audit exits 0 with it.
    let f = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "DPW-SRV-012"))
        .expect("the finding");
    assert_eq!(f["severity"], "warning", "{f}");
    // The own-web-server variant publishes it on 127.0.0.1: fine there, flagged when public.
    let m = own_web_server(&["127.0.0.1:27751:27751"]);
    m.file(
        "/root/dpserver/docker-compose.yaml",
        m.read("/root/dpserver/docker-compose.yaml")
            .replace("\"127.0.0.1:27780:27780\"", "\"27780:27780\""),
    );
    let v = assert_findings(&m, &[], &["DPW-SRV-012"]);
    assert!(evidence(&v, "DPW-SRV-012").contains("27780"), "{v}");
}

#[test]
fn drawpiles_former_image_tagged_2_1_is_too_old_not_missing_and_not_replaced() {
    // dpserver's layout on callaa/drawpile-srv:2.1.20 (before WebSockets).
    let m = FakeMachine::debian12();
    let old = dpserver::COMPOSE
        .replace(
            "drawpile/drawpile-srv:${DP_VERSION:-2.3}",
            "callaa/drawpile-srv:2.1.20",
        )
        .replace("            --websocket-port 27751\n", "");
    dpserver::install(&m, "/root/dpserver", &old, &dpserver::default_conf(""));
    let report = m.dpwizard(["--color", "never", "detect"]);
    assert_contains_all(
        &report.stdout,
        &[
            "How it runs: compose",
            "drawpile-srv 2.1.20 (former official image)",
            "2.1.20 is too old for WebSockets (they arrived in 2.2.1)",
            "no binary on the host: it runs from an image (see How it runs)",
        ],
    );
    assert!(
        !report.stdout.contains("How it runs: none"),
        "{}",
        report.stdout
    );
    let v = assert_findings(
        &m,
        &[],
        &["DPW-SRV-002", "DPW-SRV-003", "DPW-SRV-006", "DPW-PROXY-006"],
    );
    assert!(evidence(&v, "DPW-SRV-002").contains("2.1.20 is too old for WebSockets"));
    // The plan neither installs a server beside it (on its occupied 27750) nor gives the old
    // one an option it does not know: it says what to change.
    let before = crate::readonly::snapshot(m.root());
    let (_d, a) = answers_for(DOMAIN);
    let run = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "compose service drawpile-srv runs callaa/drawpile-srv:2.1.20 (former official \
             image): 2.1.20 is too old for WebSockets"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("drawpile/drawpile-srv:2.3"),
        "{}",
        run.stderr
    );
    assert_nothing_written(&m, &before);
    // An image built FROM it: the same.
    let m = FakeMachine::debian12();
    dpserver::brushdojo(&m);
    let run = m.dpwizard(["plan", "--answers", &a]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("built FROM callaa/drawpile-srv:2.1.12): 2.1.12 is too old"),
        "{}",
        run.stderr
    );
}

#[test]
fn compose_files_that_cannot_be_read_are_named_by_plan_and_audit_and_nothing_is_written() {
    let required = |m: &FakeMachine| {
        m.file(
            "/root/dpserver/docker-compose.yaml",
            dpserver::COMPOSE.replace(
                "${DP_VERSION:-2.3}",
                "${DP_VERSION:?set DP_VERSION in .env}",
            ),
        );
    };
    let unreadable_env = |m: &FakeMachine| {
        std::fs::remove_file(m.path("/root/dpserver/.env")).unwrap();
        m.dir("/root/dpserver/.env");
    };
    type Breaks<'a> = &'a dyn Fn(&FakeMachine);
    let cases: [(Breaks, &str); 2] = [
        (
            &required,
            "/root/dpserver/docker-compose.yaml:services.drawpile-srv.image: required variable \
             DP_VERSION is missing a value: set DP_VERSION in .env",
        ),
        (&unreadable_env, "/root/dpserver/.env: cannot read:"),
    ];
    for (break_it, expected) in cases {
        let m = FakeMachine::debian12();
        dpserver::pre_2026(&m);
        break_it(&m);
        let before = crate::readonly::snapshot(m.root());
        let (_d, a) = answers_for(DOMAIN);
        for cmd in [&["plan"][..], &["apply", "--yes"]] {
            let run = m.dpwizard(cmd.iter().copied().chain(["--answers", &a]));
            assert_eq!(run.code, 2, "{cmd:?}: {run:?}");
            assert!(run.stderr.contains(expected), "{cmd:?}: {}", run.stderr);
            assert!(
                run.stderr.contains("drawpile-srv may be in one of them"),
                "{cmd:?}: {}",
                run.stderr
            );
            assert!(
                !run.stderr.contains("install drawpile-srv"),
                "{}",
                run.stderr
            );
            assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        }
        let (_, v, code) = crate::audit::audit(&m, &[]);
        assert_eq!(code, 1);
        assert!(evidence(&v, "DPW-SRV-001").contains(expected), "{v}");
        assert_nothing_written(&m, &before);
    }
}

#[test]
fn an_undefined_variable_is_named_in_the_plan() {
    let m = FakeMachine::debian12();
    dpserver::pre_2026(&m);
    m.file(
        "/root/dpserver/.env",
        "USE_CERTBOT=yes\nEMAIL=admin@example.com\n",
    );
    let (_d, a) = answers_for(DOMAIN);
    let run = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(
            "/root/dpserver/docker-compose.yaml uses DISCORD_WEBHOOK, DOMAIN without a value \
             (Compose substitutes an empty string, so does dpwizard's reading of it): set them \
             in /root/dpserver/.env"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_symlinked_project_dir_is_planned_and_applied_at_its_real_path() {
    let m = FakeMachine::debian12();
    dpserver::pre_2026(&m);
    m.dir("/opt").symlink("/opt/dpserver", "/root/dpserver");
    let site = "/root/dpserver/nginx-config/default.conf";
    let site_before = m.read(site);
    let (_d, a) = answers_for(DOMAIN);
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    // Edited where it is, never through the link; Compose is run as detect found it.
    assert!(
        plan.stdout.contains(&format!("== {site} ")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("docker-compose --project-directory /opt/dpserver -f /opt/dpserver/docker-compose.yaml exec -T nginx nginx -t"),
        "{}",
        plan.stdout
    );
    let apply = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(m.read(site).contains("# BEGIN dpwizard"));
    assert!(
        std::fs::symlink_metadata(m.path("/opt/dpserver"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    assert_eq!(m.dpwizard(["rollback"]).code, 0);
    assert_eq!(m.read(site), site_before);
}

#[test]
fn an_override_file_with_an_alias_for_the_service_is_refused_with_nothing_written() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.file(
        "/root/dpserver/docker-compose.yaml",
        dpserver::COMPOSE.replace("            --websocket-port 27751\n", ""),
    );
    // Anchors and an alias standing for the whole service: valid YAML Compose merges.
    m.file(
        "/root/dpserver/docker-compose.override.yaml",
        "x-dp: &dp\n    restart: unless-stopped\nservices:\n    drawpile-srv: *dp\n",
    );
    let v = m.detect_json(&[]);
    agree_with_docker_compose(&m, "/root/dpserver", &v);
    let before = crate::readonly::snapshot(m.root());
    let (_d, a) = answers_for(DOMAIN);
    let run = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "/root/dpserver/docker-compose.override.yaml: service drawpile-srv is not written \
             as a block (an alias or a flow mapping); edit it by hand"
        ),
        "{}",
        run.stderr
    );
    assert_nothing_written(&m, &before);
}

#[test]
fn ten_thousand_services_in_the_override_file_are_kept_when_it_is_edited() {
    let m = FakeMachine::debian12();
    dpserver::current(&m);
    m.file(
        "/root/dpserver/docker-compose.yaml",
        dpserver::COMPOSE.replace("            --websocket-port 27751\n", ""),
    );
    let mut text = String::from("# generated\nservices:\n");
    for i in 0..10_000 {
        text.push_str(&format!("  svc{i}:\n    image: redis:${{TAG:-7}}\n"));
    }
    m.file("/root/dpserver/docker-compose.override.yaml", &text);
    let (_d, a) = answers_for(DOMAIN);
    let start = std::time::Instant::now();
    let run = m.dpwizard(["apply", "--yes", "--answers", &a]);
    let took = start.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    let after = m.read("/root/dpserver/docker-compose.override.yaml");
    // The service and its command added under services:, every other line as it was.
    let added = after.replacen("services:\n  drawpile-srv:\n", "services:\n", 1);
    let added: Vec<&str> = added
        .lines()
        .filter(|l| !l.contains("command: ["))
        .collect();
    assert_eq!(added, text.lines().collect::<Vec<_>>());
    assert!(after.contains("\"--websocket-port\", \"27751\""));
    // Generous for a debug build on shared cores; a quadratic edit would take minutes.
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}

#[test]
fn answers_from_machine_on_a_sound_own_web_server_variant_plan_nothing() {
    let m = own_web_server(&["127.0.0.1:27751:27751"]);
    let (exported, _d, p) = crate::plan_compose::exported_answers_plan_nothing(&m);
    assert!(exported.contains("runtime = \"compose\"\n"), "{exported}");
    // The web admin port it has asks for nothing (the export names it); another is refused.
    assert!(exported.contains("web_admin_port = 27780\n"));
    std::fs::write(
        &p,
        exported.replace("web_admin_port = 27780\n", "web_admin_port = 9999\n"),
    )
    .unwrap();
    let refused = m.dpwizard(["plan", "--answers", p.to_str().unwrap()]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "[drawpile.web_admin_port] cannot be honoured here: dpwizard changes only the \
             WebSocket port of compose service drawpile-srv"
        ),
        "{}",
        refused.stderr
    );
}

/// The tree is byte for byte what it was before a refused run.
fn assert_nothing_written(
    m: &FakeMachine,
    before: &std::collections::BTreeMap<String, (u32, i64, i64, Vec<u8>)>,
) {
    assert!(
        crate::readonly::snapshot(m.root()) == *before,
        "something was written"
    );
}
