//! The .deb (scripts/deb.sh): installed and removed with the real dpkg inside a throwaway
//! machine (namespaces over an overlay of `/`), where the installed dpwizard runs, `man`
//! finds its pages and bash-completion its script; and lintian accepts it. Skipped, with the
//! reason, when the package was not built; scripts/test.sh builds it, so CI checks it.

use std::path::PathBuf;
use std::process::Command;

use crate::support::vps::Vps;
use crate::support::*;

/// The package scripts/deb.sh made for this machine's architecture
/// (target/debian/dpwizard_*_amd64.deb on x86_64).
fn built_deb() -> Option<PathBuf> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let suffix = format!("_{arch}.deb");
    let dir = target_dir().parent()?.join("debian");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("dpwizard_") && n.ends_with(&suffix)
            })
        })
        .collect();
    debs.sort();
    debs.pop()
}

pub fn deb_or_skip(what: &str) -> Option<PathBuf> {
    let deb = built_deb();
    if deb.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no target/debian/dpwizard_*.deb: scripts/test.sh runs scripts/deb.sh before the tests"
        );
        eprintln!("SKIPPED {what}: no target/debian/dpwizard_*.deb (bash scripts/deb.sh)");
    }
    deb
}

/// What the scenario does inside the machine; each step leaves its output in /results.
const SCENARIO: &str = r#"
set -u
# As on a fresh server: no Rust toolchain (the package must not need one).
rm -rf /root/.cargo /root/.rustup /usr/local/cargo /usr/local/rustup
hash -r
{ command -v cargo; command -v rustc; } >/results/rust
# A VPS image ships man pages; container images (like this machine's) tell dpkg to drop them.
rm -f /etc/dpkg/dpkg.cfg.d/excludes
# Only the package's dpwizard may be found.
rm -f /usr/local/bin/dpwizard /usr/bin/dpwizard
dpkg -i /root/dpwizard.deb >/results/install.log 2>&1; echo $? >/results/install.rc
command -v dpwizard >/results/which
dpwizard --version >/results/version 2>&1
dpwizard detect >/results/detect.txt 2>&1; echo $? >/results/detect.rc
man -w dpwizard dpwizard-audit >/results/man-w 2>&1
MANWIDTH=80 man dpwizard 2>/dev/null | col -b >/results/man.txt
# bash-completion loads a command's script on first use, from the directory the package
# installs it into.
bash -c 'source /usr/share/bash-completion/bash_completion; _completion_loader dpwizard; complete -p dpwizard' >/results/complete 2>&1
ls /usr/share/zsh/vendor-completions/_dpwizard /usr/share/fish/vendor_completions.d/dpwizard.fish >/results/other-shells 2>&1
dpkg -L dpwizard >/results/files
dpkg-query -W -f='${Recommends}\n${Depends}\n' dpwizard >/results/relations
dpkg -r dpwizard >/results/remove.log 2>&1; echo $? >/results/remove.rc
: >/results/left
while read -r f; do
  if [ -f "$f" ] || [ -L "$f" ]; then echo "$f" >>/results/left; fi
done </results/files
dpkg-query -W -f='${Status}\n' dpwizard >/results/status-after 2>&1
"#;

#[test]
fn deb_installs_runs_and_removes_cleanly_in_a_throwaway_machine() {
    if skip_unless_root("the .deb in a throwaway machine") {
        return;
    }
    let Some(deb) = deb_or_skip("the .deb in a throwaway machine") else {
        return;
    };
    let vps = Vps::new();
    vps.file("/root/dpwizard.deb", std::fs::read(&deb).unwrap(), 0o644);
    let out = vps.run(SCENARIO);
    let r = |name: &str| vps.result(name);
    assert_eq!(
        r("install.rc").trim(),
        "0",
        "dpkg -i: {}\n{}",
        r("install.log"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r("rust"), "", "a Rust toolchain is left in the machine");
    assert_eq!(r("which").trim(), "/usr/bin/dpwizard");
    assert!(
        r("version").starts_with(&format!("dpwizard {} (git ", env!("CARGO_PKG_VERSION"))),
        "{}",
        r("version")
    );
    assert_eq!(r("detect.rc").trim(), "0", "{}", r("detect.txt"));
    assert!(
        r("detect.txt").contains("drawpile-srv"),
        "{}",
        r("detect.txt")
    );
    assert_eq!(
        r("man-w").lines().collect::<Vec<_>>(),
        [
            "/usr/share/man/man1/dpwizard.1.gz",
            "/usr/share/man/man1/dpwizard-audit.1.gz"
        ],
        "{}",
        r("man-w")
    );
    assert!(r("man.txt").contains("Exit codes"), "{}", r("man.txt"));
    assert!(
        r("complete").contains("-F _dpwizard") && r("complete").trim_end().ends_with(" dpwizard"),
        "bash-completion did not load the script: {}",
        r("complete")
    );
    assert_eq!(
        r("other-shells").lines().count(),
        2,
        "{}",
        r("other-shells")
    );
    let files = r("files");
    for f in [
        "/usr/share/doc/dpwizard/copyright",
        "/usr/share/doc/dpwizard/README.md",
        "/usr/share/doc/dpwizard/answers.md",
        "/usr/share/man/man1/dpwizard-plan.1.gz",
    ] {
        assert!(
            files.lines().any(|l| l == f),
            "{f} not in the package:\n{files}"
        );
    }
    let relations: Vec<String> = r("relations").lines().map(String::from).collect();
    assert_eq!(relations[0], "nginx | apache2 | caddy, certbot");
    // Linked against glibc 2.28 (tests/it/release.rs), it installs where libc6 is 2.28+.
    assert_eq!(relations[1], "libc6 (>= 2.28)");
    assert_eq!(r("remove.rc").trim(), "0", "dpkg -r: {}", r("remove.log"));
    assert_eq!(r("left"), "", "files left after dpkg -r");
    assert!(
        !r("status-after").contains("install ok installed"),
        "{}",
        r("status-after")
    );
}

#[test]
fn deb_passes_lintian_with_every_override_argued() {
    if skip_unless_program("lintian") {
        return;
    }
    let Some(deb) = deb_or_skip("lintian") else {
        return;
    };
    let out = Command::new("lintian")
        .args(["--fail-on", "error,warning", "--no-tag-display-limit"])
        .arg(&deb)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lintian:\n{said}");
    // Every override in the package has a comment saying why (lintian's own syntax: `#`
    // lines just before it).
    let overrides = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/debian/lintian-overrides"
    ))
    .unwrap();
    let mut argued = false;
    for line in overrides.lines() {
        if line.trim().is_empty() {
            argued = false;
        } else if line.starts_with('#') {
            argued = true;
        } else {
            assert!(argued, "override without a reason: {line}");
        }
    }
}
