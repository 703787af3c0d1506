//! Detection against a real booted systemd (systemd-nspawn): live state and effective
//! ExecStart from `systemctl show`, a pending daemon-reload, and 2.2.x socket activation
//! passing the three sockets to the stand-in.

use crate::support::drawpile::Build;
use crate::support::nspawn::Machine;
use crate::support::systemd::{upstream_service, upstream_socket};
use crate::support::*;

#[test]
fn detect_reads_live_systemd_state() {
    if skip_unless_root("systemd-nspawn") || skip_unless_program("systemd-nspawn") {
        return;
    }
    let m = Machine::boot("dpw-detect-live");
    m.install_drawpile(&Build::v("2.3.0"));
    m.write(
        "/usr/local/lib/systemd/system/drawpile-srv.service",
        upstream_service("/usr/local", false),
    );
    m.write(
        "/etc/systemd/system/drawpile-srv.service.d/override.conf",
        "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --listen 127.0.0.1 --websocket-port 27751 --websocket-listen 127.0.0.1\n",
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
    // Type=notify worked: the stand-in sent READY=1; the socket belongs to it.
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
        "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --websocket-port 27755\n",
    );
    let v: Value = serde_json::from_str(&m.ok(&detect)).unwrap();
    assert_eq!(jget(&v, "runtime.units.0.live.differs_from_files"), true);
    let text = m.ok(&format!(
        "{} --root / --color never detect",
        dpwizard_in_machine()
    ));
    assert!(text.contains("daemon-reload is due"), "{text}");

    // 2.2.x socket activation: the socket passes TCP, web admin and WebSocket to the stand-in.
    m.write(
        "/usr/local/bin/drawpile-srv.standin",
        Build::v("2.2.2").profile(),
    );
    m.write(
        "/usr/local/lib/systemd/system/drawpile-srv.service",
        upstream_service("/usr/local", true),
    );
    m.write(
        "/usr/local/lib/systemd/system/drawpile-srv.socket",
        upstream_socket(true, true),
    );
    m.ok("rm -rf /etc/systemd/system/drawpile-srv.service.d && systemctl daemon-reload && systemctl stop drawpile-srv.service && systemctl enable --now drawpile-srv.socket");
    // Connecting to the socket starts the service, which answers with the TCP greeting.
    let greeting = m.ok("exec 3<>/dev/tcp/127.0.0.1/27750; head -c 4 <&3 | od -An -tx1");
    assert_eq!(
        greeting.split_whitespace().collect::<Vec<_>>(),
        vec!["00", "a6", "00", "00"]
    );
    let v: Value = serde_json::from_str(&m.ok(&detect)).unwrap();
    assert_eq!(jget(&v, "runtime.kind"), "systemd-socket");
    let s = jget(&v, "runtime.sockets.0");
    assert_eq!(s["slots"]["websocket"], "27751");
    assert_eq!(s["live"]["active_state"], "active");
    let log = m.ok("journalctl -u drawpile-srv.service --no-pager -o cat");
    assert!(
        log.contains("Started listening on passed TCP socket on port 27750, WebSocket port 27751"),
        "{log}"
    );
}
