//! docs/detect-schema.md is generated from the code's types and doc comments; this test
//! fails when it is stale (regenerate with `DPWIZARD_BLESS=1 cargo test --test it schema`).

use crate::support::*;

fn generated() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(dpwizard::detect::Facts)).unwrap();
    dpwizard::schema_doc::markdown(
        "`dpwizard detect --json` schema",
        &format!(
            "Generated from the code (`src/detect/`); do not edit by hand. `schema_version` is {}: \
             it changes only when a field is removed or changes meaning; new fields may appear \
             at any time. Paths use `[]` for array items. The JSON is indented when stdout is a terminal and compact otherwise. Fields documented \"null when …\" are \
             present with the value `null`.",
            dpwizard::detect::SCHEMA_VERSION
        ),
        &schema,
    )
}

#[test]
fn detect_schema_doc_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/detect-schema.md");
    let want = generated();
    if std::env::var_os("DPWIZARD_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/detect-schema.md is stale: run DPWIZARD_BLESS=1 cargo test --test it schema"
    );
}

#[test]
fn the_issue_s_required_paths_are_documented_and_present() {
    let doc = generated();
    let m = FakeMachine::debian12();
    let v = m.detect_json(&[]);
    for path in [
        "drawpile.binaries[].version",
        "drawpile.binaries[].websocket.supported",
        "drawpile.binaries[].websocket.reason",
        "runtime.kind",
        "runtime.units",
        "web_servers[].name",
        "web_servers[].listens_443",
        "nginx.servers[].file",
        "nginx.servers[].line",
        "nginx.servers[].server_names",
        "nginx.servers[].listen",
        "nginx.servers[].ssl",
        "tls.lineages[].names",
        "tls.lineages[].not_after",
        "network.listeners",
        "probes[].name",
        "probes[].status",
        "probes[].duration_ms",
        "probes[].error",
        "schema_version",
    ] {
        assert!(
            doc.contains(&format!("| `{path}` |")),
            "{path} not documented"
        );
        let top = path.split(['.', '[']).next().unwrap();
        assert!(v.get(top).is_some(), "{top} missing from the JSON");
    }
}
