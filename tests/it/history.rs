//! `dpwizard history` and the log each run keeps beside its journal, on a fake VPS after a
//! real `apply` and `rollback`; nothing secret (private keys, the web admin's password)
//! ever lands in either.

use crate::support::*;

const PASSWORD: &str = "hunter2-never-logged";

#[test]
fn history_lists_the_run_its_files_its_log_and_its_rollback_and_keeps_no_secret() {
    let (m, _, dir) = crate::apply::plan_and_apply::machine();
    // The web admin's password, where drawpile-srv reads it (drawpile.md).
    let dropin = "/etc/systemd/system/drawpile-srv.service.d/override.conf";
    let text = m.read(dropin);
    m.file(
        dropin,
        format!("{text}Environment=DRAWPILESRV_WEB_ADMIN_AUTH=admin:{PASSWORD}\n"),
    );
    let answers = dir.path().join("self-signed.toml");
    std::fs::write(
        &answers,
        "[site]\ndomain = \"paint.example.com\"\n[tls]\nmode = \"self-signed\"\n",
    )
    .unwrap();
    let a = answers.to_str().unwrap();

    let empty = m.dpwizard(["history"]);
    assert_eq!(empty.code, 0, "{empty:?}");
    assert_eq!(
        empty.stdout,
        "No runs recorded in /var/lib/dpwizard/runs.\n"
    );

    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let written = apply
        .stdout
        .lines()
        .find(|l| l.starts_with("Written as run "))
        .expect("apply names its run");
    let id = written["Written as run ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let run_dir = format!("/var/lib/dpwizard/runs/{id}");
    let journal: serde_json::Value =
        serde_json::from_str(&m.read(&format!("{run_dir}/journal.json"))).unwrap();
    let paths: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.len() >= 3, "{paths:?}");

    // The list: the run, each file it wrote, the checks (not run under --root), the log.
    let list = m.dpwizard(["--color", "never", "history"]);
    assert_eq!(list.code, 0, "{list:?}");
    assert!(
        list.stdout.starts_with(&format!("{id}  ")),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("checks not run"), "{}", list.stdout);
    for p in &paths {
        assert!(
            list.stdout.contains(&format!(" {p}\n")),
            "{p}:\n{}",
            list.stdout
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&m.dpwizard(["history", "--json"]).stdout).unwrap();
    assert_eq!(json["runs"][0]["id"], id.as_str());
    assert_eq!(json["runs"][0]["verification"], "not-run");
    assert_eq!(json["runs"][0]["rolled_back"], false);
    let listed: Vec<&str> = json["runs"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(listed, paths);

    // The log, beside the journal, says what apply said: the validators, the commands left
    // to the admin, the run.
    let log = m.read(&format!("{run_dir}/log.txt"));
    assert_contains_all(
        &log,
        &[
            "Run them yourself:",
            "systemctl daemon-reload",
            // The same words apply printed.
            written,
        ],
    );
    assert!(
        log.lines().all(|l| l.len() > 10 && l.as_bytes()[8] == b'Z'),
        "every line starts with its time:\n{log}"
    );
    let shown = m.dpwizard(["history", &id]);
    assert_eq!(shown.code, 0, "{shown:?}");
    assert_eq!(shown.stdout, log);

    // No secret in either: the private key apply generated, the web admin's password.
    let key_path = paths
        .iter()
        .find(|p| p.ends_with(".key"))
        .expect("a self-signed key was written");
    let key = m.read(key_path);
    let body: Vec<&str> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .collect();
    assert!(!body.is_empty(), "{key}");
    let journal_text = m.read(&format!("{run_dir}/journal.json"));
    for (name, text) in [("journal.json", &journal_text), ("log.txt", &log)] {
        assert!(!text.contains("PRIVATE KEY"), "{name}");
        for b in &body {
            assert!(!text.contains(b), "{name} holds the private key");
        }
        assert!(!text.contains(PASSWORD), "{name} holds the password");
    }

    // Rolled back, the run says so.
    let rollback = m.dpwizard(["rollback"]);
    assert_eq!(rollback.code, 0, "{rollback:?}");
    let after = m.dpwizard(["--color", "never", "history"]);
    assert!(
        after
            .stdout
            .lines()
            .next()
            .unwrap()
            .ends_with("checks not run · rolled back"),
        "{}",
        after.stdout
    );

    let unknown = m.dpwizard(["history", "20000101T000000Z-1"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("no run 20000101T000000Z-1 in /var/lib/dpwizard/runs"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn history_that_cannot_list_the_runs_says_why_and_exits_2() {
    let m = FakeMachine::debian12();
    // A file where the runs directory should be (as a non-root user meets a 0700 one).
    m.file("/var/lib/dpwizard/runs", "");
    let run = m.dpwizard(["history"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("history: cannot list the runs: /var/lib/dpwizard/runs: "),
        "{}",
        run.stderr
    );
}

/// On a machine with a real systemd, nginx and drawpile-srv, the live checks after apply
/// land in the run's log, and history says they passed.
#[test]
fn live_history_records_the_checks_of_a_real_apply() {
    use crate::support::drawpile::Server;
    use crate::support::nspawn::{Machine, skip_unless_machine};
    if skip_unless_machine(&["nginx"]) {
        return;
    }
    let m = Machine::boot("dpw-history-live");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    m.ok("systemctl start nginx");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let dpw = dpwizard_in_machine();
    let applied = m.ok(&format!(
        "{dpw} --color never apply --yes --answers /root/answers.toml"
    ));
    // Every check apply printed is in the log, in the same words.
    let log = m.ok("cat /var/lib/dpwizard/runs/*/log.txt");
    let checks: Vec<&str> = applied
        .lines()
        .filter(|l| l.starts_with("✓ wss://") || l.starts_with("✓ direct WebSocket"))
        .collect();
    assert_eq!(checks.len(), 4, "{applied}");
    for c in checks {
        assert!(log.contains(c), "{c} not in the log:\n{log}");
    }
    let history = m.ok(&format!("{dpw} --color never history"));
    assert!(
        history
            .lines()
            .next()
            .unwrap_or("")
            .ends_with("checks passed"),
        "{history}"
    );
    let key = m.ok("cat /etc/ssl/dpwizard/draw.example.test.key");
    let body = key.lines().nth(1).unwrap_or("-----");
    assert!(!log.contains(body), "the log holds the private key");
}
