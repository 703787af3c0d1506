//! Listening sockets (from /proc/net/tcp and tcp6, owners from /proc/*/fd) and firewalls.
//! Only meaningful for the live machine; under another root everything is "unknown".
//! (Stub: filled in by the network detector work.)

use serde::Serialize;

use super::Ctx;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NetworkFacts {
    /// False when the listeners cannot be seen (another root, /proc unreadable).
    pub visible: bool,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Listener {
    pub address: String,
    pub port: u16,
    /// Process name owning the socket, `null` when not visible (non-root).
    pub process: Option<String>,
    pub pid: Option<u32>,
}

pub async fn detect(_ctx: &Ctx) -> NetworkFacts {
    NetworkFacts::default()
}
