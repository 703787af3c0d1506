//! The audit's outputs: the text report (grouped by area, ✓ ! ✗), SARIF 2.1.0 for code
//! scanning tools, and docs/checks.md (generated from the catalogue).

use std::fmt::Write;

use super::Report;
use super::catalogue::{self, Area, Severity};
use crate::ui::style::Style;

/// The human report. `verbose` lists passed and skipped checks too.
pub fn text(r: &Report, style: &Style, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        style.bold(&format!(
            "dpwizard audit{}",
            r.domain
                .as_ref()
                .map(|d| format!(" of {d}"))
                .unwrap_or_default()
        ))
    );
    if let Some(i) = &r.instance {
        let _ = writeln!(out, "{}", style.dim(&format!("drawpile-srv: {i}")));
    }
    for area in Area::ALL {
        let findings: Vec<_> = r.findings.iter().filter(|f| f.area == area).collect();
        let passed: Vec<_> = r
            .passed
            .iter()
            .filter_map(|id| catalogue::find(id))
            .filter(|c| c.area == area)
            .collect();
        let skipped: Vec<_> = r
            .skipped
            .iter()
            .filter(|s| catalogue::find(s.id).is_some_and(|c| c.area == area))
            .collect();
        if findings.is_empty() && passed.is_empty() && !verbose {
            continue;
        }
        let _ = writeln!(out, "\n{}", style.bold(area.title()));
        for c in &passed {
            let _ = writeln!(out, "  {} {}", style.good("✓"), c.title);
            if verbose {
                for (_, note) in r.notes.iter().filter(|(id, _)| id == c.id) {
                    let _ = writeln!(out, "      {}", style.dim(note));
                }
            }
        }
        for f in &findings {
            let mark = match f.severity {
                Severity::Error => style.bad("✗"),
                Severity::Warning => style.warn("!"),
                Severity::Info => style.dim("i"),
            };
            let _ = writeln!(
                out,
                "  {mark} {} {}",
                f.title,
                style.dim(&format!("[{}]", f.id))
            );
            for e in &f.evidence {
                let _ = writeln!(out, "      {e}");
            }
            let _ = writeln!(out, "      {} {}", style.dim("why:"), f.why);
            let _ = writeln!(
                out,
                "      {} {}{}",
                style.dim("fix:"),
                f.fix,
                if f.fixable {
                    style.dim(" (dpwizard can fix this)")
                } else {
                    String::new()
                }
            );
        }
        if verbose {
            for s in &skipped {
                if let Some(c) = catalogue::find(s.id) {
                    let _ = writeln!(
                        out,
                        "  {} {} {}",
                        style.dim("-"),
                        style.dim(c.title),
                        style.dim(&format!("(skipped: {})", s.reason))
                    );
                }
            }
        }
    }
    let s = &r.summary;
    let _ = writeln!(
        out,
        "\n{} passed, {} error(s), {} warning(s), {} skipped{}",
        s.passed,
        s.errors,
        s.warnings,
        s.skipped,
        if verbose { "" } else { " (-v lists them)" }
    );
    out
}

/// SARIF 2.1.0: one rule per catalogue check, one result per finding. Evidence that names
/// `file:line` becomes a physical location.
pub fn sarif(r: &Report) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = catalogue::ALL
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "name": c.id.replace('-', ""),
                "shortDescription": { "text": c.title },
                "fullDescription": { "text": c.why },
                "help": { "text": c.fix },
                "defaultConfiguration": { "level": level(c.severity) },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = r
        .findings
        .iter()
        .map(|f| {
            let locations: Vec<serde_json::Value> = f
                .evidence
                .iter()
                .filter_map(|e| file_line(e))
                .map(|(file, line)| {
                    serde_json::json!({
                        "physicalLocation": {
                            "artifactLocation": { "uri": format!("file://{file}") },
                            "region": { "startLine": line },
                        }
                    })
                })
                .collect();
            serde_json::json!({
                "ruleId": f.id,
                "level": level(f.severity),
                "message": { "text": format!("{}: {}", f.title, f.evidence.join("; ")) },
                "locations": locations,
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "dpwizard",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/drawpile/dpwizard",
                "rules": rules,
            }},
            "results": results,
        }]
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// `/etc/nginx/sites-enabled/x:12: …` → (`/etc/nginx/sites-enabled/x`, 12).
fn file_line(e: &str) -> Option<(String, u64)> {
    if !e.starts_with('/') {
        return None;
    }
    let mut parts = e.splitn(3, ':');
    let file = parts.next()?;
    let line: u64 = parts.next()?.trim().parse().ok()?;
    Some((file.to_string(), line))
}

/// docs/checks.md, generated from the catalogue.
pub fn checks_md() -> String {
    let mut out = String::from(
        "# dpwizard audit: the checks\n\n\
         Generated from `src/audit/catalogue.rs` (`DPWIZARD_BLESS=1 cargo test --test it audit_docs`);\n\
         do not edit by hand. Ids are stable: scripts may rely on them.\n\n\
         `dpwizard audit` gives every check one verdict: passed, a finding (error, warning or\n\
         info, with evidence and a fix), or skipped (with the reason, e.g. `--offline`).\n\
         Exit code: 0 when no finding is an error (warnings too with `--strict`), 1 otherwise,\n\
         2 on usage errors.\n\n\
         `--json` prints `{schema_version, domain, domain_from, instance, findings[], passed[],\n\
         skipped[], notes[], summary}`; each finding has `id`, `severity` (`error`, `warning`,\n\
         `info`), `area`, `title`, `evidence[]`, `why`, `fix` and `fixable` (whether `dpwizard`\n\
         can make the fix). `--format sarif` prints SARIF 2.1.0.\n",
    );
    for area in Area::ALL {
        let _ = writeln!(out, "\n## {}\n", area.title());
        let _ = writeln!(
            out,
            "| id | severity | passes when | why | fix | dpwizard fixes |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
        for c in catalogue::ALL.iter().filter(|c| c.area == area) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                c.id,
                c.severity.as_str(),
                c.title.replace('|', "\\|"),
                c.why.replace('|', "\\|"),
                c.fix.replace('|', "\\|"),
                if c.fixable { "yes" } else { "no" }
            );
        }
    }
    out
}
