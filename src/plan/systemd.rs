//! Renders the systemd units dpwizard creates from scratch: a hardened service for an
//! installed drawpile-srv binary (`new-service`), and a service that runs the official
//! Docker image (`new-container`). Inputs are validated values; nothing here reads the disk.

use std::fmt::Write;

/// The upstream unit's name; dpwizard uses it for units it creates.
pub const UNIT_NAME: &str = "drawpile-srv.service";

/// drawpile-srv's listening options, as dpwizard sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    pub tcp_port: u16,
    pub websocket_port: u16,
    /// `None`: all interfaces (containers); `Some("127.0.0.1")` behind a local proxy.
    pub websocket_listen: Option<String>,
    /// `None`: no web admin.
    pub web_admin_port: Option<u16>,
}

impl ServerArgs {
    /// The argument list, in the order drawpile's docs write them.
    pub fn argv(&self, in_container: bool) -> Vec<String> {
        let mut v = vec![
            "--port".to_string(),
            self.tcp_port.to_string(),
            "--websocket-port".to_string(),
            self.websocket_port.to_string(),
        ];
        // Inside a container 127.0.0.1 is the container's own loopback: the published port
        // would lead nowhere (drawpile.md, Docker).
        if let (Some(addr), false) = (&self.websocket_listen, in_container) {
            v.push("--websocket-listen".to_string());
            v.push(addr.clone());
        }
        if let Some(p) = self.web_admin_port {
            v.push("--web-admin-port".to_string());
            v.push(p.to_string());
            if in_container {
                // Docker's forwarded traffic is not loopback; the port itself is published
                // on 127.0.0.1 only.
                v.push("--web-admin-access".to_string());
                v.push("all".to_string());
            }
        }
        v
    }
}

/// A hardened unit for an installed binary, run as a dedicated system user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub binary: String,
    pub user: String,
    pub args: ServerArgs,
    /// Whether the binary sends sd_notify READY=1 (`Type=notify`); AppImages and binaries
    /// copied out of Docker do not, and would hang in `activating` (drawpile.md, systemd).
    pub notify: bool,
}

const HEADER: &str = "# Written by dpwizard. Change it with `dpwizard` or a drop-in\n\
                      # (systemctl edit drawpile-srv.service); edits here are kept in\n\
                      # dpwizard's backups but overwritten by its next apply.\n";

pub fn render_new_service(s: &NewService) -> String {
    let mut out = String::from(HEADER);
    let exec = std::iter::once(s.binary.clone())
        .chain(s.args.argv(false))
        .chain([
            "--database".to_string(),
            "/var/lib/drawpile-srv/config.db".to_string(),
            "--sessions".to_string(),
            "/var/lib/drawpile-srv/sessions".to_string(),
        ])
        .collect::<Vec<_>>()
        .join(" ");
    let _ = write!(
        out,
        "[Unit]
Description=Drawpile dedicated server
Documentation=https://docs.drawpile.net/help/server/dedicated
After=network-online.target
Wants=network-online.target

[Service]
Type={ty}
ExecStart={exec}
User={user}
Group={user}
StateDirectory=drawpile-srv drawpile-srv/sessions
WorkingDirectory=/var/lib/drawpile-srv
Restart=always
RestartSec=5
# Hardening: drawpile-srv only needs its state directory and the network.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=
ProtectProc=invisible
ProcSubset=pid
PrivateUsers=yes
RemoveIPC=yes
UMask=0077

[Install]
WantedBy=multi-user.target
",
        ty = if s.notify { "notify" } else { "simple" },
        exec = exec,
        user = s.user,
    );
    out
}

/// sysusers.d(5) entry that creates the dedicated user declaratively (idempotent).
pub fn render_sysusers(user: &str) -> String {
    format!(
        "# Written by dpwizard: the system user drawpile-srv runs as.\n\
         u {user} - \"Drawpile dedicated server\" /var/lib/drawpile-srv /usr/sbin/nologin\n"
    )
}

/// A unit that runs the official image with `docker run --rm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContainer {
    pub docker: String,
    pub image: String,
    pub container_name: String,
    pub volume: String,
    pub args: ServerArgs,
}

pub fn render_new_container(c: &NewContainer) -> String {
    let a = &c.args;
    let mut run = vec![
        c.docker.clone(),
        "run".into(),
        "--rm".into(),
        "--name".into(),
        c.container_name.clone(),
        // The drawpile protocol port is public; the WebSocket port only for the local proxy.
        "-p".into(),
        format!("{0}:{0}", a.tcp_port),
        "-p".into(),
        format!("127.0.0.1:{0}:{0}", a.websocket_port),
    ];
    if let Some(p) = a.web_admin_port {
        run.push("-p".into());
        run.push(format!("127.0.0.1:{p}:{p}"));
    }
    run.extend([
        "-v".into(),
        format!("{}:/home/drawpile", c.volume),
        c.image.clone(),
    ]);
    run.extend(a.argv(true));
    let mut out = String::from(HEADER);
    let _ = write!(
        out,
        "[Unit]
Description=Drawpile dedicated server (Docker image {image})
Documentation=https://docs.drawpile.net/help/server/docker
After=docker.service network-online.target
Requires=docker.service
Wants=network-online.target

[Service]
Type=simple
# A container left over from a crash would block the name.
ExecStartPre=-{docker} rm -f {name}
ExecStart={run}
ExecStop={docker} stop {name}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
",
        image = c.image,
        docker = c.docker,
        name = c.container_name,
        run = run.join(" "),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServerArgs {
        ServerArgs {
            tcp_port: 27750,
            websocket_port: 27751,
            websocket_listen: Some("127.0.0.1".into()),
            web_admin_port: Some(27780),
        }
    }

    #[test]
    fn container_args_never_bind_the_container_loopback() {
        let v = args().argv(true);
        assert!(!v.contains(&"--websocket-listen".to_string()));
        assert!(v.windows(2).any(|w| w == ["--web-admin-access", "all"]));
        let v = args().argv(false);
        assert!(
            v.windows(2)
                .any(|w| w == ["--websocket-listen", "127.0.0.1"])
        );
        assert!(!v.contains(&"--web-admin-access".to_string()));
    }

    #[test]
    fn new_container_publishes_websocket_and_admin_on_loopback_only() {
        let text = render_new_container(&NewContainer {
            docker: "/usr/bin/docker".into(),
            image: "drawpile/drawpile-srv:2.3".into(),
            container_name: "drawpile-srv".into(),
            volume: "drawpile-srv-data".into(),
            args: args(),
        });
        let exec = text.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        assert!(exec.contains(" -p 27750:27750 "), "{exec}");
        assert!(exec.contains(" -p 127.0.0.1:27751:27751 "), "{exec}");
        assert!(exec.contains(" -p 127.0.0.1:27780:27780 "), "{exec}");
        assert!(exec.contains(" -v drawpile-srv-data:/home/drawpile drawpile/drawpile-srv:2.3 --port 27750 --websocket-port 27751"), "{exec}");
    }

    #[test]
    fn new_service_type_follows_notify_support() {
        let mut s = NewService {
            binary: "/usr/local/bin/drawpile-srv".into(),
            user: "drawpile".into(),
            args: args(),
            notify: false,
        };
        assert!(render_new_service(&s).contains("\nType=simple\n"));
        s.notify = true;
        let text = render_new_service(&s);
        assert!(text.contains("\nType=notify\n"));
        assert!(text.contains("\nUser=drawpile\n"));
        assert!(!text.contains("User=root"));
    }
}
