//! The audit's outputs: the text report (grouped by area, ✓ ! ✗), SARIF 2.1.0 for code
//! scanning tools, Prometheus metrics for node_exporter's textfile collector, and
//! docs/checks.md (generated from the catalogue).

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

/// The Prometheus text exposition format (version 0.0.4), for node_exporter's textfile
/// collector: one gauge per judged check (1 passed, 0 found a problem; skipped checks are
/// absent), the findings by severity, the certificate's expiry and the drawpile-srv version.
/// `now` is the audit's time (unix seconds). Pure: the same inputs give the same text.
pub fn prometheus(r: &Report, facts: &crate::detect::Facts, now: i64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: Vec<(String, String)>| {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let check = |id: &str, c: &catalogue::CheckDef, ok: bool| {
        (
            labels(&[
                ("id", id),
                ("severity", c.severity.as_str()),
                ("area", area_label(c.area)),
            ]),
            if ok { "1" } else { "0" }.to_string(),
        )
    };
    // In catalogue order, so the file diffs well from one run to the next.
    let checks = catalogue::ALL
        .iter()
        .filter_map(|c| {
            if r.passed.contains(&c.id) {
                Some(check(c.id, c, true))
            } else if r.findings.iter().any(|f| f.id == c.id) {
                Some(check(c.id, c, false))
            } else {
                None
            }
        })
        .collect();
    family(
        "dpwizard_audit_check",
        "1 when the check passed, 0 when it found a problem (docs/checks.md); skipped checks are absent.",
        checks,
    );
    let s = &r.summary;
    family(
        "dpwizard_audit_verdicts",
        "How many checks found an error, a warning or an info, passed, or were skipped.",
        [
            ("error", s.errors),
            ("warning", s.warnings),
            ("info", s.infos),
            ("passed", s.passed),
            ("skipped", s.skipped),
        ]
        .iter()
        .map(|(k, n)| (labels(&[("verdict", k)]), n.to_string()))
        .collect(),
    );
    family(
        "dpwizard_audit_timestamp_seconds",
        "When the audit ran (unix time): alert when it is old, the audit stopped running.",
        vec![(String::new(), now.to_string())],
    );
    let setup = super::setup::read(facts, r.domain.as_deref());
    let cert = super::setup::site_certificate(facts, &setup)
        .and_then(|c| Some((c.path, not_after_unix(&c.info.ok()?.not_after)?)));
    let domain = r.domain.as_deref().unwrap_or("");
    if let Some((path, not_after)) = cert {
        let l = labels(&[("domain", domain), ("path", path)]);
        family(
            "dpwizard_tls_certificate_expiry_timestamp_seconds",
            "When the domain's certificate expires (unix time).",
            vec![(l.clone(), not_after.to_string())],
        );
        family(
            "dpwizard_tls_certificate_expires_in_seconds",
            "Seconds from the audit until the domain's certificate expires (negative: expired).",
            vec![(l, (not_after - now).to_string())],
        );
    }
    if let Some(i) = &setup.instance {
        family(
            "dpwizard_drawpile_srv_info",
            "The drawpile-srv the audit judged: its version and how it runs (always 1).",
            vec![(
                labels(&[
                    ("version", i.version_text.as_deref().unwrap_or("unknown")),
                    ("instance", &i.described),
                ]),
                "1".to_string(),
            )],
        );
    }
    out
}

fn area_label(a: Area) -> &'static str {
    match a {
        Area::Srv => "srv",
        Area::Proxy => "proxy",
        Area::Tls => "tls",
        Area::Net => "net",
        Area::Dns => "dns",
        Area::Live => "live",
        Area::Log => "log",
        Area::Web => "web",
    }
}

/// `{k="v",…}` with the values escaped as the exposition format says (`\`, `\"`, `\n`).
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// `2027-02-16T11:05:40Z` (detection's own format, see `verify::rfc3339`) → unix seconds.
fn not_after_unix(t: &str) -> Option<i64> {
    let (date, clock) = t.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let mut c = clock.splitn(3, ':').map(|p| p.parse::<u8>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let date = time::Date::from_calendar_date(
        i32::try_from(y).ok()?,
        time::Month::try_from(u8::try_from(m).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms(c.next()??, c.next()??, c.next()??).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
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
         The proxy checks judge the route whichever web server is in front (nginx on the host\n\
         or in a container, Apache, Caddy), with evidence from its own files; the fixes below\n\
         are nginx's, and a finding on Apache or Caddy gives the fix in their words.\n\n\
         `--json` prints `{schema_version, domain, domain_from, instance, findings[], passed[],\n\
         skipped[], notes[], summary}`; each finding has `id`, `severity` (`error`, `warning`,\n\
         `info`), `area`, `title`, `evidence[]`, `why`, `fix` and `fixable` (whether `dpwizard`\n\
         can make the fix). `--format sarif` prints SARIF 2.1.0.\n\n\
         `--format prometheus` prints metrics for node_exporter's textfile collector:\n\
         `dpwizard_audit_check{id,severity,area}` is 1 for a passed check and 0 for a finding\n\
         (skipped checks are absent), `dpwizard_audit_verdicts{verdict}` counts them,\n\
         `dpwizard_tls_certificate_expires_in_seconds{domain,path}` and\n\
         `dpwizard_tls_certificate_expiry_timestamp_seconds{domain,path}` tell the certificate's\n\
         expiry, `dpwizard_drawpile_srv_info{version,instance}` the drawpile-srv judged, and\n\
         `dpwizard_audit_timestamp_seconds` when the audit ran. For example, from cron (in\n\
         /var/lib/prometheus/node-exporter; the exit code is 1 when there are findings, which the\n\
         metrics then carry, so only 2 and 3 keep the old file):\n\n\
         ```sh\n\
         dpwizard audit --format prometheus > dpwizard.prom.tmp; [ $? -le 1 ] && mv dpwizard.prom.tmp dpwizard.prom\n\
         ```\n\n\
         Write, then rename, so the collector never reads half a file; alert when\n\
         `time() - dpwizard_audit_timestamp_seconds` grows, as the audit then stopped running.\n",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_as_the_exposition_format_says() {
        assert_eq!(
            labels(&[("a", "x"), ("b", "q\"uo\\te\nnl")]),
            r#"{a="x",b="q\"uo\\te\nnl"}"#
        );
    }

    #[test]
    fn not_after_is_read_as_unix_seconds() {
        assert_eq!(not_after_unix("1970-01-02T00:00:01Z"), Some(86_401));
        // 2000-03-01 (after a leap day): 11,017 days after the epoch.
        assert_eq!(
            not_after_unix("2000-03-01T00:00:00Z"),
            Some(11_017 * 86_400)
        );
        assert_eq!(not_after_unix("2000-13-01T00:00:00Z"), None);
        assert_eq!(not_after_unix("yesterday"), None);
    }
}
