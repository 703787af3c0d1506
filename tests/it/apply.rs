//! Apply's safety net: `kill -9` of a journalled run at many moments leaves every file either
//! entirely old or entirely new, and `dpwizard rollback` then restores the tree byte for byte.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::*;

const N: usize = 5;

fn old(i: usize) -> Vec<u8> {
    format!("old-{i}\n").repeat(200_000).into_bytes()
}

fn new(i: usize) -> Vec<u8> {
    format!("new-{i}\n").repeat(200_000).into_bytes()
}

/// A machine with files 0..N-1 except the last (which the run creates).
fn machine() -> FakeMachine {
    let m = FakeMachine::debian12();
    for i in 0..N - 1 {
        m.file(&format!("/etc/dpw-crash/file{i}"), old(i));
    }
    m
}

fn etc_files(m: &FakeMachine) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(m.path("/etc/dpw-crash"))
        .unwrap()
        .flatten()
    {
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        );
    }
    out
}

fn helper() -> std::path::PathBuf {
    target_dir().join("examples/journal-crash-helper")
}

#[test]
fn kill_9_at_any_moment_leaves_old_or_new_and_rollback_recovers() {
    // How long an undisturbed run takes, to spread the kills over it.
    let m = machine();
    let t = Instant::now();
    let st = Command::new(helper())
        .arg(m.root())
        .arg(N.to_string())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let full = t.elapsed();
    let after = etc_files(&m);
    for i in 0..N {
        assert_eq!(
            after[&format!("file{i}")],
            new(i),
            "an undisturbed run writes everything"
        );
    }

    let kills = 24;
    let mut midway = 0;
    for k in 0..kills {
        let m = machine();
        let before = etc_files(&m);
        let mut child = Command::new(helper())
            .arg(m.root())
            .arg(N.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(k as f64 / kills as f64));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for (name, bytes) in etc_files(&m) {
            if name.starts_with('.') {
                continue; // a temp file of the interrupted write; never the file itself
            }
            let i: usize = name.trim_start_matches("file").parse().unwrap();
            assert!(
                bytes == old(i) || bytes == new(i),
                "kill {k}: {name} is torn ({} bytes)",
                bytes.len()
            );
        }
        let files = etc_files(&m);
        if files.get("file0") == Some(&new(0)) && files.get("file3") == Some(&old(3)) {
            midway += 1;
        }
        let run = m.dpwizard(["rollback"]);
        if run.code == 2 {
            // Killed before the journal existed: nothing may have changed.
            assert!(run.stderr.contains("no runs"), "{run:?}");
            let now: BTreeMap<_, _> = etc_files(&m)
                .into_iter()
                .filter(|(n, _)| !n.starts_with('.'))
                .collect();
            assert_eq!(now, before, "kill {k}: files changed without a journal");
            continue;
        }
        assert_eq!(run.code, 0, "kill {k}: {run:?}");
        assert_eq!(
            etc_files(&m),
            before,
            "kill {k}: rollback did not restore the tree"
        );
    }
    // The kills really landed in the middle of runs, not only before or after them.
    assert!(midway >= 1, "no kill landed mid-run (run took {full:?})");
}

#[test]
fn rollback_refuses_to_clobber_later_edits_and_is_idempotent() {
    let m = machine();
    let st = Command::new(helper())
        .arg(m.root())
        .arg("2")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    m.file("/etc/dpw-crash/file0", "edited later\n");
    let run = m.dpwizard(["rollback"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("/etc/dpw-crash/file0 was changed after run"),
        "{}",
        run.stderr
    );
    let run = m.dpwizard(["rollback", "--force"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(m.read("/etc/dpw-crash/file0").as_bytes(), old(0).as_slice());
    let run = m.dpwizard(["rollback"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("already rolled back"), "{}", run.stdout);
    let run = m.dpwizard(["rollback", "20990101T000000Z-1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no run 20990101T000000Z-1"));
}
