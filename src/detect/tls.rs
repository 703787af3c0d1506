//! TLS: certbot, its lineages and renewal configuration, certificates referenced by web
//! server configs, and how renewal is scheduled.
//! (Stub: filled in by the TLS detector work.)

use serde::Serialize;

use super::Ctx;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct TlsFacts {
    pub lineages: Vec<Lineage>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Lineage {
    pub name: String,
    pub names: Vec<String>,
    /// RFC 3339 expiry time.
    pub not_after: Option<String>,
}

pub async fn detect(_ctx: &Ctx) -> TlsFacts {
    TlsFacts::default()
}
