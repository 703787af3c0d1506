//! The units dpwizard creates are checked by the real `systemd-analyze` (verify and the
//! offline security score), not by string comparison alone.

use std::process::Command;

use dpwizard::plan::systemd::*;

use crate::support::*;

fn args() -> ServerArgs {
    ServerArgs {
        tcp_port: 27750,
        websocket_port: 27751,
        websocket_listen: Some("127.0.0.1".into()),
        web_admin_port: Some(27780),
    }
}

/// Writes `text` as drawpile-srv.service in a temp dir and runs `systemd-analyze ARGS` on it.
fn analyze(text: &str, args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join(UNIT_NAME);
    std::fs::write(&unit, text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(&unit)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn new_service_passes_systemd_analyze_verify_without_warnings() {
    if skip_unless_program("systemd-analyze") {
        return;
    }
    // The ExecStart binary must exist for verify; /bin/true stands for drawpile-srv here.
    let text = render_new_service(&NewService {
        binary: "/bin/true".into(),
        user: "drawpile".into(),
        args: args(),
        notify: false,
    });
    let (rc, out) = analyze(&text, &["verify", "--man=no"]);
    // Unknown keys only warn with rc 0, so the output must be empty too (test-rig.md).
    assert_eq!((rc, out.trim()), (0, ""), "{text}");
}

#[test]
fn new_service_is_hardened() {
    if skip_unless_program("systemd-analyze") {
        return;
    }
    let text = render_new_service(&NewService {
        binary: "/bin/true".into(),
        user: "drawpile".into(),
        args: args(),
        notify: true,
    });
    // Exposure is 0–10 on screen and 0–100 for --threshold: 2.0 or better ("OK").
    let (rc, out) = analyze(&text, &["security", "--offline=yes", "--threshold=20"]);
    assert_eq!(rc, 0, "exposure above 2.0:\n{out}");
}

#[test]
fn new_container_unit_passes_verify() {
    if skip_unless_program("systemd-analyze") || skip_unless_program("docker") {
        return;
    }
    let docker = which_host("docker").unwrap();
    let text = render_new_container(&NewContainer {
        docker: docker.display().to_string(),
        image: "drawpile/drawpile-srv:2.3".into(),
        container_name: "drawpile-srv".into(),
        volume: "drawpile-srv-data".into(),
        args: args(),
    });
    let (rc, out) = analyze(&text, &["verify", "--man=no"]);
    assert_eq!((rc, out.trim()), (0, ""), "{text}");
}

/// Under --root, the real systemd-analyze checks the tree (`--root=DIR`): a mistake in a
/// file dpwizard writes is refused, while what a partial tree lacks (sysinit.target, the
/// other machine's binaries) is not held against it.
#[test]
fn units_under_another_root_are_verified_by_the_real_systemd_analyze() {
    if skip_unless_program("systemd-analyze") {
        return;
    }
    use dpwizard::plan::{Change, FileMode, Plan};
    let m = FakeMachine::debian12();
    let path = "/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf";
    m.file(
        "/etc/systemd/system/drawpile-srv.service",
        "[Service]\nExecStart=/usr/local/bin/drawpile-srv\nUser=drawpile\n",
    );
    let check = |text: &str| {
        m.file(path, text);
        let plan = Plan {
            changes: vec![Change::Write {
                path: path.into(),
                old: None,
                new: text.as_bytes().to_vec(),
                mode: FileMode::CONFIG,
                secret: false,
                why: "test".into(),
            }],
            ..Default::default()
        };
        let host = dpwizard::host::Host::new(
            m.root(),
            std::time::Duration::from_secs(10),
            dpwizard::host::Clock::System,
        );
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(dpwizard::apply::validate_units(&host, &plan))
    };
    match check(
        "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --websocket-port 27751\n",
    ) {
        dpwizard::apply::Validation::Passed(_) => {}
        other => panic!("a good drop-in: {other:?}"),
    }
    match check("[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv\nTipe=simple\n") {
        dpwizard::apply::Validation::Failed(why) => {
            assert!(
                why.contains("zz-dpwizard.conf:4: Unknown key 'Tipe'"),
                "{why}"
            );
        }
        other => panic!("a bad drop-in: {other:?}"),
    }
}
