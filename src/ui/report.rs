//! The human-readable detect report. Pure: Facts in, text out.

use std::fmt::Write;

use super::style::Style;
use crate::detect::{Facts, ProbeStatus};

pub fn detect_report(f: &Facts, s: &Style, verbose: u8) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", s.bold("System"));
    let os = &f.os;
    let _ = writeln!(
        out,
        "  {}{}",
        os.pretty_name.as_deref().unwrap_or("unknown distribution"),
        os.package_manager
            .as_deref()
            .map(|p| format!(", package manager {p}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  systemd {}{}",
        if os.systemd_running {
            "running (PID 1)"
        } else {
            "not running"
        },
        os.container
            .as_deref()
            .map(|c| format!(", inside a {c} container"))
            .unwrap_or_default()
    );
    for l in &os.limits {
        let _ = writeln!(out, "  {} {l}", s.warn("!"));
    }

    let _ = writeln!(out, "\n{}", s.bold("drawpile-srv"));
    if f.drawpile.binaries.is_empty() {
        let _ = writeln!(out, "  not found");
    }
    for b in &f.drawpile.binaries {
        let ws = match b.websocket.supported {
            Some(true) => s.good("WebSocket: yes"),
            Some(false) => s.bad("WebSocket: no"),
            None => s.warn("WebSocket: unknown"),
        };
        let _ = writeln!(
            out,
            "  {} {} — {} ({})",
            b.path,
            b.version.as_deref().unwrap_or("(version unknown)"),
            ws,
            b.websocket.reason
        );
    }

    let _ = writeln!(out, "\n{}", s.bold("Runtime"));
    let _ = writeln!(
        out,
        "  {}",
        serde_json::to_string(&f.runtime.kind)
            .unwrap_or_default()
            .trim_matches('"')
    );

    let _ = writeln!(out, "\n{}", s.bold("Web servers"));
    if f.web_servers.is_empty() {
        let _ = writeln!(out, "  none found");
    }
    for w in &f.web_servers {
        let _ = writeln!(
            out,
            "  {} {}",
            w.name,
            w.version.as_deref().unwrap_or("(version unknown)")
        );
    }

    let failed: Vec<_> = f
        .probes
        .iter()
        .filter(|p| verbose > 0 || matches!(p.status, ProbeStatus::Failed | ProbeStatus::Timeout))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\n{}", s.bold("Probes"));
        for p in failed {
            let mark = match p.status {
                ProbeStatus::Ok => s.good("ok"),
                ProbeStatus::Skipped => s.dim("skipped"),
                ProbeStatus::Timeout => s.bad("timeout"),
                ProbeStatus::Failed => s.bad("failed"),
            };
            let _ = writeln!(
                out,
                "  {mark:>8} {} ({} ms){}",
                p.name,
                p.duration_ms,
                p.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
    out
}
