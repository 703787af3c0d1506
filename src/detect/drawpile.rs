//! drawpile-srv binaries: where they are, which version, and whether they speak WebSocket.
//! (Stub: filled in by the drawpile detector work.)

use serde::Serialize;

use super::Ctx;
use super::systemd::UnitFiles;

#[derive(Debug, Clone, Default, Serialize)]
pub struct DrawpileFacts {
    pub binaries: Vec<DrawpileBinary>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DrawpileBinary {
    /// Path on the target machine.
    pub path: String,
    /// Where it was found: `PATH`, `/opt/*/bin`, `unit drawpile-srv.service`, ...
    pub found_via: Vec<String>,
    /// The version as printed (`2.3.1-beta.1-12-gabcdef0`), `null` when it could not be read.
    pub version: Option<String>,
    pub websocket: WebSocketSupport,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WebSocketSupport {
    pub supported: Option<bool>,
    pub reason: String,
}

pub async fn detect(_ctx: &Ctx, _units: &UnitFiles) -> DrawpileFacts {
    DrawpileFacts::default()
}
