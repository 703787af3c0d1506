//! Editing one service of a compose file as text, keeping every other byte (comments,
//! ordering, quoting): its `command:` is edited inside a multi-line string (dpserver writes
//! one option a line in a plain or folded scalar: unchanged lines stay as they are, `${VAR}`
//! words included) or replaced by a flow list otherwise, and a port mapping is added to (or
//! replaced in) its `ports:` block list. Only block-style services are edited; anything else
//! is refused with the reason, never rewritten.

/// A line range `[start, end)` of the file (0-based line indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    start: usize,
    end: usize,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The lines of `service` under `services:` (its key line first).
fn service_block(lines: &[&str], service: &str) -> Option<(Block, usize)> {
    let services = lines.iter().position(|l| l.trim_end() == "services:")?;
    let mut i = services + 1;
    while i < lines.len() {
        let l = lines[i];
        if is_content(l) && indent_of(l) == 0 {
            return None; // left the services mapping
        }
        let t = l.trim();
        let key = t.trim_end_matches(':').trim_matches(['"', '\'']);
        if is_content(l) && t.ends_with(':') && key == service {
            let own = indent_of(l);
            let mut end = i + 1;
            while end < lines.len() && (!is_content(lines[end]) || indent_of(lines[end]) > own) {
                end += 1;
            }
            // Trailing blank or comment lines belong to what follows.
            while end > i + 1 && !is_content(lines[end - 1]) {
                end -= 1;
            }
            let child = lines[i + 1..end]
                .iter()
                .find(|l| is_content(l))
                .map(|l| indent_of(l))
                .unwrap_or(own + 2);
            return Some((Block { start: i, end }, child));
        }
        i += 1;
    }
    None
}

/// Whether `service` is written in a form other than a block under `services:` (`name: *x`,
/// `name: {…}`): adding a block of the same name would make a duplicate key.
fn written_otherwise(bare: &[&str], service: &str) -> bool {
    bare.iter().any(|l| {
        let t = l.trim_start();
        indent_of(l) > 0
            && [
                service.to_string(),
                format!("\"{service}\""),
                format!("'{service}'"),
            ]
            .iter()
            .any(|k| {
                t.strip_prefix(k.as_str())
                    .is_some_and(|r| r.starts_with(": "))
            })
    })
}

/// The lines of `key:` inside the service (the key line and its nested value lines).
fn key_block(lines: &[&str], svc: Block, child: usize, key: &str) -> Option<Block> {
    let start = (svc.start + 1..svc.end).find(|&i| {
        let l = lines[i];
        indent_of(l) == child && l.trim_start().starts_with(&format!("{key}:"))
    })?;
    let mut end = start + 1;
    while end < svc.end
        && (!is_content(lines[end])
            || indent_of(lines[end]) > child
            || (indent_of(lines[end]) == child && lines[end].trim_start().starts_with("- ")))
    {
        end += 1;
    }
    while end > start + 1 && !is_content(lines[end - 1]) {
        end -= 1;
    }
    Some(Block { start, end })
}

/// The container port of a short-syntax `ports:` item line (`- "127.0.0.1:1:2/tcp"` → 2).
fn item_container_port(line: &str) -> Option<u16> {
    let v = line.trim_start().trim_start_matches("- ");
    let v = v
        .split(" #")
        .next()
        .unwrap_or(v)
        .trim()
        .trim_matches(['"', '\'']);
    let v = v.split('/').next().unwrap_or(v);
    v.rsplit(':').next().and_then(|p| p.parse::<u16>().ok())
}

/// The text of `key:`'s value in `service`'s block: the rest of the key's line, then its
/// nested lines (for detect, which reports how `command:` is written).
pub fn key_value_text(text: &str, service: &str, key: &str) -> Option<String> {
    let bare: Vec<&str> = text.lines().collect();
    let (svc, child) = service_block(&bare, service)?;
    let b = key_block(&bare, svc, child, key)?;
    let first = bare[b.start].trim_start()[key.len() + 1..].to_string();
    Some(
        std::iter::once(first)
            .chain(bare[b.start + 1..b.end].iter().map(|l| l.to_string()))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// YAML double-quoted scalar (the arguments come from validated values or the file itself).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A word written as is in a plain multi-line scalar (no quoting, nothing YAML or the
/// shell-like split would read differently). `${VAR}` words are fine: the command is written
/// for Compose to interpolate, as the project's own file writes it (dpserver's
/// `--local-host ${DOMAIN}`).
fn plain_word(w: &str) -> bool {
    !w.is_empty()
        && !w.starts_with(['{', '}'])
        && !w.contains(|c: char| c.is_whitespace() || "\"'#\\`[],&*!|>%@".contains(c))
        && !w.ends_with(':')
        && !w.contains(": ")
}

/// `argv` as the lines of the multi-line string `command:` in `block` (plain, `>` or `|`,
/// its value starting on the next line): lines whose words are still wanted stay byte for
/// byte (a `${VAR}` word stands for any value, since `argv` is interpolated; a quoted word
/// stays quoted), lines of removed words go, new words are added one option a line at the
/// same indentation. None when the command is not written that way, or a new word could not
/// be written plain (the caller writes a flow list).
fn edit_command_string(
    bare: &[&str],
    block: Block,
    child: usize,
    argv: &[String],
) -> Option<Vec<String>> {
    let key_line = bare[block.start];
    let rest = key_line.trim_start()["command:".len()..].trim();
    let indicator = rest.split('#').next().unwrap_or("").trim();
    if !(indicator.is_empty() || indicator.starts_with('>') || indicator.starts_with('|')) {
        return None;
    }
    let value: Vec<usize> = (block.start + 1..block.end)
        .filter(|&i| is_content(bare[i]))
        .collect();
    let first = *value.first()?;
    if bare[first].trim_start().starts_with("- ") || indent_of(bare[first]) <= child {
        return None; // a block list
    }
    let pad = " ".repeat(indent_of(bare[first]));
    let same = |raw: &str, want: &str| raw == want || raw.contains('$');
    let matches_at = |words: &[String], at: usize| {
        argv.len() >= at + words.len()
            && words
                .iter()
                .zip(&argv[at..at + words.len()])
                .all(|(w, a)| same(w, a))
    };
    // New words only: lines already there stay as written (quoted words included).
    let group = |words: &[String]| -> Option<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for w in words {
            if !plain_word(w) {
                return None;
            }
            match out.last_mut() {
                Some(l) if !w.starts_with('-') => {
                    l.push(' ');
                    l.push_str(w);
                }
                _ => out.push(w.clone()),
            }
        }
        Some(out.into_iter().map(|l| format!("{pad}{l}\n")).collect())
    };
    let mut out = vec![format!("{key_line}\n")];
    let mut j = 0;
    for &line in &bare[block.start + 1..block.end] {
        if !is_content(line) {
            out.push(format!("{line}\n"));
            continue;
        }
        let words = crate::detect::docker::split_command(line);
        if matches_at(&words, j) {
            out.push(format!("{line}\n"));
            j += words.len();
        } else if let Some(k) = (j + 1..argv.len()).find(|&k| matches_at(&words, k)) {
            out.extend(group(&argv[j..k])?);
            out.push(format!("{line}\n"));
            j = k + words.len();
        }
        // else: the line's words are no longer wanted.
    }
    out.extend(group(&argv[j..])?);
    (out.len() > 1).then_some(out)
}

/// The line range and new lines that make `port_mapping` (e.g. `127.0.0.1:27751:27751`)
/// published by the service at `svc`, replacing a short-syntax entry for the same container
/// port; None when it already is. A `ports:` that is not a short-syntax block list is refused.
fn port_edit(
    bare: &[&str],
    svc: Block,
    child: usize,
    container_port: u16,
    port_mapping: &str,
) -> Result<Option<(Block, Vec<String>)>, String> {
    let pad = " ".repeat(child);
    let item = |ind: &str| format!("{ind}- {}\n", quote(port_mapping));
    let Some(p) = key_block(bare, svc, child, "ports") else {
        let at = svc.end;
        return Ok(Some((
            Block { start: at, end: at },
            vec![format!("{pad}ports:\n"), item(&format!("{pad}  "))],
        )));
    };
    if bare[p.start].trim_end().len() > child + "ports:".len() {
        return Err("ports: is not a block list; edit it by hand".into());
    }
    let items: Vec<usize> = (p.start + 1..p.end)
        .filter(|&i| is_content(bare[i]))
        .collect();
    if items
        .iter()
        .any(|&i| !bare[i].trim_start().starts_with("- "))
    {
        return Err("ports: uses the long syntax; edit it by hand".into());
    }
    let ind = items
        .first()
        .map(|&i| " ".repeat(indent_of(bare[i])))
        .unwrap_or_else(|| format!("{pad}  "));
    let same_port = items
        .iter()
        .copied()
        .find(|&i| item_container_port(bare[i]) == Some(container_port));
    Ok(match same_port {
        Some(i)
            if bare[i]
                .trim_start()
                .trim_start_matches("- ")
                .trim()
                .trim_matches(['"', '\''])
                == port_mapping =>
        {
            None
        }
        Some(i) => Some((
            Block {
                start: i,
                end: i + 1,
            },
            vec![item(&ind)],
        )),
        None => {
            let at = items.last().map(|&i| i + 1).unwrap_or(p.start + 1);
            Some((Block { start: at, end: at }, vec![item(&ind)]))
        }
    })
}

/// The file's lines (with their line ends) and the same lines without them.
fn split(text: &str) -> (Vec<String>, Vec<&str>) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let bare = lines
        .iter()
        .map(|l| l.trim_end_matches(['\n', '\r']))
        .collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    if let Some(last) = out.last_mut()
        && !last.ends_with('\n')
    {
        last.push('\n');
    }
    (out, bare)
}

/// `out` (the file's lines) with `service` added, its body `body(pad)` (`pad`: the
/// indentation of the service's keys): under the file's `services:` in the indentation its
/// services already use, or in a new `services:` at the end.
fn add_service(
    mut out: Vec<String>,
    bare: &[&str],
    service: &str,
    body: impl Fn(&str) -> String,
) -> Result<String, String> {
    if written_otherwise(bare, service) {
        return Err(format!(
            "service {service} is not written as a block (an alias or a flow mapping); edit it \
             by hand"
        ));
    }
    if let Some(at) = bare.iter().position(|l| l.trim_end() == "services:") {
        if bare[at].starts_with(char::is_whitespace) {
            return Err("services: is not at the top level; edit it by hand".into());
        }
        // The indentation the file's services already use, else two spaces.
        let ind = bare[at + 1..]
            .iter()
            .find(|l| is_content(l))
            .map(|l| indent_of(l))
            .filter(|i| *i > 0)
            .unwrap_or(2);
        let pad = " ".repeat(ind);
        out.insert(at + 1, format!("{pad}{service}:\n{}", body(&pad.repeat(2))));
        return Ok(out.concat());
    }
    if bare.iter().any(|l| l.trim_start().starts_with("services:")) {
        return Err("services: is not a block mapping; edit it by hand".into());
    }
    out.push(format!("services:\n  {service}:\n{}", body("    ")));
    Ok(out.concat())
}

/// `port_mapping` (e.g. `127.0.0.1:27751:27751`) published by `service` in an override file
/// (`text`: its current bytes, empty for a new file), replacing an entry of the file for the
/// same container port, every other byte kept; the service or `services:` is added when
/// missing. Unchanged when the entry is there.
pub fn set_port(
    text: &str,
    service: &str,
    container_port: u16,
    port_mapping: &str,
) -> Result<String, String> {
    let (mut out, bare) = split(text);
    match service_block(&bare, service) {
        Some((svc, child)) => {
            match port_edit(&bare, svc, child, container_port, port_mapping)? {
                Some((b, new)) => out.splice(b.start..b.end, new).for_each(drop),
                None => return Ok(text.to_string()),
            }
            Ok(out.concat())
        }
        None => add_service(out, &bare, service, |pad| {
            format!("{pad}ports:\n{pad}  - {}\n", quote(port_mapping))
        }),
    }
}

/// `service`'s `command:` set to `argv` in an override file (`text`: its current bytes,
/// empty for a new file), every other byte kept: an existing `command:` is edited as
/// a multi-line string keeps its lines (see `edit_command_string`); otherwise one flow list is added to the service, the service
/// to `services:`, or `services:` to the file. `argv` may hold `${VAR}` words: Compose
/// interpolates an override file like the main one, so `.env` keeps deciding their values.
pub fn set_command(text: &str, service: &str, argv: &[String]) -> Result<String, String> {
    let flow = |pad: &str| {
        format!(
            "{pad}command: [{}]\n",
            argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(", ")
        )
    };
    let (mut out, bare) = split(text);
    let Some((svc, child)) = service_block(&bare, service) else {
        return add_service(out, &bare, service, flow);
    };
    let pad = " ".repeat(child);
    match key_block(&bare, svc, child, "command") {
        Some(c) => {
            let new =
                edit_command_string(&bare, c, child, argv).unwrap_or_else(|| vec![flow(&pad)]);
            if new.concat() == out[c.start..c.end].concat() {
                return Ok(text.to_string());
            }
            out.splice(c.start..c.end, new);
        }
        None => {
            out.insert(svc.start + 1, flow(&pad));
        }
    }
    Ok(out.concat())
}

/// The item lines of `key:`'s short-syntax block list, or why it is not one.
fn list_items(bare: &[&str], b: Block, child: usize, key: &str) -> Result<Vec<usize>, String> {
    let items: Vec<usize> = (b.start + 1..b.end)
        .filter(|&i| is_content(bare[i]))
        .collect();
    if bare[b.start].trim_end().len() > child + key.len() + 1
        || items
            .iter()
            .any(|&i| !bare[i].trim_start().starts_with("- "))
    {
        return Err(format!(
            "{key}: is not a short-syntax block list; edit it by hand"
        ));
    }
    Ok(items)
}

/// `service`'s `volumes:` with the short-syntax entry `mount` (`SRC:DST[:ro]`) in an override
/// file (`text`: its current bytes), every other byte kept: added to an existing block list,
/// else a `volumes:` added to the service, the service to `services:`, or `services:` to the
/// file. Unchanged when the entry is already there. Compose merges an override's volumes
/// with the main file's by their container path.
pub fn add_volume(text: &str, service: &str, mount: &str) -> Result<String, String> {
    let (mut out, bare) = split(text);
    let item = |pad: &str| format!("{pad}- {}\n", quote(mount));
    let Some((svc, child)) = service_block(&bare, service) else {
        return add_service(out, &bare, service, |pad| {
            format!("{pad}volumes:\n{}", item(&format!("{pad}  ")))
        });
    };
    let pad = " ".repeat(child);
    match key_block(&bare, svc, child, "volumes") {
        Some(v) => {
            let items = list_items(&bare, v, child, "volumes")?;
            let same =
                |i: &usize| bare[*i].trim_start()[2..].trim().trim_matches(['"', '\'']) == mount;
            if items.iter().any(same) {
                return Ok(text.to_string());
            }
            let item_pad = items
                .first()
                .map(|&i| " ".repeat(indent_of(bare[i])))
                .unwrap_or_else(|| format!("{pad}  "));
            out.insert(v.end, item(&item_pad));
        }
        None => {
            out.insert(
                svc.end,
                format!("{pad}volumes:\n{}", item(&format!("{pad}  "))),
            );
        }
    }
    Ok(out.concat())
}

/// `text` without the short-syntax entries of `service`'s `ports:` that publish
/// `container_port` (and without `ports:` when none is left). Unchanged when there is none.
pub fn remove_port(text: &str, service: &str, container_port: u16) -> Result<String, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let bare: Vec<&str> = lines
        .iter()
        .map(|l| l.trim_end_matches(['\n', '\r']))
        .collect();
    let Some((svc, child)) = service_block(&bare, service) else {
        return Ok(text.to_string());
    };
    let Some(p) = key_block(&bare, svc, child, "ports") else {
        return Ok(text.to_string());
    };
    let items: Vec<usize> = (p.start + 1..p.end)
        .filter(|&i| is_content(bare[i]))
        .collect();
    if bare[p.start].trim_end().len() > child + "ports:".len()
        || items
            .iter()
            .any(|&i| !bare[i].trim_start().starts_with("- "))
    {
        return Err("ports: is not a short-syntax block list; edit it by hand".into());
    }
    let gone: Vec<usize> = items
        .iter()
        .copied()
        .filter(|&i| item_container_port(bare[i]) == Some(container_port))
        .collect();
    if gone.is_empty() {
        return Ok(text.to_string());
    }
    let drop_all = gone.len() == items.len();
    // A service left with nothing but its name would be `null`, which Compose refuses.
    let empty_service = drop_all
        && !(svc.start + 1..svc.end).any(|i| !(p.start..p.end).contains(&i) && is_content(bare[i]));
    let out: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            if empty_service {
                !(svc.start..svc.end).contains(i)
            } else if drop_all {
                !(p.start..p.end).contains(i)
            } else {
                !gone.contains(i)
            }
        })
        .map(|(_, l)| *l)
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_volume_appends_once_and_keeps_every_other_byte() {
        let m = "/srv/web:/srv/web:ro";
        let empty = add_volume("", "nginx", m).unwrap();
        assert_eq!(
            empty,
            "services:\n  nginx:\n    volumes:\n      - \"/srv/web:/srv/web:ro\"\n"
        );
        assert_eq!(add_volume(&empty, "nginx", m).unwrap(), empty);
        let text = "# mine\nservices:\n  drawpile:\n    command: [\"a\"]\n  nginx:\n    \
                    volumes:\n      - ./certs:/certs # keep\n    restart: always\n";
        let out = add_volume(text, "nginx", m).unwrap();
        assert_eq!(
            out,
            text.replace("# keep\n", "# keep\n      - \"/srv/web:/srv/web:ro\"\n")
        );
        let out = add_volume("services:\n  drawpile:\n    command: [\"a\"]\n", "nginx", m).unwrap();
        assert_eq!(
            out,
            "services:\n  nginx:\n    volumes:\n      - \"/srv/web:/srv/web:ro\"\n  drawpile:\n    command: [\"a\"]\n"
        );
        let svc = add_volume("services:\n  nginx:\n    restart: always\n", "nginx", m).unwrap();
        assert_eq!(
            svc,
            "services:\n  nginx:\n    restart: always\n    volumes:\n      - \"/srv/web:/srv/web:ro\"\n"
        );
        assert!(add_volume("services:\n  nginx:\n    volumes: [a]\n", "nginx", m).is_err());
    }

    const FILE: &str = "# my drawpile stack\nversion: \"3.8\"\nservices:\n  drawpile-srv:\n    image: drawpile/drawpile-srv:2.3.0 # pinned\n    # the port for desktop clients\n    ports:\n      - \"27750:27750\"\n    volumes:\n      - dpdata:/home/drawpile\n    restart: unless-stopped\n\n  other:\n    image: redis\nvolumes:\n  dpdata: {}\n";

    fn argv() -> Vec<String> {
        vec!["--websocket-port".into(), "27751".into()]
    }

    /// The command and a published port set the way plans set them.
    fn edit_service(
        text: &str,
        service: &str,
        argv: &[String],
        container_port: u16,
        port_mapping: &str,
    ) -> Result<String, String> {
        set_port(
            &set_command(text, service, argv)?,
            service,
            container_port,
            port_mapping,
        )
    }

    #[test]
    fn command_and_port_are_added_and_everything_else_stays() {
        let out = edit_service(
            FILE,
            "drawpile-srv",
            &argv(),
            27751,
            "127.0.0.1:27751:27751",
        )
        .unwrap();
        assert_eq!(
            out,
            FILE.replace(
                "  drawpile-srv:\n",
                "  drawpile-srv:\n    command: [\"--websocket-port\", \"27751\"]\n"
            )
            .replace(
                "      - \"27750:27750\"\n",
                "      - \"27750:27750\"\n      - \"127.0.0.1:27751:27751\"\n"
            )
        );
        // Idempotent.
        assert_eq!(
            edit_service(
                &out,
                "drawpile-srv",
                &argv(),
                27751,
                "127.0.0.1:27751:27751"
            )
            .unwrap(),
            out
        );
        // And the YAML still parses with the service as intended.
        let services = crate::detect::docker::parse_compose(&out).unwrap();
        assert_eq!(services[0].options.websocket_port.as_deref(), Some("27751"));
        assert!(
            services[0]
                .ports
                .iter()
                .any(|p| p.host_ip == "127.0.0.1" && p.container_port == 27751)
        );
    }

    #[test]
    fn an_existing_command_and_a_public_websocket_port_are_replaced() {
        let f = "services:\n  dp:\n    image: drawpile/drawpile-srv\n    command:\n      - --websocket-listen\n      - 127.0.0.1\n    ports:\n      - 27751:27751\n";
        let out = edit_service(f, "dp", &argv(), 27751, "127.0.0.1:27751:27751").unwrap();
        assert_eq!(
            out,
            "services:\n  dp:\n    image: drawpile/drawpile-srv\n    command: [\"--websocket-port\", \"27751\"]\n    ports:\n      - \"127.0.0.1:27751:27751\"\n"
        );
    }

    /// dpserver's service (drawpile/dpserver docker-compose.yaml at b5c62af, 2024-01, before
    /// ce7b887 added the WebSocket port): `command:` as a plain multi-line scalar.
    const DPSERVER_2024: &str = "services:\n    drawpile-srv:\n        image: drawpile/drawpile-srv:${DP_VERSION:-2.2}\n        command: \n            --sessions /home/drawpile/sessions\n            --web-admin-port 27780\n            --local-host ${DOMAIN}\n            --report-url http://abusereport:8080/\n        restart: always\n        ports:\n            - \"27750:27750\"\n";

    fn dpserver_argv(extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = [
            "--sessions",
            "/home/drawpile/sessions",
            "--web-admin-port",
            "27780",
            "--local-host",
            "draw.example.com",
            "--report-url",
            "http://abusereport:8080/",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    #[test]
    fn a_multi_line_command_stays_multi_line_and_keeps_its_variables() {
        let argv = dpserver_argv(&["--websocket-port", "27751"]);
        let out = edit_service(
            DPSERVER_2024,
            "drawpile-srv",
            &argv,
            27751,
            "127.0.0.1:27751:27751",
        )
        .unwrap();
        assert_eq!(
            out,
            DPSERVER_2024
                .replace(
                    "            --report-url http://abusereport:8080/\n",
                    "            --report-url http://abusereport:8080/\n            --websocket-port 27751\n"
                )
                .replace(
                    "            - \"27750:27750\"\n",
                    "            - \"27750:27750\"\n            - \"127.0.0.1:27751:27751\"\n"
                )
        );
        // Read back as Compose reads it: the same arguments, ${DOMAIN} still a variable.
        assert_eq!(
            edit_service(&out, "drawpile-srv", &argv, 27751, "127.0.0.1:27751:27751").unwrap(),
            out
        );
        let s = &crate::detect::docker::parse_compose(&out).unwrap()[0];
        assert_eq!(s.options.websocket_port.as_deref(), Some("27751"));
        assert_eq!(s.command_style.as_deref(), Some("string"));
        // A changed port and a removed option: only their lines change.
        let argv2: Vec<String> = dpserver_argv(&["--websocket-port", "27752"])
            .into_iter()
            .filter(|a| a != "--web-admin-port" && a != "27780")
            .collect();
        let out2 =
            edit_service(&out, "drawpile-srv", &argv2, 27752, "127.0.0.1:27752:27752").unwrap();
        assert!(out2.contains("            --local-host ${DOMAIN}\n            --report-url http://abusereport:8080/\n            --websocket-port 27752\n        restart: always\n"), "{out2}");
        assert!(!out2.contains("--web-admin-port"), "{out2}");
        // Folded (`>`) stays folded.
        let folded = DPSERVER_2024.replace("command: \n", "command: >\n");
        let out3 = edit_service(
            &folded,
            "drawpile-srv",
            &argv,
            27751,
            "127.0.0.1:27751:27751",
        )
        .unwrap();
        assert!(
            out3.contains("        command: >\n            --sessions /home/drawpile/sessions\n"),
            "{out3}"
        );
        assert!(
            out3.contains("            --websocket-port 27751\n        restart"),
            "{out3}"
        );
    }

    #[test]
    fn a_folded_command_written_with_variables_stays_folded() {
        // The argv of a plan keeps `${VAR}` words as written, for Compose to interpolate.
        let folded = DPSERVER_2024.replace("command: \n", "command: >\n");
        let argv: Vec<String> = dpserver_argv(&["--websocket-port", "27751"])
            .into_iter()
            .map(|a| {
                if a == "draw.example.com" {
                    "${DOMAIN}".into()
                } else {
                    a
                }
            })
            .collect();
        let out = set_command(&folded, "drawpile-srv", &argv).unwrap();
        assert_eq!(
            out,
            folded.replace(
                "            --report-url http://abusereport:8080/\n",
                "            --report-url http://abusereport:8080/\n            --websocket-port 27751\n"
            )
        );
        // A new word with a variable is written on its own line too, never as a flow list.
        let argv2: Vec<String> = argv
            .iter()
            .cloned()
            .chain(["--extauth".into(), "${EXTAUTH_URL}".into()])
            .collect();
        let out2 = set_command(&out, "drawpile-srv", &argv2).unwrap();
        assert!(
            out2.contains("            --websocket-port 27751\n            --extauth ${EXTAUTH_URL}\n        restart"),
            "{out2}"
        );
        // A quoted word already there stays as written; the new option goes below it.
        let quoted = folded.replace(
            "            --report-url http://abusereport:8080/\n",
            "            --report-url http://abusereport:8080/\n            --title \"Our server\"\n",
        );
        let mut argv_q: Vec<String> = argv[..argv.len() - 2].to_vec();
        argv_q.extend(["--title".into(), "Our server".into()]);
        argv_q.extend(["--websocket-port".into(), "27751".into()]);
        assert_eq!(
            set_command(&quoted, "drawpile-srv", &argv_q).unwrap(),
            quoted.replace(
                "            --title \"Our server\"\n",
                "            --title \"Our server\"\n            --websocket-port 27751\n"
            )
        );
        // A word YAML would read as a flow mapping is not written plain.
        let argv3: Vec<String> = argv.iter().cloned().chain(["{x}".into()]).collect();
        assert!(
            set_command(&out, "drawpile-srv", &argv3)
                .unwrap()
                .contains("command: [")
        );
    }

    #[test]
    fn long_port_syntax_is_refused_not_rewritten() {
        let f = "services:\n  dp:\n    image: drawpile/drawpile-srv\n    ports:\n      - target: 27750\n        published: 27750\n";
        assert!(
            edit_service(f, "dp", &argv(), 27751, "127.0.0.1:27751:27751")
                .unwrap_err()
                .contains("long syntax")
        );
        assert!(remove_port(f, "dp", 27751).is_err());
        // A service the (override) file does not have yet is added with the port alone.
        assert_eq!(
            set_port(f, "nope", 27751, "127.0.0.1:27751:27751").unwrap(),
            f.replace(
                "services:\n",
                "services:\n  nope:\n    ports:\n      - \"127.0.0.1:27751:27751\"\n"
            )
        );
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn set_command_adds_to_an_override_file_keeping_every_other_byte() {
        let argv = words(&["--local-host", "${DOMAIN}", "--websocket-port", "27751"]);
        let flow = "[\"--local-host\", \"${DOMAIN}\", \"--websocket-port\", \"27751\"]";
        // No file yet.
        assert_eq!(
            set_command("", "drawpile-srv", &argv).unwrap(),
            format!("services:\n  drawpile-srv:\n    command: {flow}\n")
        );
        // Another service only, four-space style, a comment and no final newline.
        let other = "# mine\nservices:\n    listserver:\n        restart: always";
        assert_eq!(
            set_command(other, "drawpile-srv", &argv).unwrap(),
            format!(
                "# mine\nservices:\n    drawpile-srv:\n        command: {flow}\n    listserver:\n        restart: always\n"
            )
        );
        // The service is there without a command.
        let ports =
            "services:\n  drawpile-srv:\n    ports:\n      - \"127.0.0.1:27780:27780\" # admin\n";
        assert_eq!(
            set_command(ports, "drawpile-srv", &argv).unwrap(),
            format!(
                "services:\n  drawpile-srv:\n    command: {flow}\n    ports:\n      - \"127.0.0.1:27780:27780\" # admin\n"
            )
        );
        // Setting it again changes nothing.
        let once = set_command(ports, "drawpile-srv", &argv).unwrap();
        assert_eq!(set_command(&once, "drawpile-srv", &argv).unwrap(), once);
        assert!(set_command("services: {}\n", "drawpile-srv", &argv).is_err());
    }

    #[test]
    fn a_service_written_as_an_alias_or_flow_mapping_is_refused_not_duplicated() {
        let argv = words(&["--websocket-port", "27751"]);
        for f in [
            "x-dp: &dp\n  image: drawpile/drawpile-srv\nservices:\n  drawpile-srv: *dp\n",
            "services:\n  drawpile-srv: {image: drawpile/drawpile-srv}\n",
            "services:\n  \"drawpile-srv\": {}\n",
        ] {
            let e = set_command(f, "drawpile-srv", &argv).unwrap_err();
            assert!(e.contains("not written as a block"), "{e}");
            assert!(set_port(f, "drawpile-srv", 27751, "127.0.0.1:27751:27751").is_err());
        }
        // A merge key inside the block is fine: the command goes beside it.
        let merged = "x-dp: &dp\n  restart: always\nservices:\n  drawpile-srv:\n    <<: *dp\n";
        assert_eq!(
            set_command(merged, "drawpile-srv", &argv).unwrap(),
            "x-dp: &dp\n  restart: always\nservices:\n  drawpile-srv:\n    command: [\"--websocket-port\", \"27751\"]\n    <<: *dp\n"
        );
    }

    #[test]
    fn remove_port_drops_only_that_port_and_what_it_leaves_empty() {
        let both = "services:\n  drawpile-srv:\n    ports:\n      - \"27750:27750\"\n      - \"27751:27751/tcp\" # ws\n    restart: always\n";
        assert_eq!(
            remove_port(both, "drawpile-srv", 27751).unwrap(),
            "services:\n  drawpile-srv:\n    ports:\n      - \"27750:27750\"\n    restart: always\n"
        );
        let only = "services:\n  drawpile-srv:\n    ports:\n      - \"27751:27751\"\n    restart: always\n";
        assert_eq!(
            remove_port(only, "drawpile-srv", 27751).unwrap(),
            "services:\n  drawpile-srv:\n    restart: always\n"
        );
        // A service that had nothing else goes (Compose refuses a null service).
        let bare = "services:\n  drawpile-srv:\n    ports:\n      - \"27751:27751\"\n  nginx:\n    restart: always\n";
        assert_eq!(
            remove_port(bare, "drawpile-srv", 27751).unwrap(),
            "services:\n  nginx:\n    restart: always\n"
        );
        assert_eq!(remove_port(both, "drawpile-srv", 9).unwrap(), both);
        assert_eq!(remove_port(both, "other", 27751).unwrap(), both);
        let long = "services:\n  drawpile-srv:\n    ports:\n      - target: 27751\n        published: 27751\n";
        assert!(remove_port(long, "drawpile-srv", 27751).is_err());
    }
}
