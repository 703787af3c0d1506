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
    /// What the play said of a task: the line after its header (`changed: [localhost]`).
    fn task(&self, name: &str) -> &str {
        let header = format!("TASK [dpwizard : {name}]");
        let mut lines = self.out.lines();
        lines.find(|l| l.starts_with(&header));
        lines
            .next()
            .unwrap_or_else(|| panic!("no task {name}:\n{}", self.out))
    }

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
    assert_eq!(
        second.task("Apply the answers"),
        "skipping: [localhost]",
        "{}",
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

/// Stages the fake server's tree at `to` inside a throwaway machine: the files through
/// `vps.file`, and a shell prelude that makes its directories and symlinks.
fn stage_tree(vps: &crate::support::vps::Vps, root: &Path, to: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let mut prelude = String::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let inside = format!("{to}/{}", p.strip_prefix(root).unwrap().display());
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                prelude.push_str(&format!("ln -sfn '{}' '{inside}'\n", target.display()));
            } else if meta.is_dir() {
                prelude.push_str(&format!(
                    "mkdir -p '{inside}' && chmod {:o} '{inside}'\n",
                    meta.permissions().mode() & 0o7777
                ));
                stack.push(p);
            } else {
                vps.file(
                    &inside,
                    std::fs::read(&p).unwrap(),
                    meta.permissions().mode() & 0o7777,
                );
            }
        }
    }
    prelude
}

/// The whole role in a throwaway machine, as on a fresh server: it installs the .deb with
/// apt, then applies and audits with the installed /usr/bin/dpwizard; the second play
/// changes nothing.
#[test]
fn ansible_role_installs_the_deb_and_is_idempotent_in_a_throwaway_machine() {
    if skip_unless_root("the Ansible role in a throwaway machine")
        || skip_unless_program("ansible-playbook")
    {
        return;
    }
    let Some(deb) = crate::deb::deb_or_skip("the Ansible role in a throwaway machine") else {
        return;
    };
    let (m, _, _dir) = crate::apply::plan_and_apply::machine();
    let vps = crate::support::vps::Vps::new();
    let prelude = stage_tree(&vps, m.root(), "/srv/paint");
    vps.file("/root/dpwizard.deb", std::fs::read(&deb).unwrap(), 0o644);
    // The role too: the checkout may live under /tmp, which the machine replaces.
    let prelude = prelude
        + &stage_tree(
            &vps,
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ansible")),
            "/root/ansible",
        );
    let vars = serde_json::json!({
        "ansible_become": false,
        "dpwizard_deb": "/root/dpwizard.deb",
        "dpwizard_root": "/srv/paint",
        "dpwizard_domain": "paint.example.com",
        "dpwizard_audit_args": OFFLINE,
    });
    let site = "/root/ansible/site.yml";
    let out = vps.run(&format!(
        r#"set -u
{prelude}
rm -f /usr/local/bin/dpwizard /usr/bin/dpwizard
printf '[drawpile]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' >/root/inventory.ini
export ANSIBLE_NOCOLOR=1 HOME=/root ANSIBLE_RETRY_FILES_ENABLED=0
for n in 1 2; do
  ansible-playbook -i /root/inventory.ini -e '{vars}' {site} >/results/play$n 2>&1
  echo $? >/results/play$n.rc
done
command -v dpwizard >/results/which
"#
    ));
    let r = |name: &str| vps.result(name);
    for n in ["play1", "play2"] {
        assert_eq!(
            r(&format!("{n}.rc")).trim(),
            "0",
            "{n}:\n{}\n{}",
            r(n),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let first = Play {
        code: 0,
        out: r("play1"),
    };
    let second = Play {
        code: 0,
        out: r("play2"),
    };
    // The first play copies and installs the package, writes the answers and applies them.
    assert!(first.recap("changed") >= 4, "{}", first.out);
    assert_eq!(
        first.task("Install dpwizard"),
        "changed: [localhost]",
        "{}",
        first.out
    );
    assert_eq!(
        first.task("Apply the answers"),
        "changed: [localhost]",
        "{}",
        first.out
    );
    assert_eq!(
        second.task("Install dpwizard"),
        "ok: [localhost]",
        "{}",
        second.out
    );
    assert_eq!(
        second.task("Apply the answers"),
        "skipping: [localhost]",
        "{}",
        second.out
    );
    assert_eq!(r("which").trim(), "/usr/bin/dpwizard");
    assert_eq!(second.recap("changed"), 0, "{}", second.out);
}
