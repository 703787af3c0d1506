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
        let mut networks: Vec<String> = match &s["networks"] {
            yaml_serde::Value::Mapping(n) => n.keys().map(str_of).collect(),
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

fn agree_with_docker_compose(m: &FakeMachine, dir: &str, v: &Value) {
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
