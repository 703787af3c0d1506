//! The man pages and shell completions, generated from the clap definitions in `cli.rs`, so
//! they can never describe options the binary does not have. The generated files are checked
//! in under `docs/man/` and `docs/completions/` (the .deb ships them); a test fails when they
//! are stale (`DPWIZARD_BLESS=1 cargo test --test it manual` writes them anew).

use clap::CommandFactory;
pub use clap_complete::Shell;

/// The version as the man pages print it: without the git revision, so the checked-in pages
/// do not go stale with every commit.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `--version` prints: the version and the git revision it was built from.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("DPWIZARD_GIT_REV"),
    ")"
);

/// The shells `dpwizard completions` knows, with the file name each one's completion
/// directory expects (`/usr/share/bash-completion/completions/dpwizard`,
/// `/usr/share/zsh/vendor-completions/_dpwizard`,
/// `/usr/share/fish/vendor_completions.d/dpwizard.fish`).
pub const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "dpwizard"),
    (Shell::Zsh, "_dpwizard"),
    (Shell::Fish, "dpwizard.fish"),
];

/// The command tree the documents are made from (the plain version, see [`VERSION`]).
fn command() -> clap::Command {
    crate::cli::Cli::command()
        .version(VERSION)
        .long_version(VERSION)
}

/// Every man page: `dpwizard.1` and one `dpwizard-SUBCOMMAND.1` per visible subcommand, as
/// (file name, roff text).
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    // `help` as a subcommand would get a page of its own; `--help` is on every page.
    let mut root = command().disable_help_subcommand(true);
    // Building propagates the global options into each subcommand and names them
    // `dpwizard-plan` and so on.
    root.build();
    let mut pages = vec![page(root.clone())];
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(page(sub.clone()));
    }
    pages
}

fn page(cmd: clap::Command) -> (String, Vec<u8>) {
    let man = clap_mangen::Man::new(cmd)
        .source(format!("dpwizard {VERSION}"))
        .manual("dpwizard manual");
    let mut out = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = man.render(&mut out);
    (man.get_filename(), out)
}

/// The completion script for `shell`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dpwizard", &mut out);
    out
}
