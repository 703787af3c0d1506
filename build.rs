//! Records the git revision the binary is built from, for `dpwizard --version`: an admin
//! reporting a bug from a .deb or the portable binary can then say exactly which code runs.
//! `DPWIZARD_GIT_REV` set in the environment wins (a build from a source tarball has no git);
//! without either, the revision is "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=DPWIZARD_GIT_REV");
    let rev = match std::env::var("DPWIZARD_GIT_REV") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_string(),
        _ => {
            // Rebuild when HEAD moves (a commit, a checkout): HEAD itself and the branch ref it
            // points at. `--git-path` finds them in a worktree too.
            // (A path that does not exist would make cargo rebuild every time: skip those.)
            let branch = git(&["symbolic-ref", "-q", "HEAD"]);
            for path in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
                if let Some(p) = git(&["rev-parse", "--git-path", path])
                    && std::path::Path::new(&p).exists()
                {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
            git(&["rev-parse", "--short=10", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=DPWIZARD_GIT_REV={rev}");
}
