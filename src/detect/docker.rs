//! Docker: CLI, daemon reachability, drawpile/drawpile-srv containers, and compose files
//! that define such a service.
//! (Stub: filled in by the Docker detector work.)

use serde::Serialize;

use super::Ctx;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct DockerFacts {
    /// Path of the docker CLI, `null` when not installed.
    pub cli: Option<String>,
    pub daemon_reachable: Option<bool>,
    pub daemon_error: Option<String>,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub state: String,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ComposeFacts {
    pub files: Vec<ComposeFile>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ComposeFile {
    pub path: String,
}

pub async fn detect(_ctx: &Ctx) -> DockerFacts {
    DockerFacts::default()
}

pub async fn detect_compose(_ctx: &Ctx) -> ComposeFacts {
    ComposeFacts::default()
}
