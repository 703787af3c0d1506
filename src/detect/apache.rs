//! Apache httpd: enabled modules and virtual hosts on 443.
//! (Stub: filled in by the web server detector work.)

use serde::Serialize;

use super::Ctx;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ApacheFacts {
    pub config_root: Option<String>,
}

pub async fn detect(_ctx: &Ctx) -> ApacheFacts {
    ApacheFacts::default()
}
