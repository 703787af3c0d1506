//! Detection only reads: after `detect` on a rich fake machine, every file, link and
//! directory is as it was (content, mode, modification time), and nothing was added.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support::drawpile::Build;
use crate::support::systemd::*;
use crate::support::*;

pub fn snapshot(root: &Path) -> BTreeMap<String, (u32, i64, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, i64, i64, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let content = if m.file_type().is_symlink() {
                std::fs::read_link(&p)
                    .unwrap()
                    .to_string_lossy()
                    .as_bytes()
                    .to_vec()
            } else if m.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            let key = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(key, (m.mode(), m.mtime(), m.mtime_nsec(), content));
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

#[test]
fn detect_changes_nothing_under_the_root() {
    let m = FakeMachine::debian12();
    let (c, k) = {
        let s =
            dpwizard::plan::selfsigned::generate("paint.example.com", 1_790_000_000, 3650).unwrap();
        (s.cert_pem, s.key_pem)
    };
    crate::support::nginx::trees::certbot_site(m.root(), "paint.example.com", &c, &k);
    m.with_drawpile("/usr/local/bin/drawpile-srv", &Build::v("2.2.2"))
        .unit_in(
            "/lib/systemd/system",
            "drawpile-srv.service",
            &upstream_service("/usr/local", true),
        )
        .unit_in(
            "/lib/systemd/system",
            "drawpile-srv.socket",
            &upstream_socket(true, true),
        )
        .dropin(
            "drawpile-srv.service",
            "override.conf",
            "[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv --websocket-port 27751\n",
        )
        .file(
            "/opt/dp/docker-compose.yml",
            "services:\n  dp:\n    image: drawpile/drawpile-srv:2.3\n",
        )
        .file("/etc/ufw/ufw.conf", "ENABLED=yes\n");
    let before = snapshot(m.root());
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "drawpile.binaries.0.version"), "2.2.2");
    let run = m.dpwizard(["-v", "detect"]);
    assert_eq!(run.code, 0);
    let after = snapshot(m.root());
    assert_eq!(before.len(), after.len(), "files were added or removed");
    for (k, v) in &before {
        assert_eq!(Some(v), after.get(k), "{k} changed");
    }
}
