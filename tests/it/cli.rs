//! The command line itself: exit codes, global options, errors.

use crate::support::*;

#[test]
fn missing_root_is_a_usage_error() {
    let out = std::process::Command::new(dpwizard_bin())
        .args(["--root", "/nonexistent/dpw-root", "detect"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--root /nonexistent/dpw-root"), "{err}");
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let m = FakeMachine::debian12();
    let run = m.dpwizard(["frobnicate"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn bad_timeout_is_a_usage_error() {
    let m = FakeMachine::debian12();
    let run = m.dpwizard(["--timeout", "-1", "detect"]);
    assert_eq!(run.code, 2);
    let run = m.dpwizard(["--timeout", "abc", "detect"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a number of seconds"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_has_a_schema_version_and_every_documented_top_level_key() {
    let m = FakeMachine::debian12();
    let v = m.detect_json(&[]);
    assert_eq!(v["schema_version"], 1);
    for key in [
        "os",
        "drawpile",
        "runtime",
        "web_servers",
        "nginx",
        "apache",
        "caddy",
        "tls",
        "network",
        "probes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn color_never_and_no_color_print_no_escape_codes() {
    let m = FakeMachine::debian12();
    let run = m.dpwizard(["--color", "always", "detect"]);
    assert!(run.stdout.contains("\x1b["), "always must colour");
    let run = m.dpwizard(["--color", "never", "detect"]);
    assert!(!run.stdout.contains("\x1b["));
    let out = std::process::Command::new(dpwizard_bin())
        .arg("--root")
        .arg(m.root())
        .arg("detect")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\x1b["));
}
