//! Waiting until a reload has taken effect, so the live checks judge the new configuration.
//! `systemctl reload nginx` returns as soon as the master got its signal; the old workers keep
//! answering (with the old configuration: a 404 for the new location) until the master has
//! read the files, started new workers and told the old ones to stop. The signal that the new
//! configuration serves is visible in /proc: new worker processes under the master, and every
//! old one gone or titled "worker process is shutting down" (it no longer accepts).
//! Live machine only: apply runs commands only there.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// nginx's processes as /proc shows them: the master and its workers' pids and titles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NginxProcs {
    pub master: Option<u32>,
    /// (pid, title) of the master's children that are workers.
    pub workers: Vec<(u32, String)>,
}

impl NginxProcs {
    /// Reads nginx's process tree: the master is the process titled `nginx: master process`
    /// (the pid file may be elsewhere), its workers are its children titled `nginx: worker …`.
    pub fn read() -> NginxProcs {
        let mut procs = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Some((ppid, title)) = proc_entry(pid) else {
                    continue;
                };
                procs.push((pid, ppid, title));
            }
        }
        Self::from_table(&procs)
    }

    /// The pure part: (pid, ppid, title) rows → the master and its workers.
    pub fn from_table(rows: &[(u32, u32, String)]) -> NginxProcs {
        let master = rows
            .iter()
            .filter(|(_, _, t)| t.starts_with("nginx: master process"))
            .map(|(p, _, _)| *p)
            .min();
        let workers = match master {
            Some(m) => rows
                .iter()
                .filter(|(_, pp, t)| *pp == m && t.starts_with("nginx: worker process"))
                .map(|(p, _, t)| (*p, t.clone()))
                .collect(),
            None => Vec::new(),
        };
        NginxProcs { master, workers }
    }

    pub fn worker_pids(&self) -> BTreeSet<u32> {
        self.workers.iter().map(|(p, _)| *p).collect()
    }

    /// True once a reload that started with `before` serves the new configuration: the same
    /// master, at least one worker it did not have before, and no old worker still
    /// accepting. Without a master before (nginx was started, not reloaded), any worker will do.
    pub fn reloaded_since(&self, before: &NginxProcs) -> bool {
        let old = before.worker_pids();
        let new_workers = self.workers.iter().any(|(p, _)| !old.contains(p));
        let old_still_accepting = self
            .workers
            .iter()
            .any(|(p, t)| old.contains(p) && !t.contains("shutting down"));
        self.master.is_some() && new_workers && !old_still_accepting
    }
}

/// (ppid, process title) of a pid, from /proc/PID/stat and /proc/PID/cmdline.
fn proc_entry(pid: u32) -> Option<(u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let title = String::from_utf8_lossy(&cmdline)
        .replace('\0', " ")
        .trim()
        .to_string();
    Some((ppid, title))
}

/// Waits (bounded) until nginx serves the configuration a reload asked for. Returns how long
/// it waited and whether the change was seen; not seen means the checks that follow may
/// still meet the old configuration, and the caller says so.
pub async fn wait_for_nginx_reload(before: &NginxProcs, limit: Duration) -> (Duration, bool) {
    let start = Instant::now();
    loop {
        let now = NginxProcs::read();
        if now.reloaded_since(before) {
            return (start.elapsed(), true);
        }
        if start.elapsed() >= limit {
            return (start.elapsed(), false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, ppid: u32, title: &str) -> (u32, u32, String) {
        (pid, ppid, title.to_string())
    }

    #[test]
    fn a_reload_counts_once_new_workers_serve_and_old_ones_stop_accepting() {
        let before = NginxProcs::from_table(&[
            row(
                10,
                1,
                "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;",
            ),
            row(11, 10, "nginx: worker process"),
            row(12, 10, "nginx: worker process"),
            row(99, 1, "bash"),
        ]);
        assert_eq!(before.master, Some(10));
        assert_eq!(before.worker_pids(), BTreeSet::from([11, 12]));
        // Right after `systemctl reload`: the master has not acted yet.
        assert!(!before.reloaded_since(&before));
        // New workers exist but an old one still accepts: not yet.
        let half = NginxProcs::from_table(&[
            row(10, 1, "nginx: master process /usr/sbin/nginx"),
            row(11, 10, "nginx: worker process"),
            row(12, 10, "nginx: worker process is shutting down"),
            row(13, 10, "nginx: worker process"),
        ]);
        assert!(!half.reloaded_since(&before));
        // Old workers gone or draining (a WebSocket keeps one alive): the new config serves.
        let done = NginxProcs::from_table(&[
            row(10, 1, "nginx: master process /usr/sbin/nginx"),
            row(12, 10, "nginx: worker process is shutting down"),
            row(13, 10, "nginx: worker process"),
            row(14, 10, "nginx: worker process"),
        ]);
        assert!(done.reloaded_since(&before));
    }

    #[test]
    fn workers_of_another_parent_and_no_master_do_not_count() {
        let before = NginxProcs::default();
        let stray = NginxProcs::from_table(&[row(5, 1, "nginx: worker process")]);
        assert_eq!(stray.master, None);
        assert!(!stray.reloaded_since(&before));
        let started = NginxProcs::from_table(&[
            row(20, 1, "nginx: master process nginx"),
            row(21, 20, "nginx: worker process"),
        ]);
        assert!(started.reloaded_since(&before));
    }

    #[test]
    fn this_process_is_read_from_proc() {
        let (ppid, title) = proc_entry(std::process::id()).expect("own /proc entry");
        assert_eq!(ppid, std::os::unix::process::parent_id());
        assert!(!title.is_empty());
    }
}
