//! The log of every probe detection ran: what, how it ended, how long it took.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::host::{CmdOutput, CmdStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeStatus {
    Ok,
    Failed,
    Timeout,
    Skipped,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProbeReport {
    /// What was probed, e.g. `drawpile-srv --version (/usr/bin/drawpile-srv)`.
    pub name: String,
    pub status: ProbeStatus,
    pub duration_ms: u64,
    /// Why it failed or was skipped; `null` when ok.
    pub error: Option<String>,
    /// The user the probe ran as, when it ran a command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran_as: Option<String>,
}

/// Collects probe reports from concurrent detectors.
#[derive(Debug, Clone, Default)]
pub struct ProbeLog(Arc<Mutex<Vec<ProbeReport>>>);

impl ProbeLog {
    pub fn push(&self, report: ProbeReport) {
        if let Ok(mut v) = self.0.lock() {
            v.push(report);
        }
    }

    /// Records a command's outcome. `ok_codes` lists exit codes that count as success
    /// (some tools exit non-zero to say "no").
    pub fn command(&self, name: impl Into<String>, out: &CmdOutput, ok_codes: &[i32]) {
        let (status, error) = match &out.status {
            CmdStatus::Exited(c) if ok_codes.contains(c) => (ProbeStatus::Ok, None),
            CmdStatus::TimedOut(_) => (ProbeStatus::Timeout, Some(out.describe())),
            _ => (ProbeStatus::Failed, Some(out.describe())),
        };
        self.push(ProbeReport {
            name: name.into(),
            status,
            duration_ms: out.duration.as_millis() as u64,
            error,
            ran_as: out.ran_as.clone(),
        });
    }

    pub fn ok(&self, name: impl Into<String>, took: Duration) {
        self.push(ProbeReport {
            name: name.into(),
            status: ProbeStatus::Ok,
            duration_ms: took.as_millis() as u64,
            error: None,
            ran_as: None,
        });
    }

    pub fn failed(&self, name: impl Into<String>, took: Duration, error: impl Into<String>) {
        self.push(ProbeReport {
            name: name.into(),
            status: ProbeStatus::Failed,
            duration_ms: took.as_millis() as u64,
            error: Some(error.into()),
            ran_as: None,
        });
    }

    pub fn skipped(&self, name: impl Into<String>, why: impl Into<String>) {
        self.push(ProbeReport {
            name: name.into(),
            status: ProbeStatus::Skipped,
            duration_ms: 0,
            error: Some(why.into()),
            ran_as: None,
        });
    }

    /// Takes the reports, sorted by name so output is stable across runs.
    pub fn take(&self) -> Vec<ProbeReport> {
        let mut v = match self.0.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => Vec::new(),
        };
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}
