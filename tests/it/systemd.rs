//! systemd units on fake machines: merging as systemd does, sockets, enablement, runtime.

use crate::support::drawpile::Build;
use crate::support::systemd::*;
use crate::support::*;

fn service<'a>(v: &'a Value, name: &str) -> &'a Value {
    jget(v, "runtime.units")
        .as_array()
        .and_then(|a| a.iter().find(|u| u["name"] == name))
        .unwrap_or_else(|| panic!("no unit {name} in {:#}", jget(v, "runtime.units")))
}

fn socket<'a>(v: &'a Value, name: &str) -> &'a Value {
    jget(v, "runtime.sockets")
        .as_array()
        .and_then(|a| a.iter().find(|u| u["name"] == name))
        .unwrap_or_else(|| panic!("no socket {name}"))
}

#[test]
fn a_dropin_that_resets_execstart_wins_and_its_options_are_read() {
    let m = FakeMachine::debian12();
    m.with_drawpile("/usr/local/bin/drawpile-srv", &Build::v("2.3.0"))
        .unit_in("/usr/local/lib/systemd/system", "drawpile-srv.service", &upstream_service("/usr/local", false))
        .dropin(
            "drawpile-srv.service",
            "override.conf",
            "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --port 27750 \\\n  --websocket-port 27755 --websocket-listen 127.0.0.1\nUser=drawpile\n",
        )
        .enable("drawpile-srv.service", "multi-user.target", "/usr/local/lib/systemd/system/drawpile-srv.service");
    let v = m.detect_json(&[]);
    let u = service(&v, "drawpile-srv.service");
    assert_eq!(
        u["path"],
        "/usr/local/lib/systemd/system/drawpile-srv.service"
    );
    assert_eq!(
        u["dropins"],
        serde_json::json!(["/etc/systemd/system/drawpile-srv.service.d/override.conf"])
    );
    assert_eq!(u["exec_start_count"], 1);
    assert_eq!(u["options"]["websocket_port"], "27755");
    assert_eq!(u["options"]["websocket_listen"], "127.0.0.1");
    assert_eq!(
        u["exec_start_origin"]["file"],
        "/etc/systemd/system/drawpile-srv.service.d/override.conf"
    );
    assert_eq!(u["exec_start_origin"]["line"], 3);
    assert_eq!(u["user"], "drawpile");
    assert_eq!(u["type"], "notify");
    assert_eq!(u["enabled"], true);
    assert_eq!(
        u["enabled_via"],
        serde_json::json!(["multi-user.target.wants"])
    );
    assert_eq!(jget(&v, "runtime.kind"), "systemd-service");
    // The unit's binary is one of the detected ones, found through the unit.
    let via = jget(&v, "drawpile.binaries.0.found_via").to_string();
    assert!(via.contains("unit drawpile-srv.service"), "{via}");
}

#[test]
fn dropins_apply_in_file_name_order_and_higher_dirs_hide_lower() {
    let m = FakeMachine::debian12();
    m.unit("drawpile-srv.service", &upstream_service("/usr", false))
        .dropin(
            "drawpile-srv.service",
            "dpwizard.conf",
            "[Service]\nExecStart=\nExecStart=/usr/bin/drawpile-srv --websocket-port 1111\n",
        )
        .dropin(
            "drawpile-srv.service",
            "override.conf",
            "[Service]\nExecStart=\nExecStart=/usr/bin/drawpile-srv --websocket-port 2222\n",
        )
        // Same name lower down: hidden by /etc's.
        .file(
            "/usr/lib/systemd/system/drawpile-srv.service.d/override.conf",
            "[Service]\nUser=hidden\n",
        )
        .file(
            "/usr/lib/systemd/system/drawpile-srv.service.d/zz-lower.conf",
            "[Service]\nGroup=fromlower\n",
        );
    let v = m.detect_json(&[]);
    let u = service(&v, "drawpile-srv.service");
    assert_eq!(
        u["options"]["websocket_port"], "2222",
        "override.conf sorts after dpwizard.conf"
    );
    assert_eq!(u["user"], "nobody");
    assert_eq!(u["group"], "fromlower");
    assert_eq!(u["dropins"].as_array().unwrap().len(), 3);
}

#[test]
fn an_execstart_added_without_reset_is_an_error() {
    let m = FakeMachine::debian12();
    m.unit("drawpile-srv.service", &upstream_service("/usr", false))
        .dropin(
            "drawpile-srv.service",
            "override.conf",
            "[Service]\nExecStart=/usr/bin/drawpile-srv --websocket-port 27751\n",
        );
    let v = m.detect_json(&[]);
    let u = service(&v, "drawpile-srv.service");
    assert_eq!(u["exec_start_count"], 2);
    assert!(
        u["errors"]
            .to_string()
            .contains("reset with an empty ExecStart="),
        "{u:#}"
    );
}

#[test]
fn socket_units_map_their_slots_in_order() {
    // 2.2.x with all three sockets, enabled: the socket decides the runtime.
    let m = FakeMachine::debian12();
    m.unit_in(
        "/usr/lib/systemd/system",
        "drawpile-srv.service",
        &upstream_service("/usr", true),
    )
    .unit_in(
        "/usr/lib/systemd/system",
        "drawpile-srv.socket",
        &upstream_socket(true, true),
    )
    .enable(
        "drawpile-srv.socket",
        "sockets",
        "/usr/lib/systemd/system/drawpile-srv.socket",
    );
    let v = m.detect_json(&[]);
    let s = socket(&v, "drawpile-srv.socket");
    assert_eq!(
        s["listen_stream"],
        serde_json::json!(["27750", "27780", "27751"])
    );
    assert_eq!(s["slots"]["websocket"], "27751");
    assert_eq!(s["slots"]["web_admin"], "27780");
    assert_eq!(s["notes"], serde_json::json!([]));
    assert_eq!(jget(&v, "runtime.kind"), "systemd-socket");
    assert_eq!(
        service(&v, "drawpile-srv.service")["also"],
        serde_json::json!(["drawpile-srv.socket"])
    );

    // A build without web admin: the WebSocket socket lands in the web-admin slot.
    let m = FakeMachine::debian12();
    m.unit("drawpile-srv.socket", &upstream_socket(false, true));
    let v = m.detect_json(&[]);
    let s = socket(&v, "drawpile-srv.socket");
    assert_eq!(s["slots"]["web_admin"], "27751");
    assert_eq!(s["slots"]["websocket"], Value::Null);
    assert!(s["notes"].to_string().contains("web-admin slot"), "{s:#}");
}

#[test]
fn a_leftover_socket_beside_a_230_unit_is_reported() {
    let m = FakeMachine::debian12();
    m.with_drawpile("/usr/bin/drawpile-srv", &Build::v("2.3.0"))
        .unit_in(
            "/usr/lib/systemd/system",
            "drawpile-srv.service",
            &upstream_service("/usr", false),
        )
        .unit("drawpile-srv.socket", &upstream_socket(true, true))
        .enable(
            "drawpile-srv.socket",
            "sockets.target",
            "/etc/systemd/system/drawpile-srv.socket",
        );
    let v = m.detect_json(&[]);
    assert_eq!(socket(&v, "drawpile-srv.socket")["enabled"], true);
    assert_eq!(jget(&v, "runtime.kind"), "systemd-socket");
    assert_eq!(jget(&v, "drawpile.binaries.0.version"), "2.3.0");
}

#[test]
fn appimage_units_are_found_whatever_their_name() {
    let m = FakeMachine::debian12();
    m.with_drawpile("/opt/Drawpile-2.3.0.AppImage", &Build::v("2.3.0").appimage())
        .unit(
            "paint-server.service",
            "[Service]\nType=notify\nUser=artist\nExecStart=/opt/Drawpile-2.3.0.AppImage --server --websocket-port 27751\n",
        );
    let v = m.detect_json(&[]);
    let u = service(&v, "paint-server.service");
    assert_eq!(u["appimage"], true);
    assert_eq!(u["type"], "notify");
    assert_eq!(jget(&v, "runtime.kind"), "appimage");
    let b = jget(&v, "drawpile.binaries.0");
    assert_eq!(b["appimage"], true);
    assert_eq!(b["systemd_support"]["supported"], false);
    assert_eq!(b["gui_build"], true);
    assert_eq!(b["version"], "2.3.0", "probed as `--server --version`");
}

#[test]
fn masked_units_and_garbage_files_do_not_break_detection() {
    let m = FakeMachine::debian12();
    m.symlink("/etc/systemd/system/drawpile-srv.service", "/dev/null")
        .unit_in(
            "/usr/lib/systemd/system",
            "drawpile-srv.service",
            &upstream_service("/usr", false),
        )
        .unit(
            "drawpile-other.service",
            "this is not a unit\n[Service]\nExecStart=/bin/x \"unbalanced\n\u{0}\u{1}binary\n",
        );
    let v = m.detect_json(&[]);
    assert_eq!(service(&v, "drawpile-srv.service")["masked"], true);
    let other = service(&v, "drawpile-other.service");
    let errors = other["errors"].to_string();
    assert!(errors.contains("drawpile-other.service:1"), "{errors}");
    assert!(errors.contains("unbalanced"), "{errors}");
    assert_eq!(jget(&v, "runtime.kind"), "systemd-service");
}

#[test]
fn a_unit_without_user_runs_as_root_and_says_so_by_null() {
    let m = FakeMachine::debian12();
    m.unit(
        "drawpile-srv.service",
        "[Service]\nExecStart=/usr/bin/drawpile-srv\n",
    );
    let v = m.detect_json(&[]);
    assert_eq!(service(&v, "drawpile-srv.service")["user"], Value::Null);
}
