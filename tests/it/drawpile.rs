//! drawpile-srv detection on fake machines with the stand-in playing real builds.

use std::time::{Duration, Instant};

use crate::support::drawpile::{Broken, Build};
use crate::support::*;

fn binaries(v: &Value) -> Vec<Value> {
    jget(v, "drawpile.binaries")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn one(m: &FakeMachine) -> Value {
    let v = m.detect_json(&[]);
    let b = binaries(&v);
    assert_eq!(b.len(), 1, "{b:#?}");
    b[0].clone()
}

#[test]
fn each_real_build_is_told_apart() {
    // (build, expected support) — the expectation is the facts doc's rule, not the output.
    let cases = [
        (Build::v("2.3.0"), Some(true), "≥ 2.3.0"),
        (Build::v("2.2.2"), Some(true), "QtWebSockets: yes"),
        (
            Build::v("2.2.2").without_websockets(),
            Some(false),
            "N/A (not compiled in)",
        ),
        (
            Build::v("2.2.1"),
            Some(true),
            "--help lists --websocket-port",
        ),
        (
            Build::v("2.2.1").without_websockets(),
            Some(false),
            "does not list",
        ),
        (Build::v("2.2.0"), Some(false), "< 2.2.1"),
        (Build::v("2.3.1-beta.1-12-gabcdef0"), Some(true), "≥ 2.3.0"),
    ];
    for (build, supported, reason) in cases {
        let m = FakeMachine::debian12();
        m.with_drawpile("/usr/local/bin/drawpile-srv", &build);
        let b = one(&m);
        assert_eq!(b["version"], build.version, "{b:#}");
        assert_eq!(
            b["websocket"]["supported"],
            serde_json::json!(supported),
            "{b:#}"
        );
        let got_reason = b["websocket"]["reason"].as_str().unwrap();
        assert!(
            got_reason.contains(reason),
            "{}: {got_reason}",
            build.version
        );
        assert_eq!(b["web_admin"], true);
    }
}

#[test]
fn version_suffix_and_protocol_are_kept() {
    let m = FakeMachine::debian12();
    m.with_drawpile(
        "/opt/drawpile/bin/drawpile-srv",
        &Build::v("2.3.1-beta.1-12-gabcdef0"),
    );
    let b = one(&m);
    assert_eq!(b["version_number"], serde_json::json!([2, 3, 1]));
    assert_eq!(b["version_suffix"], "-beta.1-12-gabcdef0");
    assert_eq!(b["protocol_version"], "25.1");
    assert_eq!(b["found_via"], serde_json::json!(["/opt"]));
}

#[test]
fn a_symlinked_binary_is_one_entry_with_two_reasons() {
    let m = FakeMachine::debian12();
    m.with_drawpile("/opt/drawpile/bin/drawpile-srv", &Build::v("2.3.0"))
        .symlink("/usr/bin/drawpile-srv", "/opt/drawpile/bin/drawpile-srv");
    let b = one(&m);
    assert_eq!(b["canonical"], "/opt/drawpile/bin/drawpile-srv");
    let via = b["found_via"].to_string();
    assert!(via.contains("PATH") && via.contains("/opt"), "{via}");
}

#[test]
fn two_installed_binaries_are_both_reported() {
    let m = FakeMachine::debian12();
    m.with_drawpile(
        "/usr/bin/drawpile-srv",
        &Build::v("2.2.2").without_websockets(),
    )
    .with_drawpile("/usr/local/bin/drawpile-srv", &Build::v("2.3.0"));
    let v = m.detect_json(&[]);
    let mut got: Vec<(String, Value)> = binaries(&v)
        .iter()
        .map(|b| {
            (
                b["path"].as_str().unwrap().to_string(),
                b["websocket"]["supported"].clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("/usr/bin/drawpile-srv".into(), Value::Bool(false)),
            ("/usr/local/bin/drawpile-srv".into(), Value::Bool(true)),
        ]
    );
}

#[test]
fn probes_run_as_nobody_never_as_root() {
    if skip_unless_root("dropping privileges") {
        return;
    }
    let m = FakeMachine::debian12();
    m.with_drawpile("/usr/local/bin/drawpile-srv", &Build::v("2.3.0"));
    let b = one(&m);
    // The stand-in refuses root like the real one: a version proves it ran unprivileged.
    assert_eq!(b["probed_as"], "nobody");
    assert_eq!(b["version"], "2.3.0");
}

#[test]
fn crash_garbage_and_hang_become_facts() {
    for (how, expect) in [
        (Broken::Crash, "signal"),
        (Broken::Garbage, "not drawpile-srv's version"),
        (Broken::Hang, "timed out after 0.5 s"),
    ] {
        let m = FakeMachine::debian12();
        m.with_broken_drawpile("/usr/local/bin/drawpile-srv", how);
        let start = Instant::now();
        let v = m.detect_json(&["--timeout", "0.5"]);
        // A hung probe delays detect by no more than its timeout (+ generous slack).
        assert!(
            start.elapsed() < Duration::from_millis(2500),
            "{how:?}: {:?}",
            start.elapsed()
        );
        let b = &binaries(&v)[0];
        assert_eq!(b["version"], Value::Null);
        assert_eq!(b["websocket"]["supported"], Value::Null, "{how:?}");
        let err = b["error"].as_str().unwrap_or_default();
        assert!(err.contains(expect), "{how:?}: {err}");
        let probes = jget(&v, "probes").to_string();
        if matches!(how, Broken::Hang) {
            assert!(probes.contains("\"timeout\""), "{probes}");
        }
    }
}

#[test]
fn a_non_root_dpwizard_says_it_could_not_drop_privileges() {
    if skip_unless_root("running dpwizard as nobody") {
        return;
    }
    let m = FakeMachine::debian12();
    m.with_drawpile("/usr/local/bin/drawpile-srv", &Build::v("2.3.0"));
    let out = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(dpwizard_bin())
        .arg("--root")
        .arg(m.root())
        .args(["detect", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jget(&v, "os.is_root"), false);
    let limits = jget(&v, "os.limits").to_string();
    assert!(limits.contains("not running as root"), "{limits}");
    let b = &binaries(&v)[0];
    // As nobody the stand-in runs (it is not root), and the report says who ran it.
    assert_eq!(b["version"], "2.3.0");
    assert!(
        b["probed_as"].as_str().unwrap().contains("uid 65534"),
        "{b:#}"
    );
}
