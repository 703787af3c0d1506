//! drawpile-srv binaries: where they are, which version, and whether they speak WebSocket.
//!
//! Candidates come from the search path, the usual install places, units' ExecStart= and
//! AppImages run with `--server`. Each is read first (`program`): only an ELF that
//! identifies as drawpile-srv (or a Drawpile AppImage) is probed, with `--version` and
//! `--help` as an unprivileged user (the real program refuses root), concurrently and with
//! a timeout; a wrapper script is never run, the binary its `exec` line names is probed.
//! The parsers are pure and follow the facts recorded from the real program.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;
use super::program::{self, Program};
use super::systemd::UnitFiles;
use crate::host::{CmdOutput, RunAs, passwd};

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct DrawpileFacts {
    /// Every drawpile-srv found, deduplicated by canonical path.
    pub binaries: Vec<DrawpileBinary>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct DrawpileBinary {
    /// Path on the target machine (as first found; `canonical` is where it really is).
    pub path: String,
    /// The path with symlinks resolved inside the root.
    pub canonical: String,
    /// Where it was found: `PATH`, `/opt/*/bin`, `unit drawpile-srv.service`, ...
    pub found_via: Vec<String>,
    /// An AppImage run with `--server` (GUI build; no systemd notify support).
    pub appimage: bool,
    /// The version as printed (`2.3.1-beta.1-12-gabcdef0`), null when it could not be read.
    pub version: Option<String>,
    /// The leading `X.Y.Z` of the version as numbers.
    pub version_number: Option<[u32; 3]>,
    /// What follows `X.Y.Z` in the version (`-beta.1-12-gabcdef0`, `+LABEL`), kept as is.
    pub version_suffix: Option<String>,
    /// `Protocol version:` (24.0 on 2.2.x, 25.1 on 2.3.x).
    pub protocol_version: Option<String>,
    pub qt_version: Option<String>,
    pub ssl_library: Option<String>,
    /// Built with the web admin (libmicrohttpd); null when --version did not say.
    pub web_admin: Option<bool>,
    /// Built with libsodium (2.2.2+ print it); null when not printed.
    pub libsodium: Option<bool>,
    /// A GUI build (`--gui` in `--help`): an AppImage or desktop package.
    pub gui_build: Option<bool>,
    pub websocket: WebSocketSupport,
    /// Whether the build sends sd_notify READY=1 (needed for `Type=notify`).
    pub systemd_support: SystemdSupport,
    /// The user the probes ran as.
    pub probed_as: Option<String>,
    /// Why the binary could not be read, when it could not (`not probed: a script; it
    /// starts /usr/bin/drawpile-srv`: only a binary that identifies as drawpile-srv is run).
    pub error: Option<String>,
    /// How the probe was done when not on the file itself (a wrapper script's binary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_note: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct WebSocketSupport {
    /// true/false, null when it cannot be decided.
    pub supported: Option<bool>,
    /// The evidence the decision rests on.
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct SystemdSupport {
    /// true/false, null when unknown.
    pub supported: Option<bool>,
    pub reason: String,
}

/// What `--version` says, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: String,
    pub number: Option<[u32; 3]>,
    pub suffix: Option<String>,
    pub protocol: Option<String>,
    pub qt: Option<String>,
    pub ssl: Option<String>,
    pub web_admin: Option<bool>,
    pub libsodium: Option<bool>,
    /// The `QtWebSockets:` line: Some(true) for `yes`, Some(false) for `N/A ...`.
    pub qt_websockets: Option<bool>,
}

/// Splits `2.3.1-beta.1-12-gabcdef0` into ([2,3,1], "-beta.1-12-gabcdef0").
pub fn split_version(v: &str) -> Option<([u32; 3], String)> {
    let mut nums = [0u32; 3];
    let mut rest = v;
    for (i, n) in nums.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        *n = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
    }
    Some((nums, rest.to_string()))
}

/// Parses `--version` output. Returns None unless the first line is `drawpile-srv X.Y.Z…`.
pub fn parse_version_output(text: &str) -> Option<VersionInfo> {
    let mut lines = text.lines();
    let first = lines.next()?.trim();
    let version = first.strip_prefix("drawpile-srv ")?.trim().to_string();
    let (number, suffix) = match split_version(&version) {
        Some((n, s)) => (Some(n), (!s.is_empty()).then_some(s)),
        None => return None,
    };
    let mut info = VersionInfo {
        version,
        number,
        suffix,
        ..Default::default()
    };
    for line in lines {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let not_available = value.starts_with("N/A");
        match key.trim() {
            "Protocol version" => info.protocol = Some(value.to_string()),
            "Qt version" => info.qt = Some(value.to_string()),
            "SSL library version" => info.ssl = Some(value.to_string()),
            "Libmicrohttpd version" => info.web_admin = Some(!not_available),
            "Libsodium version" => info.libsodium = Some(!not_available),
            "QtWebSockets" => info.qt_websockets = Some(value == "yes"),
            _ => {}
        }
    }
    Some(info)
}

/// What `--help` says about the options dpwizard needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelpInfo {
    pub lists_websocket_port: bool,
    pub websockets_not_compiled_in: bool,
    pub gui: bool,
}

pub fn parse_help_output(text: &str) -> Option<HelpInfo> {
    if !text.contains("Usage:") || !text.contains("Options:") {
        return None;
    }
    // Descriptions wrap near 80 columns, so the suffix may be split over lines.
    let normalised = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(HelpInfo {
        lists_websocket_port: normalised.contains("--websocket-port"),
        websockets_not_compiled_in: normalised.contains("QtWebSockets not compiled in"),
        gui: text.lines().any(|l| l.trim_start().starts_with("--gui")),
    })
}

/// Decides WebSocket support in the documented order: version ≥ 2.3.0 → yes;
/// < 2.2.1 → no; a `QtWebSockets:` line → its answer; else `--help`.
pub fn decide_websocket(v: Option<&VersionInfo>, help: Option<&HelpInfo>) -> WebSocketSupport {
    let yes = |reason: String| WebSocketSupport {
        supported: Some(true),
        reason,
    };
    let no = |reason: String| WebSocketSupport {
        supported: Some(false),
        reason,
    };
    if let Some(v) = v {
        if let Some(n) = v.number {
            if n >= [2, 3, 0] {
                return yes(format!(
                    "version {} ≥ 2.3.0: WebSocket support is mandatory",
                    v.version
                ));
            }
            if n < [2, 2, 1] {
                return no(format!(
                    "version {} < 2.2.1: no WebSocket server before 2.2.1",
                    v.version
                ));
            }
        }
        match v.qt_websockets {
            Some(true) => return yes("--version says \"QtWebSockets: yes\"".into()),
            Some(false) => {
                return no("--version says \"QtWebSockets: N/A (not compiled in)\"".into());
            }
            None => {}
        }
    }
    match help {
        Some(h) if h.lists_websocket_port && !h.websockets_not_compiled_in => {
            yes("--help lists --websocket-port without \"QtWebSockets not compiled in\"".into())
        }
        Some(h) if h.lists_websocket_port => {
            no("--help marks --websocket-port \"QtWebSockets not compiled in\"".into())
        }
        Some(_) => no("--help does not list --websocket-port (built without QtWebSockets)".into()),
        None => WebSocketSupport {
            supported: None,
            reason: "neither --version nor --help could be read".into(),
        },
    }
}

/// A place a binary was found, before probing.
#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    canonical: PathBuf,
    found_via: Vec<String>,
    appimage: bool,
    /// `User=` of the unit that runs it, if any.
    unit_user: Option<String>,
}

fn is_appimage(p: &Path) -> bool {
    p.file_name()
        .map(|n| {
            n.to_string_lossy()
                .to_ascii_lowercase()
                .ends_with(".appimage")
        })
        .unwrap_or(false)
}

fn candidates(ctx: &Ctx, units: &UnitFiles) -> Vec<Candidate> {
    let host = &ctx.host;
    let mut found: Vec<(PathBuf, String, Option<String>)> = Vec::new();
    for dir in host.search_path() {
        let p = dir.join("drawpile-srv");
        if host.is_executable(&p) {
            found.push((p, "PATH".into(), None));
        }
    }
    for p in ["/usr/bin/drawpile-srv", "/usr/local/bin/drawpile-srv"] {
        if host.is_executable(p) {
            found.push((p.into(), "standard location".into(), None));
        }
    }
    for pattern in ["/opt/*/bin/drawpile-srv", "/opt/*/drawpile-srv"] {
        for p in host.glob(pattern) {
            if host.is_executable(&p) {
                found.push((p, "/opt".into(), None));
            }
        }
    }
    for unit in &units.services {
        if let Some(program) = unit.exec_start.as_ref().and_then(|argv| argv.first()) {
            let p = PathBuf::from(program);
            let is_drawpile = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("drawpile-srv"));
            if is_drawpile || is_appimage(&p) {
                found.push((p, format!("unit {}", unit.name), unit.user.clone()));
            }
        }
    }

    // Deduplicate by canonical path, keeping the first path and every reason.
    let mut by_canonical: BTreeMap<PathBuf, Candidate> = BTreeMap::new();
    let mut order = Vec::new();
    for (path, via, user) in found {
        let canonical = host.canonical(&path).unwrap_or_else(|_| path.clone());
        match by_canonical.get_mut(&canonical) {
            Some(c) => {
                if !c.found_via.contains(&via) {
                    c.found_via.push(via);
                }
                if c.unit_user.is_none() {
                    c.unit_user = user;
                }
            }
            None => {
                order.push(canonical.clone());
                by_canonical.insert(
                    canonical.clone(),
                    Candidate {
                        appimage: is_appimage(&path) || is_appimage(&canonical),
                        path,
                        canonical,
                        found_via: vec![via],
                        unit_user: user,
                    },
                );
            }
        }
    }
    order
        .into_iter()
        .filter_map(|c| by_canonical.remove(&c))
        .collect()
}

/// The user probes run as: the unit's `User=` when it exists and is not root, else nobody.
/// Under `--root` always uid/gid 65534: the tree's passwd is not this machine's (its users
/// may be real people here, its `nobody` may say uid 0).
fn probe_user(ctx: &Ctx, unit_user: Option<&str>) -> Option<RunAs> {
    let user = if ctx.host.is_live() {
        unit_user
            .filter(|u| *u != "root" && *u != "0")
            .and_then(|u| passwd::lookup_user(&ctx.host, u))
            .or_else(|| passwd::lookup_user(&ctx.host, "nobody"))
            .filter(|u| u.uid != 0 && u.gid != 0)
    } else {
        None
    };
    Some(match user {
        Some(u) => RunAs {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
        },
        // Under --root, or no usable nobody in the passwd: the conventional id.
        None => RunAs {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
        },
    })
}

/// The first line of stdout/stderr that says something, for error messages.
fn first_line(out: &CmdOutput) -> String {
    let text = format!("{}\n{}", out.stderr_str(), out.stdout_str());
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(200).collect())
        .unwrap_or_default()
}

/// Decides what may be run for a candidate: the file itself when it is a drawpile-srv
/// binary, the binary a wrapper script `exec`s when that is one, else nothing (and why).
fn what_to_run(ctx: &Ctx, c: &Candidate) -> (Option<(PathBuf, bool)>, Option<String>) {
    match program::identify(&ctx.host, &c.path) {
        Program::DrawpileElf => (Some((c.path.clone(), c.appimage)), None),
        Program::DrawpileAppImage => (Some((c.path.clone(), true)), None),
        Program::Script { starts: Some(t) } => match program::identify(&ctx.host, &t) {
            Program::DrawpileElf => (
                Some((t.clone(), false)),
                Some(format!(
                    "a script; it starts {}, which was probed instead",
                    t.display()
                )),
            ),
            _ => (
                None,
                Some(format!("not probed: a script; it starts {}", t.display())),
            ),
        },
        Program::Script { starts: None } => (
            None,
            Some("not probed: a script, and no plain `exec` line says what it starts".into()),
        ),
        Program::Other(why) => (None, Some(format!("not probed: {why}"))),
    }
}

async fn probe(ctx: &Ctx, mut c: Candidate) -> DrawpileBinary {
    let host = &ctx.host;
    let (run, note) = what_to_run(ctx, &c);
    let Some((program, appimage)) = run else {
        let why = note.unwrap_or_default();
        ctx.probes
            .skipped(format!("drawpile-srv ({})", c.path.display()), why.clone());
        return DrawpileBinary {
            path: c.path.display().to_string(),
            canonical: c.canonical.display().to_string(),
            found_via: c.found_via,
            appimage: c.appimage,
            websocket: WebSocketSupport {
                supported: None,
                reason: why.clone(),
            },
            systemd_support: SystemdSupport {
                supported: None,
                reason: why.clone(),
            },
            error: Some(why),
            ..Default::default()
        };
    };
    c.appimage = appimage;
    let run_as = probe_user(ctx, c.unit_user.as_deref());
    let mut base_args: Vec<&str> = Vec::new();
    if c.appimage {
        // The AppImage is the desktop app; `--server` makes it drawpile-srv.
        base_args.push("--server");
    }
    let cmd = |flag: &str| {
        let c = host
            .command(&program)
            .args(base_args.iter().copied().chain([flag]))
            .run_as(run_as.clone());
        // A tree's binary is whatever the image holds: no network, no setuid either.
        if host.is_live() { c } else { c.isolated() }
    };
    let (vout, hout) = tokio::join!(host.run(cmd("--version")), host.run(cmd("--help")));
    let label = |flag: &str| format!("drawpile-srv {flag} ({})", program.display());
    ctx.probes.command(label("--version"), &vout, &[0]);
    ctx.probes.command(label("--help"), &hout, &[0]);

    let version = vout
        .success()
        .then(|| parse_version_output(&vout.stdout_str()))
        .flatten();
    let help = hout
        .success()
        .then(|| parse_help_output(&hout.stdout_str()))
        .flatten();

    let mut error = None;
    if version.is_none() {
        let why = if first_line(&vout).contains("should not be run as root") {
            "it refused to run as root (dpwizard could not drop privileges: run dpwizard as root \
             so it can probe as an unprivileged user)"
                .to_string()
        } else if vout.success() {
            format!(
                "--version printed something that is not drawpile-srv's version: {:?}",
                first_line(&vout)
            )
        } else {
            vout.describe()
        };
        error = Some(why);
    }
    let websocket = decide_websocket(version.as_ref(), help.as_ref());
    let gui_build = help.as_ref().map(|h| h.gui);
    let systemd_support = if c.appimage {
        SystemdSupport {
            supported: Some(false),
            reason: "AppImages never send sd_notify READY=1: use Type=simple".into(),
        }
    } else if gui_build == Some(true) {
        SystemdSupport {
            supported: None,
            reason: "a GUI build; it may lack systemd support".into(),
        }
    } else {
        SystemdSupport {
            supported: None,
            reason: "not visible from --version; Type=notify hangs if the build lacks it".into(),
        }
    };
    let ran_as = vout.ran_as.clone().or_else(|| {
        Some(format!(
            "uid {} (dpwizard's own user: not root, so it could not switch)",
            nix::unistd::geteuid()
        ))
    });
    DrawpileBinary {
        path: c.path.display().to_string(),
        canonical: c.canonical.display().to_string(),
        found_via: c.found_via,
        appimage: c.appimage,
        version: version.as_ref().map(|v| v.version.clone()),
        version_number: version.as_ref().and_then(|v| v.number),
        version_suffix: version.as_ref().and_then(|v| v.suffix.clone()),
        protocol_version: version.as_ref().and_then(|v| v.protocol.clone()),
        qt_version: version.as_ref().and_then(|v| v.qt.clone()),
        ssl_library: version.as_ref().and_then(|v| v.ssl.clone()),
        web_admin: version.as_ref().and_then(|v| v.web_admin),
        libsodium: version.as_ref().and_then(|v| v.libsodium),
        gui_build,
        websocket,
        systemd_support,
        probed_as: ran_as,
        error,
        probe_note: note,
    }
}

pub async fn detect(ctx: &Ctx, units: &UnitFiles) -> DrawpileFacts {
    let found = candidates(ctx, units);
    if found.is_empty() {
        ctx.probes.skipped(
            "drawpile-srv",
            "no drawpile-srv binary found on this machine",
        );
    }
    let probes = found.into_iter().map(|c| probe(ctx, c));
    DrawpileFacts {
        binaries: futures_util::future::join_all(probes).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V230: &str = "drawpile-srv 2.3.0\nProtocol version: 25.1\nQt version: 5.15.8 (compiled against 5.15.8)\nSSL library version: OpenSSL 3.0.19 27 Jan 2026 (805306672)\nLibmicrohttpd version: 0.9.75\nLibsodium version: 1.0.18\n";

    #[test]
    fn versions_keep_their_suffix() {
        assert_eq!(split_version("2.3.0"), Some(([2, 3, 0], String::new())));
        assert_eq!(
            split_version("2.3.1-beta.1-12-gabcdef0-dirty"),
            Some(([2, 3, 1], "-beta.1-12-gabcdef0-dirty".into()))
        );
        assert_eq!(
            split_version("2.2.2+mybuild"),
            Some(([2, 2, 2], "+mybuild".into()))
        );
        assert_eq!(split_version("garbage"), None);
        assert_eq!(split_version("2.3"), None);
    }

    #[test]
    fn recorded_version_outputs_parse() {
        let v = parse_version_output(V230).unwrap();
        assert_eq!(v.number, Some([2, 3, 0]));
        assert_eq!(v.protocol.as_deref(), Some("25.1"));
        assert_eq!(v.web_admin, Some(true));
        assert_eq!(v.libsodium, Some(true));
        assert_eq!(v.qt_websockets, None);
        let no_ws = V230.replace("2.3.0", "2.2.2").replace("25.1", "24.0")
            + "QtWebSockets: N/A (not compiled in)\n";
        let v = parse_version_output(&no_ws).unwrap();
        assert_eq!(v.qt_websockets, Some(false));
        let no_admin = V230.replace("0.9.75", "N/A (not compiled in)");
        assert_eq!(
            parse_version_output(&no_admin).unwrap().web_admin,
            Some(false)
        );
        assert_eq!(parse_version_output("\u{fffd}\u{fffd}garbage"), None);
        assert_eq!(parse_version_output(""), None);
    }

    fn v(s: &str) -> VersionInfo {
        parse_version_output(&format!("drawpile-srv {s}\n")).unwrap()
    }

    #[test]
    fn websocket_decision_follows_the_documented_order() {
        let help_yes = HelpInfo {
            lists_websocket_port: true,
            ..Default::default()
        };
        let help_absent = HelpInfo::default();
        // 2.3.0 wins over anything --help says.
        assert_eq!(
            decide_websocket(Some(&v("2.3.0")), Some(&help_absent)).supported,
            Some(true)
        );
        assert_eq!(
            decide_websocket(Some(&v("2.2.0")), Some(&help_yes)).supported,
            Some(false)
        );
        let mut with_line = v("2.2.2");
        with_line.qt_websockets = Some(false);
        assert_eq!(
            decide_websocket(Some(&with_line), Some(&help_yes)).supported,
            Some(false)
        );
        assert_eq!(
            decide_websocket(Some(&v("2.2.1")), Some(&help_yes)).supported,
            Some(true)
        );
        assert_eq!(
            decide_websocket(Some(&v("2.2.1")), Some(&help_absent)).supported,
            Some(false)
        );
        assert_eq!(decide_websocket(None, None).supported, None);
    }

    #[test]
    fn wrapped_not_compiled_in_suffix_is_found() {
        let help = "Usage: x [options]\nStandalone server for Drawpile\n\nOptions:\n  --websocket-port <port>                  WebSocket listening port (0 to\n                                           disable) [QtWebSockets not compiled\n                                           in, this option is unavailable]\n";
        let h = parse_help_output(help).unwrap();
        assert!(h.lists_websocket_port && h.websockets_not_compiled_in);
        let d = decide_websocket(Some(&v("2.2.2")), Some(&h));
        assert_eq!(d.supported, Some(false));
    }
}
