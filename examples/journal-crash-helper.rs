//! Test helper (not shipped): applies a journalled change set under a root, slowly enough
//! that a test can `kill -9` it at many points and check that every file is old or new,
//! never torn, and that `dpwizard rollback` recovers. Usage: journal-crash-helper ROOT N
use std::path::Path;
use std::time::Duration;

use dpwizard::apply::journal::Run;
use dpwizard::host::{Clock, Host};
use dpwizard::plan::FileMode;

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().expect("ROOT");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let host = Host::new(root, Duration::from_secs(3), Clock::System);
    let mut run =
        Run::begin(&host, Some("[site]\ndomain = \"crash.example.com\"\n")).expect("begin");
    for i in 0..n {
        let body = format!("new-{i}\n").repeat(200_000);
        run.write(
            Path::new(&format!("/etc/dpw-crash/file{i}")),
            body.as_bytes(),
            FileMode::CONFIG,
        )
        .expect("write");
    }
    println!("{}", run.id());
}
