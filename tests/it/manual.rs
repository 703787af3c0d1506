//! Man pages, shell completions and `--version`: generated from the clap definitions, checked
//! in under docs/ (the .deb ships those files), and never stale (regenerate with
//! `DPWIZARD_BLESS=1 cargo test --test it manual`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn docs(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(sub)
}

/// Compares generated files with the ones checked in under `dir`, which must hold exactly
/// these (a page for a removed subcommand is stale too); with DPWIZARD_BLESS set, writes them.
fn assert_current(dir: &Path, want: &[(String, Vec<u8>)]) {
    if std::env::var_os("DPWIZARD_BLESS").is_some() {
        std::fs::create_dir_all(dir).unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        for (name, bytes) in want {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let mut have: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    have.sort();
    let mut names: Vec<String> = want.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(
        have,
        names,
        "{} is stale: run DPWIZARD_BLESS=1 cargo test --test it manual",
        dir.display()
    );
    for (name, bytes) in want {
        let on_disk = std::fs::read(dir.join(name)).unwrap();
        assert!(
            &on_disk == bytes,
            "{}/{name} is stale: run DPWIZARD_BLESS=1 cargo test --test it manual",
            dir.display()
        );
    }
}

#[test]
fn manual_pages_are_current_and_one_per_subcommand() {
    let pages = dpwizard::manual::man_pages();
    assert_current(&docs("man"), &pages);
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for sub in [
        "plan",
        "apply",
        "rollback",
        "answers",
        "audit",
        "detect",
        "history",
        "completions",
    ] {
        assert!(
            names.contains(&format!("dpwizard-{sub}.1").as_str()),
            "no page for {sub}: {names:?}"
        );
    }
    assert!(names.contains(&"dpwizard.1"), "{names:?}");
}

#[test]
fn manual_completions_are_current() {
    let want: Vec<(String, Vec<u8>)> = dpwizard::manual::SHELLS
        .iter()
        .map(|(shell, file)| (file.to_string(), dpwizard::manual::completion(*shell)))
        .collect();
    assert_current(&docs("completions"), &want);
}

#[test]
fn manual_pages_render_without_warnings_in_man() {
    if skip_unless_program("man") {
        return;
    }
    for (name, _) in dpwizard::manual::man_pages() {
        let path = docs("man").join(&name);
        let out = Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(&path)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap();
        // man marks bold and underline by overstriking (`X\x08X`, `_\x08x`): a backspace
        // takes back the character before it.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&out.stdout).chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "man -l {name}: {err}");
        assert!(err.trim().is_empty(), "man warns about {name}: {err}");
        let title = name.trim_end_matches(".1");
        assert!(text.contains("NAME"), "{name}:\n{text}");
        assert!(
            text.contains(title),
            "{name} does not name {title}:\n{text}"
        );
    }
    // The main page lists the exit codes and every global option.
    let main = std::fs::read_to_string(docs("man").join("dpwizard.1")).unwrap();
    assert_contains_all(&main, &["Exit codes", "\\-\\-root", "\\-\\-timeout"]);
    let audit = std::fs::read_to_string(docs("man").join("dpwizard-audit.1")).unwrap();
    // Global options are on each subcommand's page too.
    assert_contains_all(&audit, &["\\-\\-offline", "\\-\\-root"]);
}

#[test]
fn completions_subcommand_prints_what_is_checked_in_and_bash_completes_subcommands() {
    for (shell, file) in dpwizard::manual::SHELLS {
        let name = shell.to_string();
        let run = dpw(["completions", name.as_str()]);
        assert_eq!(run.code, 0, "{run:?}");
        let checked_in = std::fs::read_to_string(docs("completions").join(file)).unwrap();
        assert!(
            run.stdout == checked_in,
            "completions {name} differs from {file}"
        );
    }
    let run = dpw(["completions", "tcsh"]);
    assert_eq!(run.code, 2, "{run:?}");
    // The real bash, with the checked-in script: `dpwizard au<TAB>` and `dpwizard audit --fo<TAB>`.
    let script = docs("completions").join("dpwizard");
    // bash calls the function with the command, the current word and the one before it.
    let complete = |words: &str| {
        let list: Vec<&str> = words.split(' ').collect();
        let (cword, cur, prev) = (list.len() - 1, list[list.len() - 1], list[list.len() - 2]);
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"{words}\"; \
                 COMP_POINT=${{#COMP_LINE}}; _dpwizard dpwizard {cur} {prev}; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display()
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let subs = complete("dpwizard au");
    assert_eq!(subs.trim(), "audit", "{subs}");
    let opts = complete("dpwizard audit --fo");
    assert_eq!(opts.trim(), "--format", "{opts}");
}

#[test]
fn version_names_the_git_revision_it_was_built_from() {
    let run = dpw(["--version"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rev = std::env::var("DPWIZARD_GIT_REV").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=10", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    let rev = rev.unwrap_or_else(|| "unknown".into());
    assert_eq!(
        run.stdout.trim(),
        format!("dpwizard {} (git {rev})", env!("CARGO_PKG_VERSION"))
    );
}
