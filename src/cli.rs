//! The command line: global options every subcommand honours, and the subcommands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::detect;
use crate::exit::{self, Exit};
use crate::host::{Clock, Host};
use crate::ui::style::Style;

#[derive(Debug, Parser)]
#[command(
    name = "dpwizard",
    version = crate::manual::LONG_VERSION,
    about = "Makes a Drawpile server reachable from the browser client at web.drawpile.net",
    after_help = "Without a command, dpwizard starts the interactive wizard (--plain: line by line).\n\
                  Exit codes: 0 ok, 1 findings, 2 usage or input error, 3 internal error."
)]
pub struct Cli {
    /// The machine's filesystem root: dpwizard reads and writes every path under it.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Print machine-readable JSON instead of the human report.
    #[arg(long, global = true)]
    pub json: bool,

    /// When to use colours (NO_COLOR in the environment means never, unless `always`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Say more: show every probe and where each fact came from.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Timeout for each external command, in seconds (e.g. 3 or 0.5).
    #[arg(long, global = true, value_name = "SECONDS", default_value = "3", value_parser = parse_seconds)]
    pub timeout: Duration,

    /// The wizard (no subcommand) asks line by line instead of full screen.
    #[arg(long)]
    pub plain: bool,

    /// The wizard saves the answers to FILE at the end without asking.
    #[arg(long, value_name = "FILE")]
    pub save_answers: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Sarif,
    /// Metrics for node_exporter's textfile collector.
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `apply` would change (diffs, commands, why), changing nothing.
    Plan {
        /// The answers file (see `dpwizard answers --template`).
        #[arg(long, value_name = "FILE")]
        answers: PathBuf,
        /// Exit 1 when changes are pending, 0 when the machine already matches.
        #[arg(long)]
        check: bool,
    },
    /// Make the changes: journalled atomic writes, nginx -t before any reload, rollback on
    /// failure, then the commands and a live check of the three WebSocket handshakes.
    Apply {
        /// The answers file to apply (see `dpwizard answers --template`).
        #[arg(long, value_name = "FILE")]
        answers: PathBuf,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// Show the plan and stop.
        #[arg(long)]
        dry_run: bool,
        /// Replace files even when they changed between the plan and the writes (otherwise
        /// nothing is written and the changed files are named).
        #[arg(long)]
        force: bool,
        /// Run certbot without first checking that the domain resolves to this machine
        /// (for split-horizon DNS, or a machine behind NAT).
        #[arg(long)]
        skip_dns_check: bool,
    },
    /// Undo a run of `apply`: restore every file it changed (default: the last run).
    Rollback {
        /// The run to undo (a directory name under /var/lib/dpwizard/runs).
        run_id: Option<String>,
        /// Restore files even if they were changed after the run.
        #[arg(long)]
        force: bool,
        /// Only restore the files: do not restart, reload or start anything (the commands
        /// that would bring the running state back are printed instead).
        #[arg(long)]
        files_only: bool,
    },
    /// Answers files: print the commented template, or check a file.
    Answers {
        /// Print a fully commented answers file.
        #[arg(long, conflicts_with = "check")]
        template: bool,
        /// Validate FILE and print every problem as FILE:LINE:COLUMN: [key] message.
        #[arg(long, value_name = "FILE", conflicts_with = "from_machine")]
        check: Option<PathBuf>,
        /// Print an answers file that reproduces this machine's current setup.
        #[arg(long, conflicts_with = "template")]
        from_machine: bool,
        /// With --from-machine: the domain, when the configuration does not tell.
        #[arg(long, value_name = "NAME", requires = "from_machine")]
        domain: Option<String>,
    },
    /// Judge the setup: every check passes, warns or fails, with evidence and the fix.
    /// Read-only: it never changes the machine.
    Audit {
        /// Skip the live probes (handshakes and DNS); the logs are still read.
        #[arg(long)]
        offline: bool,
        /// Exit 1 on warnings too, not only on errors.
        #[arg(long)]
        strict: bool,
        /// How far back to read the logs: 7d, 12h, 30m.
        #[arg(long, value_name = "AGE", default_value = "7d")]
        since: String,
        /// The domain to audit (default: the server_name of the server that serves
        /// /drawpile-web/ws).
        #[arg(long, value_name = "NAME")]
        domain: Option<String>,
        /// Output format (`--json` is the same as `--format json`).
        #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
        format: AuditFormat,
    },
    /// Show what is on this machine: drawpile-srv, how it runs, web servers, TLS, ports.
    Detect {
        /// A docker-compose file to inspect besides the usual places (repeatable).
        #[arg(long, value_name = "FILE")]
        compose_file: Vec<PathBuf>,
    },
    /// List past runs of `apply` (newest first): when, what changed, whether the live checks
    /// passed, whether it was rolled back; with RUN-ID, print that run's log.
    History {
        /// A run (a directory name under /var/lib/dpwizard/runs) whose log to print.
        run_id: Option<String>,
    },
    /// Print the tab-completion script for a shell (the .deb installs bash, zsh and fish).
    Completions {
        #[arg(value_enum)]
        shell: crate::manual::Shell,
    },
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 600.0) {
        return Err(format!("'{s}' must be more than 0 and at most 600 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses the command line and runs it; returns the exit code.
pub fn run(args: Vec<std::ffi::OsString>) -> Result<i32, Exit> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and errors to stderr (exit 2).
            let _ = e.print();
            return Ok(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let root = check_root(&cli.root)?;
    let style = Style::choose(cli.color);
    let mut host = Host::new(root.clone(), cli.timeout, Clock::from_env());
    if host.is_live() {
        // On the live machine the caller's PATH counts too (e.g. /snap/bin, ~/.local/bin).
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        for d in host.search_path() {
            if !dirs.contains(d) {
                dirs.push(d.clone());
            }
        }
        host = host.with_search_path(dirs);
    }

    // One thread is enough: probes wait on child processes and sockets, which tokio
    // multiplexes; the one CPU-heavy step (parsing many config files) uses its own threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::Internal(anyhow::anyhow!("starting the async runtime: {e}")))?;

    match cli.command {
        Some(Command::Detect { compose_file }) => {
            let opts = detect::Options {
                compose_files: compose_file,
            };
            let facts = runtime.block_on(detect::detect(host, opts));
            if cli.json {
                print_json(&facts)?;
            } else {
                let text = crate::ui::report::detect_report(&facts, &style, cli.verbose);
                print!("{}", crate::ui::terminal::safe(&text, &style));
            }
            // The process ends here: freeing every small string of a large tree one by one
            // costs more than the exit does (measured by benches/detect.rs).
            std::mem::forget(facts);
            Ok(exit::OK)
        }
        Some(Command::Plan { answers, check }) => {
            runtime.block_on(plan_command(host, &answers, check, cli.json, &style))
        }
        Some(Command::Apply {
            answers,
            yes,
            dry_run,
            force,
            skip_dns_check,
        }) => runtime.block_on(apply_command(
            host,
            &answers,
            yes,
            dry_run,
            crate::apply::session::Options {
                force,
                skip_dns_check,
            },
            cli.json,
            &style,
        )),
        Some(Command::Rollback {
            run_id,
            force,
            files_only,
        }) => runtime.block_on(rollback_command(
            &host, run_id, force, files_only, cli.json, &style,
        )),
        Some(Command::Answers {
            from_machine: true,
            domain,
            ..
        }) => {
            let domain = checked_domain(domain)?;
            let facts = runtime.block_on(detect::detect(host.clone(), detect::Options::default()));
            let front_files = crate::audit::front::files(&host, &facts);
            let web_client = crate::audit::web_client::find_block(&host, &facts);
            match crate::audit::export::answers_from_machine(
                &facts,
                &front_files,
                web_client.as_ref(),
                domain.as_deref(),
            ) {
                Ok(text) => {
                    print!("{text}");
                    Ok(exit::OK)
                }
                Err(e) => Err(Exit::usage(format!("answers --from-machine: {e}"))),
            }
        }
        Some(Command::Answers {
            template, check, ..
        }) => answers_command(template, check, cli.json),
        Some(Command::Audit {
            offline,
            strict,
            since,
            domain,
            format,
        }) => {
            let since_secs = crate::audit::logs::parse_since(&since).map_err(Exit::usage)?;
            let domain = checked_domain(domain)?;
            let format = if cli.json { AuditFormat::Json } else { format };
            let opts = crate::audit::observe::Options {
                offline,
                since_secs,
                since_text: since,
                timeout: cli.timeout,
            };
            let (facts, report) = runtime.block_on(async {
                let facts = detect::detect(host.clone(), detect::Options::default()).await;
                let obs =
                    crate::audit::observe::observe(&host, &facts, domain.as_deref(), &opts).await;
                let report = crate::audit::judge(&facts, &obs, domain.as_deref());
                (facts, report)
            });
            match format {
                AuditFormat::Json => print_json(&report)?,
                AuditFormat::Sarif => print_json(&crate::audit::render::sarif(&report))?,
                AuditFormat::Prometheus => print!(
                    "{}",
                    crate::audit::render::prometheus(&report, &facts, host.clock().now_unix())
                ),
                AuditFormat::Text => {
                    let text = crate::audit::render::text(&report, &style, cli.verbose > 0);
                    print!("{}", crate::ui::terminal::safe(&text, &style))
                }
            }
            Ok(
                if report.has_errors() || (strict && report.has_warnings()) {
                    exit::FINDINGS
                } else {
                    exit::OK
                },
            )
        }
        Some(Command::History { run_id }) => history_command(&host, run_id, cli.json, &style),
        Some(Command::Completions { shell }) => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&crate::manual::completion(shell))
                .map_err(|e| Exit::Internal(anyhow::anyhow!("writing the completion: {e}")))?;
            Ok(exit::OK)
        }
        None => crate::wizard::run::main(
            host,
            &runtime,
            crate::wizard::run::Options {
                plain: cli.plain,
                save_answers: cli.save_answers,
                style,
            },
        ),
    }
}

/// Loads the answers, detects, snapshots and plans. Errors are the admin's to fix (exit 2).
async fn make_plan(
    host: &Host,
    path: &std::path::Path,
) -> Result<
    (
        crate::plan::Plan,
        crate::detect::Facts,
        String,
        crate::answers::Answers,
    ),
    Exit,
> {
    let answers =
        crate::answers::load(path).map_err(|e| Exit::Usage(anyhow::anyhow!("{}", e.render())))?;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (plan, facts) = crate::apply::session::plan(host, &answers)
        .await
        .map_err(|e| Exit::Usage(anyhow::anyhow!("{}", plan_error_at(&e, path, &text))))?;
    Ok((plan, facts, text, answers))
}

/// A planning error, as `FILE:LINE:COLUMN: [key] message` when it is about one answer.
fn plan_error_at(e: &crate::plan::make::PlanError, path: &std::path::Path, text: &str) -> String {
    match e {
        crate::plan::make::PlanError::Answer { key, .. } => {
            let (line, col) = crate::answers::locate(text, key);
            format!("{}:{line}:{col}: {e}; nothing was changed", path.display())
        }
        other => other.to_string(),
    }
}

fn print_plan(plan: &crate::plan::Plan, style: &Style) {
    let text = crate::ui::progress::plan_text(plan, style);
    print!("{}", crate::ui::terminal::safe(&text, style));
}

async fn plan_command(
    host: Host,
    answers: &std::path::Path,
    check: bool,
    json: bool,
    style: &Style,
) -> Result<i32, Exit> {
    let (plan, _, _, _) = make_plan(&host, answers).await?;
    if json {
        print_json(&plan)?;
    } else {
        print_plan(&plan, style);
    }
    // What apply would refuse before its first write, said now.
    let unwritable = crate::apply::unwritable(&host, &plan);
    if !unwritable.is_empty() {
        for why in &unwritable {
            eprintln!(
                "dpwizard: apply would refuse: {}",
                crate::ui::terminal::safe(why, style)
            );
        }
        return Ok(exit::FINDINGS);
    }
    Ok(if check && !plan.is_empty() {
        exit::FINDINGS
    } else {
        exit::OK
    })
}

async fn apply_command(
    host: Host,
    answers: &std::path::Path,
    yes: bool,
    dry_run: bool,
    opts: crate::apply::session::Options,
    json: bool,
    style: &Style,
) -> Result<i32, Exit> {
    use std::io::IsTerminal;
    let inv = crate::ui::shell::Invocation::new(host.root(), Some(answers));
    let (plan, facts, text, answers) = make_plan(&host, answers).await?;
    if !json {
        print_plan(&plan, style);
    }
    if plan.is_empty() || dry_run {
        return Ok(exit::OK);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Exit::usage(
                "refusing to apply without --yes: standard input is not a terminal to confirm on",
            ));
        }
        print!("Apply these changes? [y/N] ");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            println!("Nothing was changed.");
            return Ok(exit::OK);
        }
    }
    // Nothing cancels a CLI run but the signal itself (the journal makes that safe).
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut print = |e: crate::apply::session::Event| {
        if !(json && matches!(e, crate::apply::session::Event::Replanned(_))) {
            crate::ui::progress::print_event(&e, style, &inv);
        }
    };
    crate::apply::session::run(
        &host,
        &answers,
        &text,
        (plan, facts),
        opts,
        &never,
        &mut print,
    )
    .await
}

async fn rollback_command(
    host: &Host,
    id: Option<String>,
    force: bool,
    files_only: bool,
    json: bool,
    style: &crate::ui::style::Style,
) -> Result<i32, Exit> {
    use crate::apply::journal::JournalError;
    let systemd_running = host.is_dir("/run/systemd/system");
    let _lock = match crate::apply::lock::ApplyLock::acquire(host, "rollback") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("dpwizard: {e}");
            return Ok(exit::FINDINGS);
        }
    };
    match crate::apply::undo::rollback(host, id.as_deref(), force, files_only, systemd_running)
        .await
    {
        Ok(out) => {
            if json {
                print_json(&out)?;
            } else {
                print!("{}", crate::ui::progress::rollback_text(&out, host, style));
            }
            Ok(if out.ok() { exit::OK } else { exit::FINDINGS })
        }
        Err(e @ (JournalError::NoSuchRun(_) | JournalError::NoRuns | JournalError::BadId(_))) => {
            Err(Exit::usage(e))
        }
        Err(e @ JournalError::ChangedSince { .. }) => {
            eprintln!("dpwizard: {e}");
            Ok(exit::FINDINGS)
        }
        Err(e) => Err(Exit::Internal(anyhow::anyhow!("{e}"))),
    }
}

fn history_command(
    host: &Host,
    id: Option<String>,
    json: bool,
    style: &Style,
) -> Result<i32, Exit> {
    use crate::apply::history;
    let h = history::read(host);
    if let Some(e) = &h.error {
        // The runs directory is root's (0700): an empty list would be a lie.
        return Err(Exit::usage(format!("history: cannot list the runs: {e}")));
    }
    let Some(id) = id else {
        if json {
            print_json(&h)?;
        } else {
            print!("{}", history::text(&h, style));
        }
        return Ok(exit::OK);
    };
    let Some(run) = h.runs.iter().find(|r| r.id == id) else {
        return Err(Exit::usage(format!(
            "history: no run {id} in {} (dpwizard history lists them)",
            crate::apply::journal::RUNS_DIR
        )));
    };
    if json {
        return print_json(run).map(|_| exit::OK);
    }
    let Some(log) = &run.log else {
        println!("run {id} has no log (it was made by an older dpwizard)");
        return Ok(exit::OK);
    };
    let text = host
        .read_to_string(log)
        .map_err(|e| Exit::Internal(anyhow::anyhow!("reading {log}: {e}")))?;
    print!("{text}");
    Ok(exit::OK)
}

fn answers_command(template: bool, check: Option<PathBuf>, json: bool) -> Result<i32, Exit> {
    if template {
        print!("{}", crate::answers::TEMPLATE);
        return Ok(exit::OK);
    }
    let Some(path) = check else {
        return Err(Exit::usage(
            "answers: say --template or --check FILE (see dpwizard answers --help)",
        ));
    };
    match crate::answers::load(&path) {
        Ok(a) if a.site.domain.as_str() == crate::answers::TEMPLATE_DOMAIN => {
            // Valid, but the template's example: applying it would ask a certificate for a
            // name that is not this server's.
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let (line, col) = text
                .lines()
                .enumerate()
                .find_map(|(i, l)| {
                    let l2 = l.trim_start();
                    (l2.starts_with("domain") && !l2.starts_with('#'))
                        .then(|| l.find('"').map(|c| (i + 1, c + 1)))
                        .flatten()
                })
                .unwrap_or((1, 1));
            eprintln!(
                "{}:{line}:{col}: [site.domain] {:?} is the template's example: edit \
                 site.domain to the name people use for your server",
                path.display(),
                crate::answers::TEMPLATE_DOMAIN
            );
            Ok(exit::USAGE)
        }
        Ok(a) => {
            if json {
                print_json(&a)?;
            } else {
                println!("{}: ok", path.display());
            }
            Ok(exit::OK)
        }
        Err(errors) => {
            let text = errors.render();
            eprintln!("{}", crate::ui::terminal::safe(&text, &Style::plain()));
            Ok(exit::USAGE)
        }
    }
}

/// Streams JSON to stdout (large trees give megabytes: no intermediate string): indented for
/// a person at a terminal, compact for a pipe or a file, where a program reads it.
fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Exit> {
    use std::io::{IsTerminal, Write};
    let stdout = std::io::stdout();
    let pretty = stdout.is_terminal();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = if pretty {
        serde_json::to_writer_pretty(&mut out, value)
    } else {
        serde_json::to_writer(&mut out, value)
    };
    written.map_err(|e| Exit::Internal(anyhow::anyhow!("writing JSON: {e}")))?;
    writeln!(out)
        .and_then(|_| out.flush())
        .map_err(|e| Exit::Internal(anyhow::anyhow!("writing JSON: {e}")))
}

/// `--domain`: a DNS name, validated like `site.domain` (it goes into probes' Host and SNI).
fn checked_domain(domain: Option<String>) -> Result<Option<String>, Exit> {
    domain
        .map(|d| {
            crate::model::DomainName::parse(&d)
                .map(|n| n.to_string())
                .map_err(|e| Exit::usage(format!("--domain: {e}")))
        })
        .transpose()
}

/// `--root` must be an existing directory; it is made absolute so paths in reports are too.
fn check_root(root: &std::path::Path) -> Result<PathBuf, Exit> {
    let meta = std::fs::metadata(root)
        .map_err(|e| Exit::usage(format!("--root {}: {e}", root.display())))?;
    if !meta.is_dir() {
        return Err(Exit::usage(format!(
            "--root {}: not a directory",
            root.display()
        )));
    }
    std::fs::canonicalize(root).map_err(|e| Exit::usage(format!("--root {}: {e}", root.display())))
}
