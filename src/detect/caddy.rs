//! Caddy: the Caddyfile's site addresses.
//! (Stub: filled in by the web server detector work.)

use serde::Serialize;

use super::Ctx;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct CaddyFacts {
    pub caddyfile: Option<String>,
}

pub async fn detect(_ctx: &Ctx) -> CaddyFacts {
    CaddyFacts::default()
}
