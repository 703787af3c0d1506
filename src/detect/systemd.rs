//! systemd units named drawpile*: unit files and drop-ins merged as systemd merges them,
//! ExecStart= parsed into drawpile options, socket units and their slots, enablement, and
//! (when systemd runs) the live state from `systemctl show`.
//! (Stub: filled in by the systemd detector work.)

use serde::Serialize;

use super::Ctx;

/// The unit files found on disk, before any command runs.
#[derive(Debug, Clone, Default)]
pub struct UnitFiles {
    pub services: Vec<ServiceUnit>,
    pub sockets: Vec<SocketUnit>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceUnit {
    pub name: String,
    /// The unit file's path on the target machine.
    pub path: String,
    pub dropins: Vec<String>,
    /// The effective ExecStart= argv after merging drop-ins (program first).
    pub exec_start: Option<Vec<String>>,
    pub user: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SocketUnit {
    pub name: String,
    pub path: String,
    pub listen_stream: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemdFacts {
    pub services: Vec<ServiceUnit>,
    pub sockets: Vec<SocketUnit>,
}

pub fn read_units(_ctx: &Ctx) -> UnitFiles {
    UnitFiles::default()
}

pub async fn detect(_ctx: &Ctx, files: UnitFiles, _systemd_running: bool) -> SystemdFacts {
    SystemdFacts {
        services: files.services,
        sockets: files.sockets,
    }
}
