//! systemd units of drawpile-srv: unit files and drop-ins merged as systemd merges them,
//! the effective ExecStart= parsed into drawpile options, socket units and their slots,
//! enablement from the wants/ links, and (when systemd runs) the live state from
//! `systemctl show`, compared with the files (a pending daemon-reload shows up).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;
use super::args::DrawpileArgs;
use crate::formats::systemd_unit::{UnitFile, split_exec};

/// Unit search directories, highest priority first (systemd.unit(5)).
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Directories admins put their own units in; only these are scanned for AppImage units.
const LOCAL_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
];

/// The unit files found on disk, before any command runs.
#[derive(Debug, Clone, Default)]
pub struct UnitFiles {
    pub services: Vec<ServiceUnit>,
    pub sockets: Vec<SocketUnit>,
}

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ServiceUnit {
    /// Unit name, e.g. `drawpile-srv.service`.
    pub name: String,
    /// The unit file's path on the target machine (the fragment).
    pub path: String,
    /// The unit is masked (linked to /dev/null).
    pub masked: bool,
    /// Drop-in files applied, in the order systemd applies them.
    pub dropins: Vec<String>,
    /// The effective ExecStart= argv after merging drop-ins (program first).
    pub exec_start: Option<Vec<String>>,
    /// The file and line of the ExecStart= that took effect.
    pub exec_start_origin: Option<Origin>,
    /// How many ExecStart= commands remain after merging (more than one is an error
    /// for any Type= but oneshot).
    pub exec_start_count: usize,
    /// ExecStart= prefixes such as `-` or `!`.
    pub exec_start_prefixes: String,
    /// The words of `exec_start` as written in the unit (specifiers such as `%i` kept).
    #[serde(skip)]
    #[schemars(skip)]
    pub exec_start_raw: Vec<String>,
    /// drawpile-srv options read from the effective ExecStart=.
    pub options: DrawpileArgs,
    /// `Type=` (systemd's default is `simple`).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// `User=`; absent means root, which drawpile-srv refuses.
    pub user: Option<String>,
    pub group: Option<String>,
    pub dynamic_user: Option<bool>,
    /// Names of the variables set with Environment= (values may be secrets).
    pub environment: Vec<String>,
    pub restart: Option<String>,
    pub watchdog_sec: Option<String>,
    pub notify_access: Option<String>,
    /// `WantedBy=` from [Install].
    pub wanted_by: Vec<String>,
    /// `Also=` from [Install] (2.2.x: enabling the service enabled the socket too).
    pub also: Vec<String>,
    /// Enabled: a link to it exists in some `*.wants/` or `*.requires/` directory.
    pub enabled: bool,
    /// The directories that enable it, e.g. `multi-user.target.wants`.
    pub enabled_via: Vec<String>,
    /// ExecStart runs an AppImage (`--server`): a GUI build without systemd notify support.
    pub appimage: bool,
    /// The state systemd reports, when systemd runs.
    pub live: Option<LiveState>,
    /// Problems reading or merging the files, with file:line.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct SocketUnit {
    pub name: String,
    pub path: String,
    pub masked: bool,
    pub dropins: Vec<String>,
    /// `ListenStream=` entries in order (after resets by an empty assignment).
    pub listen_stream: Vec<String>,
    /// The entries mapped to drawpile's slots: TCP, web admin, WebSocket.
    pub slots: SocketSlots,
    /// `Accept=` (drawpile needs `no`).
    pub accept: Option<bool>,
    /// The service it activates (`Service=`, else the same name).
    pub service: String,
    pub enabled: bool,
    pub enabled_via: Vec<String>,
    pub live: Option<LiveState>,
    /// What is wrong with the slot layout (two entries, more than three …).
    pub notes: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct SocketSlots {
    pub tcp: Option<String>,
    pub web_admin: Option<String>,
    pub websocket: Option<String>,
}

/// What `systemctl show` reports.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct LiveState {
    pub active_state: Option<String>,
    pub sub_state: Option<String>,
    pub unit_file_state: Option<String>,
    pub main_pid: Option<u32>,
    /// The ExecStart argv systemd has loaded.
    pub exec_start: Option<Vec<String>>,
    /// The files say something else than what systemd has loaded: a daemon-reload is due.
    pub differs_from_files: bool,
    /// How the unit last ended (`success`, `resources` for a socket that got POLLHUP, …).
    #[serde(default)]
    pub result: Option<String>,
    /// What the service last told systemd (drawpile-srv: `3 users and 1 sessions`).
    #[serde(default)]
    pub status_text: Option<String>,
    /// How often systemd restarted the service since it was started by hand.
    #[serde(default)]
    pub n_restarts: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct SystemdFacts {
    pub services: Vec<ServiceUnit>,
    pub sockets: Vec<SocketUnit>,
}

/// A unit file to read: the fragment path (target) and any notes.
struct Fragment {
    path: PathBuf,
    masked: bool,
}

/// Finds the fragment of `name`: the first search directory that has it.
fn find_fragment(ctx: &Ctx, name: &str) -> Option<Fragment> {
    let host = &ctx.host;
    for dir in UNIT_DIRS {
        let p = Path::new(dir).join(name);
        if host.symlink_metadata(&p).is_err() {
            continue;
        }
        // `systemctl mask` links the unit to /dev/null (which a fake root may not have).
        let masked = host
            .read_link(&p)
            .is_ok_and(|t| t == Path::new("/dev/null"))
            || host
                .canonical(&p)
                .is_ok_and(|t| t == Path::new("/dev/null"));
        return Some(Fragment { path: p, masked });
    }
    None
}

/// Drop-in files for `name`, as systemd orders them: by file name, a name in a higher
/// priority directory hiding the same name lower down; type-level (`service.d`) and
/// prefix (`drawpile-.service.d`) directories included.
fn dropins(ctx: &Ctx, name: &str) -> Vec<PathBuf> {
    let mut dirs = vec![format!("{name}.d")];
    if let Some((stem, suffix)) = name.rsplit_once('.') {
        let mut parts: Vec<&str> = stem.split('-').collect();
        while parts.len() > 1 {
            parts.pop();
            dirs.push(format!("{}-.{suffix}.d", parts.join("-")));
        }
        dirs.push(format!("{suffix}.d"));
    }
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for base in UNIT_DIRS {
        for d in &dirs {
            let dir = Path::new(base).join(d);
            for f in ctx.host.list_dir(&dir).unwrap_or_default() {
                if f.ends_with(".conf") {
                    by_name.entry(f.clone()).or_insert_with(|| dir.join(&f));
                }
            }
        }
    }
    by_name
        .into_values()
        .filter(|p| {
            !ctx.host
                .read_link(p)
                .is_ok_and(|t| t == Path::new("/dev/null"))
        })
        .collect()
}

/// `Key=value` assignments of one section over the fragment and drop-ins, in order.
struct Merged {
    /// (key, value, file, line)
    items: Vec<(String, String, String, usize)>,
    errors: Vec<String>,
}

fn read_merged(ctx: &Ctx, files: &[PathBuf], section: &str) -> Merged {
    let mut m = Merged {
        items: Vec::new(),
        errors: Vec::new(),
    };
    for f in files {
        match ctx.host.read_to_string(f) {
            Ok(text) => {
                let unit = UnitFile::parse(&text);
                for l in &unit.lines {
                    if let crate::formats::systemd_unit::Item::Invalid(t) = &l.item {
                        m.errors.push(format!(
                            "{}:{}: not a Key=Value line, systemd ignores it: {t:?}",
                            f.display(),
                            l.line
                        ));
                    }
                }
                for (k, v, line) in unit.assignments(section) {
                    m.items
                        .push((k.to_string(), v.to_string(), f.display().to_string(), line));
                }
            }
            Err(e) => m.errors.push(format!("{}: {e}", f.display())),
        }
    }
    m
}

impl Merged {
    /// The last value of a single-valued key; an empty assignment resets it.
    fn last(&self, key: &str) -> Option<String> {
        let mut v = None;
        for (k, val, _, _) in &self.items {
            if k == key {
                v = (!val.is_empty()).then(|| val.clone());
            }
        }
        v
    }

    /// A list-valued key: values split on whitespace accumulate, empty resets.
    fn list(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (k, val, _, _) in &self.items {
            if k == key {
                if val.is_empty() {
                    out.clear();
                } else {
                    out.extend(val.split_whitespace().map(String::from));
                }
            }
        }
        out
    }

    /// Assignments of a key that accumulate one entry per line, with resets.
    fn entries(&self, key: &str) -> Vec<(String, String, usize)> {
        let mut out = Vec::new();
        for (k, val, file, line) in &self.items {
            if k == key {
                if val.is_empty() {
                    out.clear();
                } else {
                    out.push((val.clone(), file.clone(), *line));
                }
            }
        }
        out
    }
}

/// Where the unit is enabled: links named `name` in `*.wants/` and `*.requires/` dirs.
fn enabled_via(ctx: &Ctx, name: &str) -> Vec<String> {
    let mut via = Vec::new();
    for base in ["/etc/systemd/system", "/usr/local/lib/systemd/system"] {
        for entry in ctx.host.list_dir(base).unwrap_or_default() {
            if !(entry.ends_with(".wants") || entry.ends_with(".requires")) {
                continue;
            }
            let link = Path::new(base).join(&entry).join(name);
            if ctx.host.symlink_metadata(&link).is_ok() {
                via.push(entry);
            }
        }
    }
    via
}

fn read_service(ctx: &Ctx, name: &str, frag: Fragment) -> ServiceUnit {
    let mut u = ServiceUnit {
        name: name.to_string(),
        path: frag.path.display().to_string(),
        masked: frag.masked,
        ..Default::default()
    };
    if frag.masked {
        return u;
    }
    // A drop-in "directory" that is a file: systemd ignores it, and no drop-in can go there.
    for base in ["/etc/systemd/system", "/run/systemd/system"] {
        let dir = format!("{base}/{name}.d");
        if let Ok(meta) = ctx.host.metadata(&dir)
            && !meta.is_dir()
        {
            let what =
                crate::host::confined::not_regular(meta.file_type()).unwrap_or("a regular file");
            u.errors.push(format!(
                "{dir} is {what}, not a directory: systemd reads no drop-ins from it"
            ));
        }
    }
    let drop = dropins(ctx, name);
    u.dropins = drop.iter().map(|p| p.display().to_string()).collect();
    let mut files = vec![frag.path.clone()];
    files.extend(drop);
    let service = read_merged(ctx, &files, "Service");
    let install = read_merged(ctx, &files, "Install");
    u.errors.extend(service.errors.iter().cloned());

    let execs = service.entries("ExecStart");
    u.exec_start_count = execs.len();
    if let Some((value, file, line)) = execs.last() {
        u.exec_start_origin = Some(Origin {
            file: file.clone(),
            line: *line,
        });
        match split_exec(value) {
            Ok(cmd) => {
                u.exec_start_prefixes = cmd.prefixes.clone();
                let mut argv = cmd.argv.clone();
                if !argv.is_empty() {
                    argv[0] = cmd.program.clone();
                }
                u.appimage = cmd.program.to_ascii_lowercase().ends_with(".appimage")
                    && argv.iter().any(|a| a == "--server");
                u.options = DrawpileArgs::parse(&argv[1.min(argv.len())..]);
                u.exec_start = Some(argv);
                u.exec_start_raw = cmd.raw.clone();
            }
            Err(e) => u
                .errors
                .push(format!("{file}:{line}: ExecStart= cannot be read: {e}")),
        }
    }
    u.type_ = service.last("Type");
    if u.exec_start_count > 1 && u.type_.as_deref() != Some("oneshot") {
        u.errors.push(format!(
            "{} ExecStart= commands after merging drop-ins: systemd refuses this for \
             Type={} (a drop-in must reset with an empty ExecStart= first)",
            u.exec_start_count,
            u.type_.as_deref().unwrap_or("simple")
        ));
    }
    u.user = service.last("User");
    u.group = service.last("Group");
    u.dynamic_user = service
        .last("DynamicUser")
        .and_then(|v| crate::formats::systemd_unit::parse_bool(&v));
    u.environment = service
        .list("Environment")
        .iter()
        .filter_map(|kv| {
            kv.trim_matches('"')
                .split_once('=')
                .map(|(k, _)| k.to_string())
        })
        .collect();
    u.restart = service.last("Restart");
    u.watchdog_sec = service.last("WatchdogSec");
    u.notify_access = service.last("NotifyAccess");
    u.wanted_by = install.list("WantedBy");
    u.also = install.list("Also");
    u.enabled_via = enabled_via(ctx, name);
    u.enabled = !u.enabled_via.is_empty();
    u
}

fn read_socket(ctx: &Ctx, name: &str, frag: Fragment) -> SocketUnit {
    let mut s = SocketUnit {
        name: name.to_string(),
        path: frag.path.display().to_string(),
        masked: frag.masked,
        service: name.trim_end_matches(".socket").to_string() + ".service",
        ..Default::default()
    };
    if frag.masked {
        return s;
    }
    let drop = dropins(ctx, name);
    s.dropins = drop.iter().map(|p| p.display().to_string()).collect();
    let mut files = vec![frag.path.clone()];
    files.extend(drop);
    let sock = read_merged(ctx, &files, "Socket");
    s.errors = sock.errors.clone();
    s.listen_stream = sock
        .entries("ListenStream")
        .into_iter()
        .map(|(v, _, _)| v)
        .collect();
    s.accept = sock
        .last("Accept")
        .and_then(|v| crate::formats::systemd_unit::parse_bool(&v));
    if let Some(svc) = sock.last("Service") {
        s.service = svc;
    }
    let mut it = s.listen_stream.iter().cloned();
    s.slots = SocketSlots {
        tcp: it.next(),
        web_admin: it.next(),
        websocket: it.next(),
    };
    match s.listen_stream.len() {
        0 => s.notes.push("no ListenStream=: nothing is passed".into()),
        1 => s
            .notes
            .push("only the TCP slot: no web admin and no WebSocket socket".into()),
        2 => s.notes.push(format!(
            "two ListenStream= entries: drawpile takes sockets in the order TCP, web admin, \
             WebSocket, so {} lands in the web-admin slot (a WebSocket socket there is \
             rejected or ignored)",
            s.listen_stream[1]
        )),
        3 => {}
        n => s.notes.push(format!(
            "{n} ListenStream= entries: drawpile-srv refuses more than 3"
        )),
    }
    if s.accept == Some(true) {
        s.notes
            .push("Accept=yes starts one server per connection: drawpile needs Accept=no".into());
    }
    s.enabled_via = enabled_via(ctx, name);
    s.enabled = !s.enabled_via.is_empty();
    s
}

/// Unit names to read: drawpile* in every search dir, plus AppImage units in local dirs.
fn unit_names(ctx: &Ctx) -> (Vec<String>, Vec<String>) {
    let mut services = Vec::new();
    let mut sockets = Vec::new();
    for dir in UNIT_DIRS {
        for f in ctx.host.list_dir(dir).unwrap_or_default() {
            let lower = f.to_ascii_lowercase();
            if !lower.starts_with("drawpile") {
                continue;
            }
            if f.ends_with(".service") && !services.contains(&f) {
                services.push(f);
            } else if f.ends_with(".socket") && !sockets.contains(&f) {
                sockets.push(f);
            }
        }
    }
    for dir in LOCAL_DIRS {
        for f in ctx.host.list_dir(dir).unwrap_or_default() {
            if !f.ends_with(".service") || services.contains(&f) {
                continue;
            }
            let p = Path::new(dir).join(&f);
            let Ok(text) = ctx.host.read_to_string(&p) else {
                continue;
            };
            let unit = UnitFile::parse(&text);
            let runs_appimage = unit.assignments("Service").any(|(k, v, _)| {
                k == "ExecStart"
                    && v.to_ascii_lowercase().contains(".appimage")
                    && v.contains("--server")
            });
            if runs_appimage {
                services.push(f);
            }
        }
    }
    services.sort();
    sockets.sort();
    (services, sockets)
}

/// Reads every drawpile unit from disk (no commands).
pub fn read_units(ctx: &Ctx) -> UnitFiles {
    let (services, sockets) = unit_names(ctx);
    UnitFiles {
        services: services
            .iter()
            .filter_map(|n| find_fragment(ctx, n).map(|f| read_service(ctx, n, f)))
            .collect(),
        sockets: sockets
            .iter()
            .filter_map(|n| find_fragment(ctx, n).map(|f| read_socket(ctx, n, f)))
            .collect(),
    }
}

/// Parses `systemctl show` output (`Key=Value` lines).
pub fn parse_show(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses the argv of the first command in `ExecStart={ path=… ; argv[]=… ; … }`.
pub fn parse_show_exec(value: &str) -> Option<Vec<String>> {
    let start = value.find("argv[]=")? + "argv[]=".len();
    let rest = &value[start..];
    let end = rest.find(" ;").unwrap_or(rest.len());
    let argv: Vec<String> = rest[..end].split_whitespace().map(String::from).collect();
    (!argv.is_empty()).then_some(argv)
}

fn live_from_show(map: &BTreeMap<String, String>) -> LiveState {
    let get = |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned();
    LiveState {
        active_state: get("ActiveState"),
        sub_state: get("SubState"),
        unit_file_state: get("UnitFileState"),
        main_pid: get("MainPID")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p != 0),
        exec_start: get("ExecStart").and_then(|v| parse_show_exec(&v)),
        differs_from_files: false,
        result: get("Result"),
        status_text: get("StatusText"),
        n_restarts: get("NRestarts").and_then(|n| n.parse().ok()),
    }
}

async fn show(ctx: &Ctx, name: &str) -> Option<LiveState> {
    let systemctl = ctx.host.which("systemctl")?;
    let cmd = ctx.host.command(systemctl).args([
        "show",
        name,
        "--no-pager",
        "-p",
        "Id,ActiveState,SubState,UnitFileState,FragmentPath,DropInPaths,ExecStart,Type,User,MainPID,NRestarts,Result,StatusText",
    ]);
    let out = ctx.host.run(cmd).await;
    ctx.probes
        .command(format!("systemctl show {name}"), &out, &[0]);
    out.success()
        .then(|| live_from_show(&parse_show(&out.stdout_str())))
}

/// Adds the live state when systemd runs on the live machine.
pub async fn detect(ctx: &Ctx, files: UnitFiles, systemd_running: bool) -> SystemdFacts {
    let UnitFiles {
        mut services,
        mut sockets,
    } = files;
    if !(systemd_running && ctx.host.is_live()) {
        if !services.is_empty() || !sockets.is_empty() {
            ctx.probes.skipped(
                "systemctl show",
                if ctx.host.is_live() {
                    "systemd is not running (no /run/systemd/system)"
                } else {
                    "another root than /: the host's systemd knows nothing of it"
                },
            );
        }
        return SystemdFacts { services, sockets };
    }
    let svc_states =
        futures_util::future::join_all(services.iter().map(|s| show(ctx, &s.name))).await;
    for (s, live) in services.iter_mut().zip(svc_states) {
        s.live = live.map(|mut l| {
            l.differs_from_files = l.exec_start.is_some() && l.exec_start != s.exec_start;
            l
        });
    }
    let sock_states =
        futures_util::future::join_all(sockets.iter().map(|s| show(ctx, &s.name))).await;
    for (s, live) in sockets.iter_mut().zip(sock_states) {
        s.live = live;
    }
    SystemdFacts { services, sockets }
}

/// The port of a `ListenStream=` value (`27750`, `127.0.0.1:27751`, `[::]:27750`).
pub fn listen_port(v: &str) -> Option<u16> {
    v.rsplit(':').next().and_then(|p| p.trim().parse().ok())
}

/// The address of a `ListenStream=` value, if it names one (not a wildcard).
pub fn listen_addr(v: &str) -> Option<String> {
    let (addr, _) = v.rsplit_once(':')?;
    let addr = addr.trim_matches(['[', ']']);
    (!addr.is_empty() && addr != "0.0.0.0" && addr != "::").then(|| addr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemctl_show_exec_start_is_parsed() {
        // Format of systemd 252's `systemctl show -p ExecStart`.
        let v = "{ path=/usr/local/bin/drawpile-srv ; argv[]=/usr/local/bin/drawpile-srv --websocket-port 27751 --websocket-listen 127.0.0.1 ; ignore_errors=no ; start_time=[Tue 2026-11-24 13:00:00 UTC] ; stop_time=[n/a] ; pid=42 ; code=(null) ; status=0/0 }";
        assert_eq!(
            parse_show_exec(v).unwrap(),
            vec![
                "/usr/local/bin/drawpile-srv",
                "--websocket-port",
                "27751",
                "--websocket-listen",
                "127.0.0.1"
            ]
        );
        let map = parse_show(
            "ActiveState=active\nSubState=running\nMainPID=42\nExecStart="
                .to_string()
                .as_str(),
        );
        let live = live_from_show(&map);
        assert_eq!(live.active_state.as_deref(), Some("active"));
        assert_eq!(live.main_pid, Some(42));
        assert_eq!(live.exec_start, None);
    }
}
