//! How drawpile-srv runs: the one-word summary (`runtime.kind`) over systemd units,
//! containers, compose services and AppImages.

use serde::Serialize;

use super::docker::{ComposeFacts, DockerFacts};
use super::systemd::SystemdFacts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    SystemdService,
    SystemdSocket,
    Docker,
    Compose,
    Appimage,
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuntimeFacts {
    pub kind: RuntimeKind,
    pub units: Vec<super::systemd::ServiceUnit>,
    pub sockets: Vec<super::systemd::SocketUnit>,
    pub docker: DockerFacts,
    pub compose: ComposeFacts,
}

impl RuntimeFacts {
    pub fn assemble(systemd: SystemdFacts, docker: DockerFacts, compose: ComposeFacts) -> Self {
        let kind = if !systemd.sockets.is_empty() {
            RuntimeKind::SystemdSocket
        } else if !systemd.services.is_empty() {
            RuntimeKind::SystemdService
        } else if !compose.files.is_empty() {
            RuntimeKind::Compose
        } else if !docker.containers.is_empty() {
            RuntimeKind::Docker
        } else {
            RuntimeKind::None
        };
        RuntimeFacts {
            kind,
            units: systemd.services,
            sockets: systemd.sockets,
            docker,
            compose,
        }
    }
}
