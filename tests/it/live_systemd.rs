//! Detection against a real booted systemd (systemd-nspawn): live state and effective
//! ExecStart from `systemctl show`, a pending daemon-reload, and 2.2.x socket activation
//! passing the three sockets to drawpile-srv (the real upstream builds under their upstream
//! units when ../shared/drawpile-srv has them, else the stand-in; the test prints which).

use crate::support::drawpile::Server;
use crate::support::nspawn::{Machine, skip_unless_machine};
use crate::support::*;

#[test]
fn detect_reads_live_systemd_state() {
    if skip_unless_machine(&[]) {
        return;
    }
    let m = Machine::boot("dpw-detect-live");
    let srv = Server::pick("2.3.0");
    let bin = m.install_drawpile(&srv);
    m.install_units(&srv);
    m.write(
        "/etc/systemd/system/drawpile-srv.service.d/override.conf",
        format!("[Service]\nExecStart=\nExecStart={bin} --listen 127.0.0.1 --websocket-port 27751 --websocket-listen 127.0.0.1\n"),
    );
    m.ok("systemctl daemon-reload && systemctl enable --now drawpile-srv.service");
    let detect = format!("{} --root / detect --json", dpwizard_in_machine());
    let v: Value = serde_json::from_str(&m.ok(&detect)).unwrap();
    assert_eq!(jget(&v, "os.systemd_running"), true);
    let u = jget(&v, "runtime.units.0");
    assert_eq!(u["name"], "drawpile-srv.service");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["live"]["active_state"], "active", "{u:#}");
    assert_eq!(u["live"]["sub_state"], "running");
    assert_eq!(u["live"]["exec_start"], u["exec_start"]);
    assert_eq!(u["live"]["differs_from_files"], false);
    assert!(u["live"]["main_pid"].as_u64().unwrap() > 1);
    // Type=notify worked: drawpile-srv sent READY=1; the socket belongs to it.
    let ws = jget(&v, "network.listeners")
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == 27751)
        .cloned()
        .unwrap();
    assert_eq!(ws["address"], "127.0.0.1");
    assert_eq!(ws["process"], "drawpile-srv");

    // Edit the drop-in without daemon-reload: the files and systemd now disagree.
    m.write(
        "/etc/systemd/system/drawpile-srv.service.d/override.conf",
        format!("[Service]\nExecStart=\nExecStart={bin} --websocket-port 27755\n"),
    );
    let v: Value = serde_json::from_str(&m.ok(&detect)).unwrap();
    assert_eq!(jget(&v, "runtime.units.0.live.differs_from_files"), true);
    let text = m.ok(&format!(
        "{} --root / --color never detect",
        dpwizard_in_machine()
    ));
    assert!(text.contains("daemon-reload is due"), "{text}");

    // 2.2.x socket activation: the socket passes TCP, web admin and WebSocket to drawpile-srv.
    let srv = Server::pick("2.2.2");
    m.install_drawpile(&srv);
    m.install_units(&srv);
    m.ok("rm -rf /etc/systemd/system/drawpile-srv.service.d && systemctl daemon-reload && systemctl stop drawpile-srv.service && systemctl enable --now drawpile-srv.socket");
    // Connecting to the socket starts the service, which answers with the TCP greeting. A
    // client stays connected while detect looks: 2.2.x stops when its last client leaves.
    let greeting = m.ok("exec 3<>/dev/tcp/127.0.0.1/27750; head -c 4 <&3 | od -An -tx1; setsid sleep 30 <&3 >/dev/null 2>&1 & disown");
    assert_eq!(
        greeting.split_whitespace().collect::<Vec<_>>(),
        vec!["00", "a6", "00", "00"]
    );
    let v: Value = serde_json::from_str(&m.ok(&detect)).unwrap();
    assert_eq!(jget(&v, "runtime.kind"), "systemd-socket");
    let s = jget(&v, "runtime.sockets.0");
    assert_eq!(s["slots"]["websocket"], "27751");
    assert_eq!(s["live"]["active_state"], "active", "{s:#}");
    let log = m.ok("journalctl -u drawpile-srv.service --no-pager -o cat");
    assert!(
        log.contains("Started listening on passed TCP socket on port 27750, WebSocket port 27751"),
        "{log}"
    );
}
