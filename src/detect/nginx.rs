//! nginx's configuration as nginx itself reads it: the include tree from nginx.conf, every
//! server block with its file:line, listen directives, names, certificates and locations.
//! (Stub: filled in by the nginx reader work.)

use serde::Serialize;

use super::Ctx;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NginxFacts {
    /// nginx.conf on the target machine, `null` when nginx is not configured.
    pub conf_path: Option<String>,
    pub servers: Vec<NginxServer>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct NginxServer {
    pub file: String,
    pub line: usize,
    pub server_names: Vec<String>,
    pub listen: Vec<String>,
    pub ssl: bool,
}

pub async fn detect(_ctx: &Ctx) -> NginxFacts {
    NginxFacts::default()
}
