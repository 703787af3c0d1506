//! The portable release binaries (scripts/release.sh): they must start on glibc 2.28 (Debian
//! 10+, Ubuntu 20.04+, RHEL 8+), so no symbol may need a newer GLIBC_ version, and stay small
//! enough to download onto a small VPS. Skipped, with the reason, when they were not built;
//! scripts/test.sh builds them, so in CI they are checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// The floor the release promises, and the size budget.
const GLIBC_FLOOR: (u32, u32) = (2, 28);
const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// cargo zigbuild's output for `triple` (beside target/debug).
fn release_binary(triple: &str) -> PathBuf {
    target_dir()
        .parent()
        .expect("target dir")
        .join(triple)
        .join("release/dpwizard")
}

/// The highest `GLIBC_x.y` version named in `objdump -T` output.
fn highest_glibc(objdump: &str) -> Option<(u32, u32)> {
    objdump
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>());
            Some((parts.next()?.ok()?, parts.next().unwrap_or(Ok(0)).ok()?))
        })
        .max()
}

#[test]
fn release_highest_glibc_reads_objdump_lines() {
    let text = "0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.2.5) memcpy\n\
                0000000000000000      DF *UND*\t0000000000000000  GLIBC_2.28  fcntl64\n\
                0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.17) clock_gettime\n\
                0000000000000000  w   D  *UND*\t0000000000000000  GLIBC_PRIVATE __x\n";
    assert_eq!(highest_glibc(text), Some((2, 28)));
    assert_eq!(highest_glibc("no versions"), None);
}

/// Checks one built binary; returns false (after saying why) when it is not there to check.
fn check(triple: &str, run: Option<&[&str]>) -> bool {
    let bin = release_binary(triple);
    if !bin.is_file() {
        // CI builds it (scripts/test.sh runs scripts/release.sh): there a missing x86_64
        // binary is a failure, not a skip.
        assert!(
            !(std::env::var_os("CI").is_some() && triple.starts_with("x86_64")),
            "{} was not built: scripts/test.sh runs scripts/release.sh before the tests",
            bin.display()
        );
        eprintln!(
            "SKIPPED release check of {triple}: {} was not built (bash scripts/release.sh)",
            bin.display()
        );
        return false;
    }
    if skip_unless_program("objdump") {
        return false;
    }
    let out = Command::new("objdump")
        .arg("-T")
        .arg(&bin)
        .output()
        .unwrap();
    assert!(out.status.success(), "objdump -T {}", bin.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let highest = highest_glibc(&text).expect("a dynamically linked binary names GLIBC_ versions");
    assert!(
        highest <= GLIBC_FLOOR,
        "{} needs GLIBC_{}.{}, newer than the promised {}.{}",
        bin.display(),
        highest.0,
        highest.1,
        GLIBC_FLOOR.0,
        GLIBC_FLOOR.1
    );
    let size = std::fs::metadata(&bin).unwrap().len();
    assert!(
        size <= MAX_BYTES,
        "{} is {size} bytes, over 10 MB",
        bin.display()
    );
    eprintln!(
        "{triple}: {size} bytes, highest GLIBC_{}.{}",
        highest.0, highest.1
    );
    // It runs, and is the same program as the one under test (not a stale build).
    if let Some(prefix) = run {
        let out = Command::new(prefix[0])
            .args(&prefix[1..])
            .arg(&bin)
            .arg("--version")
            .output()
            .unwrap();
        let have = String::from_utf8_lossy(&out.stdout).into_owned();
        let want = dpw(["--version"]).stdout;
        // CI builds x86_64 from this very commit (scripts/test.sh): it must be that build.
        if std::env::var_os("CI").is_some() && triple.starts_with("x86_64") {
            assert_eq!(have, want, "{} --version", bin.display());
        } else if have != want {
            // A developer's release build from an earlier commit: its GLIBC floor and size
            // were still checked above.
            eprintln!(
                "NOTE {} is an older build ({}): rebuild it with scripts/release.sh",
                bin.display(),
                have.trim()
            );
        }
        assert!(
            have.starts_with(&format!("dpwizard {} ", env!("CARGO_PKG_VERSION"))),
            "{} --version: {have}",
            bin.display()
        );
    }
    true
}

#[test]
fn release_x86_64_needs_at_most_glibc_2_28_and_10_mb() {
    check("x86_64-unknown-linux-gnu", Some(&["env"]));
}

#[test]
fn release_aarch64_needs_at_most_glibc_2_28_and_10_mb() {
    // qemu-user-static runs it with an aarch64 glibc (libc6-arm64-cross), when both are
    // installed (neither is in test-deps: 380 MB for one smoke test); else only the file is
    // checked.
    let sysroot = "/usr/aarch64-linux-gnu";
    let qemu = which_host("qemu-aarch64-static")
        .filter(|_| {
            Path::new(sysroot)
                .join("lib/ld-linux-aarch64.so.1")
                .exists()
        })
        .map(|p| p.display().to_string());
    if qemu.is_none() {
        eprintln!("NOTE aarch64 binary not run: needs qemu-user-static and libc6-arm64-cross");
    }
    let prefix: Vec<&str> = qemu
        .iter()
        .map(String::as_str)
        .chain(["-L", sysroot])
        .collect();
    check(
        "aarch64-unknown-linux-gnu",
        qemu.is_some().then_some(&prefix[..]),
    );
}
