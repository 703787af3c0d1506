//! The nginx reader, checked against the real `nginx -T` on every fixture: the same files
//! in the same order, the same verdict, and the server blocks the fixture wrote.

use crate::support::nginx::real_nginx_dump;
use crate::support::nginx::trees::{self, Written};
use crate::support::*;

fn cert(domain: &str) -> (String, String) {
    let c = dpwizard::plan::selfsigned::generate(domain, 1_790_000_000, 3650).unwrap();
    (c.cert_pem, c.key_pem)
}

/// Runs detect and the real nginx on the same tree and checks they agree.
fn agree(m: &FakeMachine, written: Option<&Written>) -> Value {
    let v = m.detect_json(&[]);
    let ours: Vec<String> = jget(&v, "nginx.files")
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let errors = jget(&v, "nginx.errors").as_array().unwrap().clone();
    if let Some(w) = written {
        let servers: Vec<(String, usize, Vec<String>)> = jget(&v, "nginx.servers")
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["file"].as_str().unwrap().to_string(),
                    s["line"].as_u64().unwrap() as usize,
                    serde_json::from_value(s["server_names"].clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(servers, w.http_servers);
    }
    if is_root() && which_host("nginx").is_some() {
        let real = real_nginx_dump(m.root());
        assert_eq!(
            real.ok,
            errors.is_empty(),
            "nginx -t: {} / ours: {errors:?}",
            real.stderr
        );
        if real.ok {
            assert!(
                !real.files.is_empty(),
                "nginx -T listed no files: {}",
                real.stderr
            );
            assert_eq!(ours, real.files, "files read differ from nginx -T");
        }
    } else {
        eprintln!("SKIPPED the nginx -T comparison: needs root and nginx");
    }
    v
}

#[test]
fn debian_default_layout() {
    let m = FakeMachine::debian12();
    let w = trees::debian_default(m.root());
    let v = agree(&m, Some(&w));
    assert_eq!(jget(&v, "nginx.conf_path"), "/etc/nginx/nginx.conf");
    let s = jget(&v, "nginx.servers.0");
    assert_eq!(s["ssl"], false);
    assert_eq!(s["listen"][1]["address"], "[::]");
    assert_eq!(s["listen"][1]["default_server"], true);
    assert_eq!(s["locations"][0]["path"], "/");
}

#[test]
fn certbot_managed_site_split_over_includes() {
    let m = FakeMachine::debian12();
    let (c, k) = cert("paint.example.com");
    let w = trees::certbot_site(m.root(), "paint.example.com", &c, &k);
    let v = agree(&m, Some(&w));
    let files = jget(&v, "nginx.files").to_string();
    for f in [
        "/etc/letsencrypt/options-ssl-nginx.conf",
        "/etc/nginx/snippets/nested/realip.conf",
        "/etc/nginx/conf.d/gzip.conf",
    ] {
        assert!(files.contains(f), "{f} not read: {files}");
    }
    assert!(!files.contains("README"));
    let tls = jget(&v, "nginx.servers")
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ssl"] == true)
        .unwrap()
        .clone();
    assert_eq!(
        tls["ssl_certificate"],
        "/etc/letsencrypt/live/paint.example.com/fullchain.pem"
    );
    assert_eq!(tls["listen"][0]["port"], 443);
    // The location's directives include what came through the nested includes.
    let loc = tls["locations"][0]["directives"].to_string();
    assert!(
        loc.contains("X-Real-IP") && loc.contains("proxy_http_version"),
        "{loc}"
    );
}

#[test]
fn relative_includes_resolve_against_the_conf_directory() {
    let m = FakeMachine::debian12();
    let w = trees::relative_includes(m.root());
    agree(&m, Some(&w));
}

#[test]
fn broken_configs_are_errors_for_both() {
    // A missing `;`.
    let m = FakeMachine::debian12();
    trees::debian_default(m.root());
    m.file("/etc/nginx/conf.d/bad.conf", "gzip on\n");
    let v = agree(&m, None);
    let errors = jget(&v, "nginx.errors").to_string();
    assert!(errors.contains("/etc/nginx/conf.d/bad.conf:"), "{errors}");
    // A missing (non-glob) include.
    let m = FakeMachine::debian12();
    trees::debian_default(m.root());
    m.file(
        "/etc/nginx/conf.d/inc.conf",
        "include /etc/nginx/missing.conf;\n",
    );
    let v = agree(&m, None);
    assert!(
        jget(&v, "nginx.errors")
            .to_string()
            .contains("missing.conf")
    );
}

#[test]
fn servers_outside_http_and_commented_out_do_not_count() {
    let m = FakeMachine::debian12();
    m.file(
        "/etc/nginx/nginx.conf",
        "events {}\nhttp {\n  upstream app { server 127.0.0.1:9000; }\n  # server { listen 1; }\n  server { listen 443 ssl; server_name a.test; ssl_certificate certs/a.pem; }\n}\nstream {\n  server { listen 12345; }\n}\n",
    );
    // (no nginx -T here: Debian's nginx has no stream module to load)
    let v = m.detect_json(&[]);
    let servers = jget(&v, "nginx.servers").as_array().unwrap().clone();
    assert_eq!(servers.len(), 1);
    // Relative certificate paths resolve against nginx.conf's directory.
    assert_eq!(servers[0]["ssl_certificate"], "/etc/nginx/certs/a.pem");
}

#[test]
fn thousand_server_tree() {
    let m = FakeMachine::debian12();
    let w = trees::thousand_servers(m.root());
    let v = agree(&m, Some(&w));
    assert_eq!(jget(&v, "nginx.files").as_array().unwrap().len(), 1002);
}

#[test]
fn server_level_proxy_overrides_are_reported() {
    let m = FakeMachine::debian12();
    trees::debian_default(m.root());
    m.file(
        "/etc/nginx/conf.d/x.conf",
        "proxy_read_timeout 30s;\nserver {\n    listen 8080;\n    proxy_pass_request_headers off;\n    location / { proxy_pass http://127.0.0.1:1; }\n}\n",
    );
    let v = agree(&m, None);
    assert_eq!(
        jget(&v, "nginx.http_proxy_directives.0.name"),
        "proxy_read_timeout"
    );
    let srv = jget(&v, "nginx.servers")
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["file"] == "/etc/nginx/conf.d/x.conf")
        .unwrap()
        .clone();
    assert_eq!(
        srv["proxy_directives"][0]["name"],
        "proxy_pass_request_headers"
    );
    assert_eq!(srv["proxy_directives"][0]["args"][0], "off");
    assert_eq!(srv["proxy_directives"][0]["line"], 4);
}
