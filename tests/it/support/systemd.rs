//! systemd units in fake machines: the upstream units (written from the facts doc),
//! drop-ins, enablement links.

use super::FakeMachine;

/// The upstream drawpile-srv.service for a given prefix, byte for byte as the build installs
/// it (shared/drawpile-srv/*/lib/systemd/system; `standin::the_standin_units_are_the_upstream_files`
/// compares); 2.2.x adds `Also=` the socket.
pub fn upstream_service(prefix: &str, v22: bool) -> String {
    let also = if v22 {
        "Also=drawpile-srv.socket\n"
    } else {
        ""
    };
    format!(
        "[Unit]\nDescription=Drawpile dedicated server\nDocumentation=man:drawpile-srv(1)\n\
         After=network.target\n\n\
         [Service]\nType=notify\nNotifyAccess=main\nExecStart={prefix}/bin/drawpile-srv\n\
         Restart=always\nWatchdogSec=60s\nUser=nobody\n\n\
         [Install]\n{also}WantedBy=multi-user.target\n"
    )
}

/// The upstream 2.2.x socket: TCP, web admin (if built), WebSocket (if built); with all
/// three, byte for byte the 2.2.2 build's file.
pub fn upstream_socket(web_admin: bool, websocket: bool) -> String {
    let mut s = String::from(
        "[Unit]\nDescription=Drawpile dedicated server socket\nDocumentation=man:drawpile-srv(1)\n\
         After=network.target\n\n[Socket]\nListenStream=27750\n",
    );
    if web_admin {
        s.push_str("ListenStream=27780\n");
    }
    if websocket {
        s.push_str("ListenStream=27751\n");
    }
    s.push_str("\n[Install]\nWantedBy=sockets.target\n");
    s
}

impl FakeMachine {
    /// A unit file in /etc/systemd/system (or `dir`).
    pub fn unit_in(&self, dir: &str, name: &str, text: &str) -> &Self {
        self.file(&format!("{dir}/{name}"), text)
    }

    pub fn unit(&self, name: &str, text: &str) -> &Self {
        self.unit_in("/etc/systemd/system", name, text)
    }

    pub fn dropin(&self, unit: &str, file: &str, text: &str) -> &Self {
        self.file(&format!("/etc/systemd/system/{unit}.d/{file}"), text)
    }

    /// `systemctl enable` as links: `<target>.wants/<unit>` → the unit file.
    pub fn enable(&self, unit: &str, target: &str, unit_path: &str) -> &Self {
        self.symlink(
            &format!("/etc/systemd/system/{target}.wants/{unit}"),
            unit_path,
        )
    }
}
