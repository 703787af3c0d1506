//! `dpwizard audit`: judges the machine's setup against the catalogue of checks
//! ([`catalogue`]). Read-only by construction: it gets [`Facts`] from detection and
//! [`Observations`] from the probes in [`observe`] (live handshakes, DNS, logs, `nginx -t`
//! in private namespaces), and [`judge`] is a pure function of both.
//!
//! Checks judge meaning, not bytes: a hand-written setup in another style passes as long as
//! it does what the documented one does (e.g. the Origin check is evaluated, not compared).

pub mod catalogue;
pub mod checks;
pub mod export;
pub mod front;
pub mod logs;
pub mod observe;
pub mod render;
pub mod setup;
pub mod web_client;

use serde::Serialize;

use crate::detect::Facts;
pub use catalogue::{Area, CheckDef, Severity};

/// Version of the `audit --json` schema (docs/checks.md). Bump on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// A check that did not pass.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub area: Area,
    pub title: &'static str,
    /// What was seen: `file:line: text`, command output, probe results.
    pub evidence: Vec<String>,
    pub why: &'static str,
    pub fix: String,
    /// `dpwizard apply` (or the wizard) can make the fix.
    pub fixable: bool,
}

/// A check that could not be judged, and why (e.g. `--offline`).
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub id: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub passed: usize,
    pub skipped: usize,
}

/// The audit's result (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// The domain audited, and where it came from.
    pub domain: Option<String>,
    pub domain_from: Option<String>,
    /// The drawpile-srv instance audited.
    pub instance: Option<String>,
    /// Every check that did not pass.
    pub findings: Vec<Finding>,
    /// Ids of the checks that passed.
    pub passed: Vec<&'static str>,
    /// Checks that could not be judged here, with the reason.
    pub skipped: Vec<Skipped>,
    /// Evidence behind some passed checks, by id (e.g. the live probe details).
    pub notes: Vec<(String, String)>,
    pub summary: Summary,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn has_warnings(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Warning)
    }

    /// Ids of the findings, in report order (tests assert these).
    pub fn finding_ids(&self) -> Vec<&'static str> {
        self.findings.iter().map(|f| f.id).collect()
    }
}

/// Collects verdicts while the checks run; each check gives exactly one.
#[derive(Debug, Default)]
pub struct Verdicts {
    pub(crate) findings: Vec<Finding>,
    passed: Vec<&'static str>,
    skipped: Vec<Skipped>,
    notes: Vec<(String, String)>,
}

impl Verdicts {
    fn judged(&self, c: &CheckDef) -> bool {
        self.passed.contains(&c.id)
            || self.findings.iter().any(|f| f.id == c.id)
            || self.skipped.iter().any(|s| s.id == c.id)
    }

    pub fn pass(&mut self, c: &'static CheckDef) {
        if !self.judged(c) {
            self.passed.push(c.id);
        }
    }

    /// Passes, keeping a line of evidence for the report's verbose view.
    pub fn pass_with(&mut self, c: &'static CheckDef, note: impl Into<String>) {
        if !self.judged(c) {
            self.passed.push(c.id);
            self.notes.push((c.id.to_string(), note.into()));
        }
    }

    pub fn fail(&mut self, c: &'static CheckDef, evidence: Vec<String>) {
        self.fail_fix(c, evidence, c.fix.to_string());
    }

    /// Fails with a fix more precise than the catalogue's.
    pub fn fail_fix(&mut self, c: &'static CheckDef, evidence: Vec<String>, fix: String) {
        if self.judged(c) {
            return;
        }
        self.findings.push(Finding {
            id: c.id,
            severity: c.severity,
            area: c.area,
            title: c.title,
            evidence,
            why: c.why,
            fix,
            fixable: c.fixable,
        });
    }

    pub fn skip(&mut self, c: &'static CheckDef, reason: impl Into<String>) {
        if !self.judged(c) {
            self.skipped.push(Skipped {
                id: c.id,
                reason: reason.into(),
            });
        }
    }

    /// Passes when `ok`, else fails with `evidence`.
    pub fn check(&mut self, c: &'static CheckDef, ok: bool, evidence: Vec<String>) {
        if ok {
            self.pass(c)
        } else {
            self.fail(c, evidence)
        }
    }
}

/// What the probes saw, beside the facts. Each part is `None` when not observed (with the
/// reason in `not_observed`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observations {
    pub nginx_test: Option<Result<(), String>>,
    /// Apache or Caddy in front: dpwizard's block in the domain's site, as read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub front_block: Option<front::FrontBlock>,
    /// Apache's or Caddy's configuration files, when one of them is in front.
    #[serde(skip)]
    pub front_files: crate::proxy::Files,
    pub live: Option<observe::Live>,
    pub dns: Option<observe::Dns>,
    pub logs: logs::LogEvidence,
    /// The self-hosted browser client, when dpwizard's block for it is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_client: Option<web_client::Observed>,
    /// Why a part was not observed: (`live`|`dns`|`nginx_test`|`journal`, reason).
    pub not_observed: Vec<(String, String)>,
}

impl Observations {
    pub fn why_not(&self, what: &str) -> String {
        self.not_observed
            .iter()
            .find(|(w, _)| w == what)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| "not observed".into())
    }
}

/// Judges the facts and observations. Pure: the same inputs give the same report.
pub fn judge(facts: &Facts, obs: &Observations, domain: Option<&str>) -> Report {
    let setup = setup::read(facts, domain).with_front(facts, &obs.front_files);
    let mut v = Verdicts::default();
    checks::srv(facts, &setup, obs, &mut v);
    checks::proxy(facts, &setup, obs, &mut v);
    checks::web_admin_proxy(facts, &setup, &mut v);
    checks::tls(facts, &setup, &mut v);
    checks::net(facts, &setup, &mut v);
    checks::dns(&setup, obs, &mut v);
    checks::live(&setup, obs, &mut v);
    checks::logs(facts, &setup, obs, &mut v);
    web_client::judge(obs.web_client.as_ref(), &mut v);
    // Every check of the catalogue appears once: passed, found, or skipped.
    for c in catalogue::ALL {
        v.skip(c, "not applicable to this setup");
    }
    let order = |id: &str| catalogue::ALL.iter().position(|c| c.id == id);
    v.findings.sort_by_key(|f| order(f.id));
    v.passed.sort_by_key(|id| order(id));
    v.skipped.sort_by_key(|s| order(s.id));
    let count = |s| v.findings.iter().filter(|f| f.severity == s).count();
    let summary = Summary {
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        infos: count(Severity::Info),
        passed: v.passed.len(),
        skipped: v.skipped.len(),
    };
    Report {
        schema_version: SCHEMA_VERSION,
        domain: setup.domain.clone(),
        domain_from: setup.domain.as_ref().map(|_| setup.domain_from.clone()),
        instance: setup.instance.as_ref().map(|i| i.described.clone()),
        findings: v.findings,
        passed: v.passed,
        skipped: v.skipped,
        notes: v.notes,
        summary,
    }
}
