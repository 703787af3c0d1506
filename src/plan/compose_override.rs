//! drawpile-srv's changes in a Compose project, written where the project's README says
//! customisations belong: the override file (`docker-compose.override.yaml`, or
//! `compose.override.yaml` beside a `compose.yaml`), created or edited with every other byte
//! kept, never the project's own file (`git pull` must keep working). One path for every
//! kind of web server in front: only how the WebSocket port is published differs. Pure.

use super::make::{PlanError, Snapshot};
use super::service::with_websocket;
use super::{Change, FileMode};
use crate::detect::compose::parse_compose_port;
use crate::detect::docker::{ComposeService, PublishedPort};
use crate::plan::compose_front::Target;

/// How the WebSocket port is published on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Not at all: a container of the project proxies to it over the compose network.
    Nowhere,
    /// On 127.0.0.1 (`127.0.0.1:PORT:PORT`): a web server on the host proxies to it.
    Loopback,
}

/// The override file's change, if any, and what the plan must tell the admin.
pub struct OverrideEdit {
    pub change: Option<Change>,
    pub notes: Vec<String>,
    /// Every file Compose reads for the project once the change is made (`-f`, in order).
    pub files: Vec<String>,
}

/// Where `path` is read and written: its real path when the project directory was reached
/// through a symlink (apply never writes through one), else itself.
pub fn real<'a>(snap: &'a Snapshot, path: &'a str) -> &'a str {
    snap.real_paths
        .get(path)
        .map(String::as_str)
        .unwrap_or(path)
}

/// The files Compose reads for the project today (the main file when detection knew no
/// list).
pub fn main_files(target: &Target) -> Vec<String> {
    if target.file.config_files.is_empty() {
        vec![target.file.path.clone()]
    } else {
        target.file.config_files.clone()
    }
}

/// `command:` of `service` as written in the last config file that sets it (`${VAR}` words
/// kept), as argv. None when no file sets it.
fn written_command(
    snap: &Snapshot,
    files: &[String],
    service: &str,
) -> Result<Option<Vec<String>>, PlanError> {
    for f in files.iter().rev() {
        let Some(bytes) = snap.get(real(snap, f)) else {
            continue;
        };
        let text = String::from_utf8_lossy(bytes);
        let Some(raw) = crate::formats::compose::key_value_text(&text, service, "command") else {
            continue;
        };
        let value: yaml_serde::Value = yaml_serde::from_str(&raw)
            .map_err(|e| PlanError::Conflict(format!("{f}: service {service}: command: {e}")))?;
        return Ok(match value {
            yaml_serde::Value::String(s) => Some(crate::detect::compose::split_command(&s)),
            yaml_serde::Value::Sequence(items) => Some(
                items
                    .iter()
                    .map(|i| match i {
                        yaml_serde::Value::String(s) => Some(s.clone()),
                        yaml_serde::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        PlanError::Conflict(format!(
                            "{f}: service {service}: command: is not a list of words"
                        ))
                    })?,
            ),
            yaml_serde::Value::Null => None,
            _ => {
                return Err(PlanError::Conflict(format!(
                    "{f}: service {service}: command: is neither a string nor a list"
                )));
            }
        });
    }
    Ok(None)
}

/// The ports `service` publishes according to `text` alone (one file, uninterpolated).
fn ports_in(text: &str, service: &str) -> Vec<PublishedPort> {
    crate::formats::compose::key_value_text(text, service, "ports")
        .and_then(|raw| yaml_serde::from_str::<yaml_serde::Value>(&raw).ok())
        .and_then(|v| v.as_sequence().cloned())
        .unwrap_or_default()
        .iter()
        .flat_map(parse_compose_port)
        .collect()
}

fn shown(p: &PublishedPort) -> String {
    let ip = if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &p.host_ip
    };
    format!("{ip}:{}", p.host_port.unwrap_or(0))
}

/// Why `svc`'s image cannot be given a WebSocket listener (older than 2.2.1), and what to run
/// instead; None when it can.
pub fn old_image(svc: &ComposeService) -> Option<String> {
    let img = svc.drawpile.as_ref()?;
    let note = img
        .version
        .as_deref()
        .and_then(crate::detect::docker::version_note)?;
    Some(format!(
        "compose service {} runs {} ({}): {note}; change its image to \
         drawpile/drawpile-srv:2.3 (dpserver: DP_VERSION in .env)",
        svc.name, img.image, img.recognised_by
    ))
}

/// A service whose image is too old for WebSockets is refused, as a binary without them is:
/// an option the server does not know would only stop it from starting.
pub fn refuse_old_image(svc: &ComposeService) -> Result<(), PlanError> {
    match old_image(svc) {
        Some(why) => Err(PlanError::Conflict(format!(
            "{why}, then run dpwizard again; nothing was changed"
        ))),
        None => Ok(()),
    }
}

/// The override change that gives the service `--websocket-port ws_port` (its whole command,
/// as Compose replaces it) and publishes that port as `publish` says. `front` names the web
/// server in front for the notes ("the nginx container", "the web server on the host").
pub fn edit(
    snap: &Snapshot,
    target: &Target,
    ws_port: u16,
    publish: Publish,
    front: &str,
) -> Result<OverrideEdit, PlanError> {
    let svc = target.service;
    refuse_old_image(svc)?;
    let main_files = main_files(target);
    let override_path = target
        .file
        .override_path()
        .map_err(|e| PlanError::Unsupported(format!("{}: {e}", target.file.path)))?;
    let write_path = real(snap, &override_path).to_string();
    let conflict = |e: String| PlanError::Conflict(format!("{override_path}: {e}"));
    let old_override = snap.get(&write_path);
    let old_text = old_override
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let mut new_text = if old_override.is_some() {
        old_text.clone()
    } else {
        "# Customisations of this Compose project (its README: they survive `git pull`); \
         written by dpwizard.\n"
            .to_string()
    };
    let mut why = Vec::new();
    let mut notes = Vec::new();
    if !target.file.undefined_variables.is_empty() {
        notes.push(format!(
            "{} uses {} without a value (Compose substitutes an empty string, so does \
             dpwizard's reading of it): set {} in {}",
            target.file.path,
            target.file.undefined_variables.join(", "),
            if target.file.undefined_variables.len() == 1 {
                "it"
            } else {
                "them"
            },
            target.file.env_file.clone().unwrap_or_else(|| format!(
                "{}/.env",
                target.file.project_dir.trim_end_matches('/')
            ))
        ));
    }

    // On the host's network (`network_mode: host`) nothing is published: the container
    // listens on the host's own addresses, so the listener keeps to its loopback instead.
    let host_network = svc.network_mode.as_deref() == Some("host");
    let listen = (host_network && publish == Publish::Loopback).then_some("127.0.0.1");

    // The command.
    let has_port = svc.options.websocket_port_number() == Some(ws_port)
        && svc.options.websocket_listen.as_deref() == listen;
    if !has_port {
        let written =
            written_command(snap, &main_files, &svc.name)?.unwrap_or_else(|| svc.command.clone());
        let argv: Vec<String> = with_websocket(
            &std::iter::once(String::new())
                .chain(written)
                .collect::<Vec<_>>(),
            ws_port,
            listen,
        )
        .into_iter()
        .skip(1)
        .collect();
        new_text =
            crate::formats::compose::set_command(&new_text, &svc.name, &argv).map_err(conflict)?;
        why.push(match listen {
            Some(l) => format!(
                "service {}: --websocket-port {ws_port} --websocket-listen {l} (it shares the \
                 host's network, so its loopback is the host's; its command is given whole, \
                 as Compose replaces it)",
                svc.name
            ),
            None => format!(
                "service {}: --websocket-port {ws_port} (never --websocket-listen inside a \
                 container; its command is given whole, as Compose replaces it)",
                svc.name
            ),
        });
    }

    // The port. The override can add to the project's own `ports:` but not take an entry
    // away (Compose merges the lists), so entries of the project's own files are reported.
    let in_override = ports_in(&old_text, &svc.name);
    let published: Vec<&PublishedPort> = svc
        .ports
        .iter()
        .filter(|p| p.container_port == ws_port && p.host_port.is_some())
        .collect();
    let (ours, fixed): (Vec<&PublishedPort>, Vec<&PublishedPort>) = published
        .iter()
        .partition(|p| in_override.iter().any(|o| o == **p));
    let main_names = || {
        main_files
            .iter()
            .filter(|f| **f != override_path)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let public_fixed: Vec<String> = fixed
        .iter()
        .filter(|p| publish == Publish::Nowhere || p.is_public())
        .map(|p| shown(p))
        .collect();
    if !public_fixed.is_empty() {
        notes.push(format!(
            "service {} publishes its WebSocket port {ws_port} on the host ({}), past the TLS \
             and Origin check of {front}; dpwizard does not edit {} (the project's own file): remove \
             that ports: line there",
            svc.name,
            public_fixed.join(", "),
            main_names()
        ));
    }
    let before = new_text.clone();
    match publish {
        Publish::Nowhere => {
            if !ours.is_empty() {
                new_text = crate::formats::compose::remove_port(&new_text, &svc.name, ws_port)
                    .map_err(conflict)?;
            }
            if new_text != before {
                why.push(format!(
                    "the WebSocket port {ws_port} is no longer published on the host (as {}): \
                     only {front} reaches it, over the compose network",
                    ours.iter().map(|p| shown(p)).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        // Docker ignores ports: with the host's network.
        Publish::Loopback if host_network => {}
        Publish::Loopback => {
            let served = |p: &&PublishedPort| {
                p.host_port == Some(ws_port) && (p.is_public() || p.host_ip == "127.0.0.1")
            };
            if fixed.iter().any(served) {
                // The project's own file already lets the proxy reach 127.0.0.1:PORT (a
                // second mapping of that host port would clash): the override's go.
                if ours.iter().any(|p| p.is_public()) {
                    new_text = crate::formats::compose::remove_port(&new_text, &svc.name, ws_port)
                        .map_err(conflict)?;
                }
            } else {
                new_text = crate::formats::compose::set_port(
                    &new_text,
                    &svc.name,
                    ws_port,
                    &format!("127.0.0.1:{ws_port}:{ws_port}"),
                )
                .map_err(conflict)?;
            }
            if new_text != before {
                why.push(format!(
                    "the WebSocket port {ws_port} published on 127.0.0.1 only, for {front}{}",
                    if ours.iter().any(|p| p.is_public()) {
                        " (no longer on every address)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }

    let change =
        (!why.is_empty() && old_override != Some(new_text.as_bytes())).then(|| Change::Write {
            path: write_path,
            old: old_override.map(<[u8]>::to_vec),
            new: new_text.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "{}; in the override file, so the project's own files stay as `git pull` \
                 brings them",
                why.join("; ")
            ),
        });
    // A missing file given with -f is an error: the override only once it exists.
    let mut files = main_files;
    if !files.contains(&override_path) && (old_override.is_some() || change.is_some()) {
        files.push(override_path);
    }
    Ok(OverrideEdit {
        change,
        notes,
        files,
    })
}

/// For a web server on the host in front of the Compose service: the override change (the
/// port on 127.0.0.1), and only that service re-created, with every file Compose reads.
pub fn host_front(
    plan: &mut super::Plan,
    snap: &Snapshot,
    target: &Target,
    ws_port: u16,
) -> Result<(), PlanError> {
    let over = edit(
        snap,
        target,
        ws_port,
        Publish::Loopback,
        "the web server on the host",
    )?;
    plan.notes.extend(over.notes);
    if let Some(change) = over.change {
        plan.changes.push(change);
        let svc = &target.service.name;
        plan.actions.push(super::Action {
            argv: super::compose_front::compose_argv(target, &over.files, &["up", "-d", svc]),
            why: format!(
                "re-creates service {svc} with its new command and ports (only this service)"
            ),
        });
    }
    Ok(())
}
