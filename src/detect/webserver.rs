//! Web servers: which are installed (nginx, Apache, Caddy, lighttpd, HAProxy, Traefik),
//! their versions, and which one serves :80 and :443.
//! (Stub: filled in by the web server detector work.)

use serde::Serialize;

use super::Ctx;
use super::apache::ApacheFacts;
use super::caddy::CaddyFacts;
use super::network::NetworkFacts;
use super::nginx::NginxFacts;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct WebServer {
    /// `nginx`, `apache`, `caddy`, `lighttpd`, `haproxy`, `traefik`.
    pub name: String,
    pub binary: Option<String>,
    pub version: Option<String>,
    /// `true`/`false` from the live listeners, `null` when they cannot be seen.
    pub listens_80: Option<bool>,
    pub listens_443: Option<bool>,
}

pub async fn detect(_ctx: &Ctx) -> Vec<WebServer> {
    Vec::new()
}

/// Decides `listens_80`/`listens_443` from the live listeners where visible.
pub fn attribute_listeners(
    _servers: &mut [WebServer],
    _network: &NetworkFacts,
    _nginx: &NginxFacts,
    _apache: &ApacheFacts,
    _caddy: &CaddyFacts,
) {
}
