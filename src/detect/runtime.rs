//! How drawpile-srv runs: the one-word summary (`runtime.kind`) over systemd units,
//! containers, compose services and AppImages.

use serde::Serialize;

use super::docker::{ComposeFacts, DockerFacts};
use super::systemd::SystemdFacts;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    SystemdService,
    SystemdSocket,
    Docker,
    Compose,
    Appimage,
    #[default]
    None,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct RuntimeFacts {
    /// How drawpile-srv runs, in one word: `systemd-service`, `systemd-socket`, `docker`,
    /// `compose`, `appimage` or `none`.
    pub kind: RuntimeKind,
    /// drawpile systemd services (and AppImage `--server` units).
    pub units: Vec<super::systemd::ServiceUnit>,
    /// drawpile systemd socket units.
    pub sockets: Vec<super::systemd::SocketUnit>,
    pub docker: DockerFacts,
    pub compose: ComposeFacts,
    /// Why `kind` was chosen when more than one runtime is present.
    pub notes: Vec<String>,
}

impl RuntimeFacts {
    pub fn assemble(systemd: SystemdFacts, docker: DockerFacts, compose: ComposeFacts) -> Self {
        let live_active = |l: &Option<super::systemd::LiveState>| {
            l.as_ref()
                .and_then(|l| l.active_state.as_deref())
                .is_some_and(|s| s == "active" || s == "activating")
        };
        let sockets_in_use: Vec<&str> = systemd
            .sockets
            .iter()
            .filter(|s| !s.masked && (s.enabled || live_active(&s.live)))
            .map(|s| s.name.as_str())
            .collect();
        let services: Vec<&super::systemd::ServiceUnit> =
            systemd.services.iter().filter(|s| !s.masked).collect();
        let appimage = services.iter().any(|s| s.appimage);
        let mut present = Vec::new();
        if !sockets_in_use.is_empty() {
            present.push(RuntimeKind::SystemdSocket);
        }
        if appimage {
            present.push(RuntimeKind::Appimage);
        }
        if !services.is_empty() {
            present.push(RuntimeKind::SystemdService);
        }
        if !compose.files.is_empty() {
            present.push(RuntimeKind::Compose);
        }
        if !docker.containers.is_empty() {
            present.push(RuntimeKind::Docker);
        }
        // A socket in use decides how the service gets its ports, so it wins; an AppImage
        // unit is a service with its own rules (Type=simple); compose containers also show
        // up as plain containers, so compose comes before docker.
        let kind = present.first().copied().unwrap_or(RuntimeKind::None);
        let mut notes = Vec::new();
        if let Some(s) = sockets_in_use.first() {
            notes.push(format!(
                "{s} is enabled or active: while it passes sockets, drawpile-srv ignores \
                 --port, --listen, --websocket-port and --websocket-listen"
            ));
        }
        if present.len() > 1 {
            notes.push(format!(
                "several runtimes found ({}); `kind` is the first by precedence",
                present
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        RuntimeFacts {
            kind,
            units: systemd.services,
            sockets: systemd.sockets,
            docker,
            compose,
            notes,
        }
    }
}

impl RuntimeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RuntimeKind::SystemdService => "systemd-service",
            RuntimeKind::SystemdSocket => "systemd-socket",
            RuntimeKind::Docker => "docker",
            RuntimeKind::Compose => "compose",
            RuntimeKind::Appimage => "appimage",
            RuntimeKind::None => "none",
        }
    }
}
