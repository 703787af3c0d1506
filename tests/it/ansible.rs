//! The Ansible role in examples/ansible, run by Debian's ansible-playbook over a local
//! connection against a fake VPS (`dpwizard_root`): the first play applies and audits, the
//! second changes nothing (`plan --check` exits 0), and audit errors fail the play.
//! (Installing the .deb is the one step left out here; tests/it/deb.rs installs it.)

use std::path::Path;
use std::process::Command;

use crate::support::*;

struct Play {
    code: i32,
    out: String,
}

impl Play {
    /// The recap's count for `what` (`changed`, `failed`, …).
    fn recap(&self, what: &str) -> u32 {
        self.out
            .lines()
            .filter(|l| l.starts_with("localhost") && l.contains(" : "))
            .flat_map(|l| l.split_whitespace())
            .find_map(|w| w.strip_prefix(&format!("{what}=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {what}= in the recap:\n{}", self.out))
    }
}

/// Plays site.yml; `audit_args` are the audit's extra arguments.
fn play(root: &Path, scratch: &Path, audit_args: &[&str]) -> Play {
    let inventory = scratch.join("inventory.ini");
    std::fs::write(
        &inventory,
        "[drawpile]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n",
    )
    .unwrap();
    let vars = serde_json::json!({
        // Root already; the fake VPS needs no sudo.
        "ansible_become": false,
        "dpwizard_root": root,
        "dpwizard_bin": dpwizard_bin(),
        "dpwizard_domain": "paint.example.com",
        "dpwizard_extra_origins": ["https://paint.example.org"],
        "dpwizard_audit_args": audit_args,
    });
    let out = Command::new("ansible-playbook")
        .arg("-i")
        .arg(&inventory)
        .arg("-e")
        .arg(vars.to_string())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/ansible/site.yml"
        ))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", scratch.join("local"))
        .env("ANSIBLE_REMOTE_TEMP", scratch.join("remote"))
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("HOME", scratch)
        .output()
        .expect("ansible-playbook");
    Play {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A fake tree runs no server to probe.
const OFFLINE: &[&str] = &["--offline"];

#[test]
fn ansible_role_applies_audits_and_a_second_play_changes_nothing() {
    if skip_unless_program("ansible-playbook") {
        return;
    }
    let (m, _, _dir) = crate::apply::plan_and_apply::machine();
    let scratch = tempfile::tempdir().unwrap();
    let dropin = "/etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf";
    assert!(!m.path(dropin).exists());

    let first = play(m.root(), scratch.path(), OFFLINE);
    assert_eq!(first.code, 0, "{}", first.out);
    assert!(
        first.out.contains("TASK [dpwizard : Apply the answers]"),
        "{}",
        first.out
    );
    assert_eq!(first.recap("failed"), 0);
    // The answers file, and apply's changes.
    assert!(first.recap("changed") >= 2, "{}", first.out);
    assert!(m.path(dropin).exists(), "{}", first.out);
    let answers = m.read("/etc/dpwizard/answers.toml");
    assert!(
        answers.contains("domain = \"paint.example.com\""),
        "{answers}"
    );
    assert!(
        answers.contains("extra_origins = [\"https://paint.example.org\"]"),
        "{answers}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(m.path("/etc/dpwizard/answers.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let second = play(m.root(), scratch.path(), OFFLINE);
    assert_eq!(second.code, 0, "{}", second.out);
    assert_eq!(second.recap("changed"), 0, "{}", second.out);
    assert!(
        second.out.contains("skipping: [localhost]"),
        "apply was not skipped:\n{}",
        second.out
    );

    // Errors fail the play: the audit's (here: a domain no server serves) …
    let audit_error = play(
        m.root(),
        scratch.path(),
        &["--offline", "--domain", "elsewhere.example.com"],
    );
    assert_ne!(audit_error.code, 0, "{}", audit_error.out);
    assert!(
        audit_error.out.contains("dpwizard audit found ") && audit_error.out.contains("DPW-PROXY-"),
        "{}",
        audit_error.out
    );
    assert_eq!(audit_error.recap("failed"), 1);
    // … and the plan's (the certificate's key replaced by another one).
    let other =
        dpwizard::plan::selfsigned::generate("other.example.com", crate::audit::now(), 90).unwrap();
    m.file(
        "/etc/letsencrypt/live/paint.example.com/privkey.pem",
        &other.key_pem,
    );
    let plan_error = play(m.root(), scratch.path(), OFFLINE);
    assert_ne!(plan_error.code, 0, "{}", plan_error.out);
    assert!(
        plan_error.out.contains("the key does not match"),
        "{}",
        plan_error.out
    );
}
