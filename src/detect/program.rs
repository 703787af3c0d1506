//! What a file that claims to be drawpile-srv really is, read (never run) before anything
//! is probed: an ELF binary that identifies as drawpile-srv, a Drawpile AppImage, a script
//! (whose plain `exec` line names what it starts), or something else.
//!
//! Wrapper scripts named `drawpile-srv` exist in the wild; one that ignores `--version`
//! runs its whole start sequence. So only a binary that says it is drawpile-srv is run.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::host::{Host, ReadKind};

/// Strings every drawpile-srv build carries (its name in `--version`, its Qt application
/// name); a binary without any of them is not drawpile-srv.
const IDENTIFIERS: &[&[u8]] = &[b"drawpile-srv", b"drawpile-server"];

/// A binary is scanned up to this size for its identifiers (AppImages are ~100 MB).
const SCAN_CAP: u64 = 512 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// An ELF binary that contains drawpile-srv's identifiers: safe to probe (unprivileged).
    DrawpileElf,
    /// A type-2 AppImage (or an ELF named `*.AppImage`) named like Drawpile's.
    DrawpileAppImage,
    /// A script; `starts` is the program its plain `exec` line names, if any.
    Script { starts: Option<PathBuf> },
    /// Anything else; why it is not drawpile-srv.
    Other(String),
}

impl Program {
    pub fn probe_allowed(&self) -> bool {
        matches!(self, Program::DrawpileElf | Program::DrawpileAppImage)
    }
}

/// Reads enough of `path` (a target-machine path) to say what it is.
pub fn identify(host: &Host, path: &Path) -> Program {
    let mut file = match host.open_file(path, ReadKind::Config) {
        Ok(f) => f,
        Err(e) => return Program::Other(format!("cannot be read: {e}")),
    };
    let mut head = [0u8; 16];
    let n = read_full(&mut file, &mut head);
    let head = &head[..n];
    let named_appimage = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|n| n.ends_with(".appimage"));
    let named_drawpile = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|n| n.contains("drawpile"));
    if head.starts_with(b"\x7fELF") {
        // AppImage type 1/2 magic: "AI" and the type at offset 8.
        let appimage_magic = head.get(8..10) == Some(b"AI");
        let identifies = match contains_any(file, IDENTIFIERS, SCAN_CAP) {
            Ok(found) => found,
            Err(e) => return Program::Other(format!("cannot be read: {e}")),
        };
        if appimage_magic || named_appimage {
            // The AppImage's payload is compressed: its name is what says it is Drawpile.
            return if identifies || named_drawpile {
                Program::DrawpileAppImage
            } else {
                Program::Other("an AppImage whose name does not say it is Drawpile".into())
            };
        }
        return if identifies {
            Program::DrawpileElf
        } else {
            Program::Other(
                "an ELF binary without drawpile-srv's identifiers (not drawpile-srv)".into(),
            )
        };
    }
    if head.starts_with(b"#!") {
        let text = host.read_to_string(path).unwrap_or_default();
        return Program::Script {
            starts: exec_target(&text).map(|t| match t {
                t if t.contains('/') => PathBuf::from(t),
                name => host.which(&name).unwrap_or_else(|| PathBuf::from(name)),
            }),
        };
    }
    Program::Other("neither an ELF binary nor a script".into())
}

/// The program a script's first plain `exec` line starts: `exec [env] [VAR=x] PROGRAM ...`.
/// Lines with expansions in the program word (`exec "$DIR/x"`) name nothing certain.
pub fn exec_target(script: &str) -> Option<String> {
    for line in script.lines() {
        let Some(rest) = line.trim().strip_prefix("exec ") else {
            continue;
        };
        let words = crate::detect::docker::split_command(rest);
        let program = words
            .iter()
            .skip_while(|w| *w == "env" || (w.contains('=') && !w.starts_with('/')))
            .find(|w| !w.starts_with('-'))?;
        if program.contains(['$', '`', '(', '*', '?']) {
            return None;
        }
        return Some(program.clone());
    }
    None
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Whether any needle occurs in the first `cap` bytes, read in chunks (not held at once).
fn contains_any(file: std::fs::File, needles: &[&[u8]], cap: u64) -> std::io::Result<bool> {
    let keep = needles.iter().map(|n| n.len()).max().unwrap_or(1) - 1;
    let mut reader = file.take(cap);
    let mut window: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        window.extend_from_slice(&chunk[..n]);
        if needles
            .iter()
            .any(|needle| window.windows(needle.len()).any(|w| w == *needle))
        {
            return Ok(true);
        }
        let cut = window.len().saturating_sub(keep);
        window.drain(..cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_a_wrapper_execs() {
        assert_eq!(
            exec_target("#!/bin/sh\ncd /srv/dp\nexec /usr/bin/drawpile-srv --port 27750 \"$@\"\n")
                .as_deref(),
            Some("/usr/bin/drawpile-srv")
        );
        assert_eq!(
            exec_target("#!/bin/sh\nexec env QT_QPA_PLATFORM=offscreen drawpile-srv -c x\n")
                .as_deref(),
            Some("drawpile-srv")
        );
        assert_eq!(
            exec_target("#!/bin/sh\nexec \"$HERE/drawpile-srv\"\n"),
            None
        );
        assert_eq!(exec_target("#!/bin/sh\n/usr/bin/drawpile-srv &\n"), None);
    }

    #[test]
    fn files_are_identified_by_their_bytes() {
        let d = tempfile::tempdir().unwrap();
        let host = Host::new(
            d.path(),
            std::time::Duration::from_secs(1),
            crate::host::Clock::System,
        );
        let put = |name: &str, bytes: &[u8]| std::fs::write(d.path().join(name), bytes).unwrap();
        // An identifier across the 1 MiB chunk boundary is still found.
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        elf.resize((1 << 20) - 5, 0);
        elf.extend_from_slice(b"drawpile-srv 2.3.0");
        put("dp", &elf);
        put("other", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0 nginx");
        put("Thing.AppImage", b"\x7fELF\x02\x01\x01\0AI\x02\0\0\0\0\0");
        put(
            "Drawpile-2.3.0.AppImage",
            b"\x7fELF\x02\x01\x01\0AI\x02\0\0\0\0\0",
        );
        put("wrap", b"#!/bin/sh\nexec /usr/bin/drawpile-srv \"$@\"\n");
        put("text", b"drawpile-srv");
        assert_eq!(identify(&host, Path::new("/dp")), Program::DrawpileElf);
        assert!(matches!(
            identify(&host, Path::new("/other")),
            Program::Other(_)
        ));
        assert!(matches!(
            identify(&host, Path::new("/Thing.AppImage")),
            Program::Other(_)
        ));
        assert_eq!(
            identify(&host, Path::new("/Drawpile-2.3.0.AppImage")),
            Program::DrawpileAppImage
        );
        assert_eq!(
            identify(&host, Path::new("/wrap")),
            Program::Script {
                starts: Some(PathBuf::from("/usr/bin/drawpile-srv"))
            }
        );
        assert!(matches!(
            identify(&host, Path::new("/text")),
            Program::Other(_)
        ));
    }
}
