//! Every command dpwizard prints for a person can be pasted into a shell as it is: run
//! through sh, each comes back as the argv dpwizard meant (quoting), repeats `--root` and
//! `--answers`, and the certbot command passes the real certbot's argument parser.

use std::process::Command;

use crate::apply::plan_and_apply::machine;
use crate::support::*;

/// The words sh makes of a command line.
fn sh_words(line: &str) -> Vec<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {line}"))
        .output()
        .expect("sh");
    assert!(out.status.success(), "sh refused {line:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_terminator('\0')
        .map(String::from)
        .collect()
}

/// The command of a `  $ COMMAND  # why` line of a plan.
fn planned(stdout: &str, program: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("$ {program} ")))
        .map(|rest| {
            let cmd = rest.split("  # ").next().unwrap_or(rest);
            format!("{program} {cmd}")
        })
        .unwrap_or_else(|| panic!("no `$ {program}` line in:\n{stdout}"))
}

/// The text between the backquotes after `marker` in some output.
fn quoted_after<'a>(out: &'a str, marker: &str) -> &'a str {
    let rest = out
        .split_once(marker)
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{out}"));
    let rest = &rest[rest.find('`').expect("a command in backquotes") + 1..];
    &rest[..rest.find('`').expect("the closing backquote")]
}

#[test]
fn certbot_apply_again_and_rollback_commands_paste_into_a_shell() {
    let (m, _answers, dir) = machine();
    // A path with a space: quoting that is wrong shows here.
    let answers = dir.path().join("my answers.toml");
    std::fs::write(
        &answers,
        "[site]\ndomain = \"draw.example.test\"\nemail = \"admin@example.test\"\n[tls]\nmode = \"certbot\"\n",
    )
    .unwrap();
    let a = answers.display().to_string();
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let certbot = planned(&plan.stdout, "certbot");
    let argv = sh_words(&certbot);
    let hook = argv
        .iter()
        .position(|w| w == "--deploy-hook")
        .expect("--deploy-hook");
    assert_eq!(argv[hook + 1], "systemctl reload nginx", "{certbot}");
    assert_eq!(
        argv.last().map(String::as_str),
        Some("systemctl reload nginx")
    );

    // Applied under --root: the commands are left to the admin, then `apply` again.
    let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(run.code, 0, "{run:?}");
    let root = m.root().display().to_string();
    let again = quoted_after(&run.stdout, "Then run ");
    assert_eq!(
        sh_words(again),
        ["dpwizard", "--root", &root, "apply", "--answers", &a],
        "{again}"
    );
    let undo = quoted_after(&run.stdout, "undo with ");
    let words = sh_words(undo);
    assert_eq!(
        words[..4],
        ["dpwizard", "--root", &root, "rollback"],
        "{undo}"
    );
    // And the undo command works as printed.
    let out = Command::new(dpwizard_bin())
        .args(&words[1..])
        .output()
        .expect("rollback");
    assert!(out.status.success(), "{undo}: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("rolled back run"));
}

/// The printed certbot command, given to the real certbot with its state in a temp dir and
/// an ACME server nobody listens at: it gets past the argument parser (which rejects the
/// unquoted `--deploy-hook systemctl reload nginx`) and stops only at the network.
#[test]
fn the_printed_certbot_command_passes_certbots_argument_parser() {
    if skip_unless_program("certbot") {
        return;
    }
    let (m, _answers, dir) = machine();
    let answers = dir.path().join("a.toml");
    std::fs::write(
        &answers,
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"certbot\"\n",
    )
    .unwrap();
    let plan = m.dpwizard([
        "--color",
        "never",
        "plan",
        "--answers",
        answers.to_str().unwrap(),
    ]);
    let state = tempfile::tempdir().unwrap();
    let s = state.path().display();
    // The webroot certbot checks before the network: one in the temp dir, not the host's.
    std::fs::create_dir(state.path().join("webroot")).unwrap();
    let certbot =
        planned(&plan.stdout, "certbot").replace("/var/www/dpwizard-acme", &format!("{s}/webroot"));
    let private = format!(
        "--config-dir {s}/config --work-dir {s}/work --logs-dir {s}/logs \
         --server https://127.0.0.1:9/directory"
    );
    let run = |line: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("{line} {private}"))
            .env("TMPDIR", state.path())
            .output()
            .expect("certbot")
    };
    let out = run(&certbot);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("usage:"), "{certbot}: {err}");
    assert_eq!(out.status.code(), Some(1), "{certbot}: {err}");
    assert!(
        err.contains("127.0.0.1/directory: Connection refused"),
        "stopped at the network: {err}"
    );
    // The same command without the quotes is what certbot refused.
    let unquoted = certbot.replace("'systemctl reload nginx'", "systemctl reload nginx");
    assert_ne!(unquoted, certbot);
    let out = run(&unquoted);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unrecognized arguments"), "{err}");
}
