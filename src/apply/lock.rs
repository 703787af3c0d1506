//! One apply at a time per machine: apply, rollback and the wizard's apply take an exclusive
//! `flock` on `/var/lib/dpwizard/lock` (under `--root`). Two runs at once could leave
//! drawpile-srv on one port and nginx proxying to another. The kernel drops the lock when
//! its holder dies, so a lock left by `kill -9` is simply free again; the file only says who
//! holds it, for the message.

use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::fs::{self, WriteError};
use crate::host::Host;

pub const LOCK_PATH: &str = "/var/lib/dpwizard/lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another dpwizard is changing this machine ({holder}); wait for it to finish, then run \
         this again"
    )]
    Held { holder: String },
    #[error("{0}")]
    Open(#[from] WriteError),
}

/// Held until dropped.
#[derive(Debug)]
pub struct ApplyLock {
    _file: std::fs::File,
}

impl ApplyLock {
    /// Takes the lock or says who holds it; never waits.
    pub fn acquire(host: &Host, what: &str) -> Result<ApplyLock, LockError> {
        let mut file = fs::open_lock_file(host, Path::new(LOCK_PATH))?;
        // SAFETY: flock on a file descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let mut holder = String::new();
            let _ = Read::by_ref(&mut file)
                .take(512)
                .read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Held {
                holder: if holder.is_empty() {
                    "its pid is not recorded".into()
                } else {
                    holder.chars().filter(|c| !c.is_control()).collect()
                },
            });
        }
        let started = time::OffsetDateTime::now_utc();
        let text = format!(
            "pid {}, {what}, since {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC\n",
            std::process::id(),
            started.year(),
            u8::from(started.month()),
            started.day(),
            started.hour(),
            started.minute(),
            started.second()
        );
        // Who holds it, for the next one's message (best effort: the flock is what counts).
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = file.write_all(text.as_bytes());
        let _ = file.sync_data();
        Ok(ApplyLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Clock;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_and_the_lock_frees_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let h = Host::new(d.path(), std::time::Duration::from_secs(1), Clock::Fixed(0));
        let first = ApplyLock::acquire(&h, "apply").unwrap();
        let e = ApplyLock::acquire(&h, "rollback").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("pid {}, apply, since", std::process::id())),
            "{msg}"
        );
        drop(first);
        assert!(ApplyLock::acquire(&h, "rollback").is_ok());
    }

    #[test]
    fn a_planted_link_at_the_lock_path_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("var/lib/dpwizard")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("var/lib/dpwizard/lock")).unwrap();
        let h = Host::new(d.path(), std::time::Duration::from_secs(1), Clock::Fixed(0));
        assert!(matches!(
            ApplyLock::acquire(&h, "apply"),
            Err(LockError::Open(_))
        ));
    }
}
