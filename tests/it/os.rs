//! OS detection on fake machines.

use crate::support::*;

#[test]
fn fresh_debian_is_recognised() {
    let m = FakeMachine::debian12();
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "os.id"), "debian");
    assert_eq!(jget(&v, "os.version_id"), "12");
    assert_eq!(jget(&v, "os.package_manager"), "apt");
    assert_eq!(jget(&v, "os.systemd_running"), false);
    assert_eq!(jget(&v, "runtime.kind"), "none");
    assert_eq!(
        jget(&v, "drawpile.binaries").as_array().map(Vec::len),
        Some(0)
    );
}

#[test]
fn systemd_and_container_markers_are_read_from_the_root() {
    let m = FakeMachine::debian12();
    m.dir("/run/systemd/system").file("/.dockerenv", "");
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "os.systemd_running"), true);
    assert_eq!(jget(&v, "os.container"), "docker");
}

#[test]
fn another_root_says_live_facts_are_not_reported() {
    let m = FakeMachine::debian12();
    let v = m.detect_json(&[]);
    let limits = jget(&v, "os.limits").to_string();
    assert!(limits.contains("instead of /"), "{limits}");
}
