//! A Compose project read the way Compose reads it, as pure functions over file texts: the
//! `.env` file, variable interpolation (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `$$`), YAML anchors and merge keys, and
//! override files merged the way docker-compose merges them (ports and other lists appended,
//! volumes by container path, environment and labels by name, the rest replaced). Reading the
//! files from the machine is detect's job; this module never touches it.
//! The oracle is the real `docker-compose config` (tests/it/compose.rs).

use std::collections::BTreeMap;

use yaml_serde::{Mapping, Value};

/// Variables from `.env` (Compose also takes the shell's environment first; dpwizard runs as
/// root from another shell, so only the project's `.env` is used).
pub type Env = BTreeMap<String, String>;

/// Parses a `.env` file: `KEY=VALUE` lines, `#` comments, blank lines, an optional `export `,
/// values in single or double quotes. A line without `=` is an error with its line number
/// (docker-compose 1.29 refuses such a file too).
pub fn parse_dotenv(text: &str) -> Result<Env, String> {
    let mut env = Env::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: {line:?} is not KEY=VALUE", i + 1));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: {k:?} is not a variable name", i + 1));
        }
        let v = v.trim();
        // Quoted values are expanded too, single quotes included: what docker-compose 1.29
        // (Debian's python-dotenv) does, the oracle here (Compose v2 keeps '…' literal).
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            expand_dotenv(&v[1..v.len() - 1], &env)
        } else {
            // An unquoted value ends at ` #` (a comment), as python-dotenv reads it.
            expand_dotenv(
                match v.find(" #") {
                    Some(p) => v[..p].trim_end(),
                    None => v,
                },
                &env,
            )
        };
        env.insert(k.to_string(), v);
    }
    Ok(env)
}

/// `${NAME}` and `${NAME:-default}` in a `.env` value, from the variables above it (what
/// python-dotenv, which docker-compose 1.29 uses, expands; unknown names become empty).
fn expand_dotenv(v: &str, env: &Env) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(p) = rest.find("${") {
        let Some(end) = rest[p..].find('}') else {
            break;
        };
        out.push_str(&rest[..p]);
        let inner = &rest[p + 2..p + end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (env.get(name).filter(|x| !x.is_empty()), default) {
            (Some(x), _) => out.push_str(x),
            (None, Some(d)) => out.push_str(d),
            (None, None) => out.push_str(env.get(name).map(String::as_str).unwrap_or("")),
        }
        rest = &rest[p + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${` without its `}`, or a name that is not one.
    Invalid(String),
    /// `${VAR:?message}` (or `?`) with VAR unset (or empty).
    Required { name: String, message: String },
}

/// Interpolates one string. Unset variables without a default become empty, as in Compose;
/// their names are pushed to `undefined`.
pub fn interpolate(
    s: &str,
    env: &Env,
    undefined: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let is_name_start = |c: char| c == '_' || c.is_ascii_alphabetic();
    let is_name = |c: char| c == '_' || c.is_ascii_alphanumeric();
    while let Some(p) = rest.find('$') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                return Err(InterpolationError::Invalid(s.to_string()));
            };
            let inner = &r[..end];
            let name_len = inner.find(|c: char| !is_name(c)).unwrap_or(inner.len());
            let (name, op) = inner.split_at(name_len);
            if name.is_empty() || !name.starts_with(is_name_start) {
                return Err(InterpolationError::Invalid(s.to_string()));
            }
            let value = env.get(name);
            let set_nonempty = value.is_some_and(|v| !v.is_empty());
            let replacement = if op.is_empty() {
                if value.is_none() {
                    undefined.push(name.to_string());
                }
                value.cloned().unwrap_or_default()
            } else if let Some(d) = op.strip_prefix(":-") {
                if set_nonempty {
                    value.cloned().unwrap_or_default()
                } else {
                    d.to_string()
                }
            } else if let Some(d) = op.strip_prefix('-') {
                value.cloned().unwrap_or_else(|| d.to_string())
            } else if let Some(m) = op.strip_prefix(":?") {
                if !set_nonempty {
                    return Err(InterpolationError::Required {
                        name: name.into(),
                        message: m.into(),
                    });
                }
                value.cloned().unwrap_or_default()
            } else if let Some(m) = op.strip_prefix('?') {
                match value {
                    Some(v) => v.clone(),
                    None => {
                        return Err(InterpolationError::Required {
                            name: name.into(),
                            message: m.into(),
                        });
                    }
                }
            } else if let Some(a) = op.strip_prefix(":+") {
                if set_nonempty {
                    a.to_string()
                } else {
                    String::new()
                }
            } else if let Some(a) = op.strip_prefix('+') {
                if value.is_some() {
                    a.to_string()
                } else {
                    String::new()
                }
            } else {
                return Err(InterpolationError::Invalid(s.to_string()));
            };
            out.push_str(&replacement);
            rest = &r[end + 1..];
        } else if after.starts_with(is_name_start) {
            let len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
            let name = &after[..len];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => undefined.push(name.to_string()),
            }
            rest = &after[len..];
        } else {
            // A lone `$` (e.g. at the end) is an error in Compose.
            return Err(InterpolationError::Invalid(s.to_string()));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Interpolates every string value (not the keys) of a document. `path` names the value for
/// messages (`services.nginx.image`).
fn interpolate_value(
    v: &mut Value,
    env: &Env,
    path: &mut Vec<String>,
    undefined: &mut Vec<String>,
) -> Result<(), String> {
    match v {
        Value::String(s) if s.contains('$') => {
            *s = interpolate(s, env, undefined).map_err(|e| match e {
                InterpolationError::Invalid(t) => {
                    format!("{}: invalid interpolation format in {t:?}", path.join("."))
                }
                InterpolationError::Required { name, message } => format!(
                    "{}: required variable {name} is missing a value: {message}",
                    path.join(".")
                ),
            })?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                interpolate_value(item, env, path, undefined)?;
                path.pop();
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                path.push(key_text(k));
                interpolate_value(item, env, path, undefined)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "?".into(),
    }
}

/// Parses one compose file: YAML (anchors and `<<` merge keys applied), then interpolated.
/// Errors name the line and column, or the value.
pub fn parse_file(text: &str, env: &Env, undefined: &mut Vec<String>) -> Result<Value, String> {
    let mut doc: Value = yaml_serde::from_str(text).map_err(|e| match e.location() {
        Some(l) => format!("{}:{}: {e}", l.line(), l.column()),
        None => e.to_string(),
    })?;
    doc.apply_merge()
        .map_err(|e| format!("merge key (<<): {e}"))?;
    if !matches!(doc, Value::Mapping(_) | Value::Null) {
        return Err("the top level is not a mapping".into());
    }
    interpolate_value(&mut doc, env, &mut Vec::new(), undefined)?;
    Ok(doc)
}

/// `K=V` list items or a mapping, as a mapping (environment, labels, build args).
fn as_mapping_of_pairs(v: &Value) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str())
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (Value::String(k.into()), Value::String(v.into())),
                None => (Value::String(s.into()), Value::Null),
            })
            .collect(),
        _ => Mapping::new(),
    }
}

/// A service's `networks:` (list or mapping) as a mapping.
fn networks_mapping(v: &Value) -> Mapping {
    match v {
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str())
            .map(|s| (Value::String(s.into()), Value::Null))
            .collect(),
        Value::Mapping(m) => m.clone(),
        _ => Mapping::new(),
    }
}

/// The container path of a `volumes:` entry (short or long syntax).
fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(match parse_short_volume(s) {
            Some((_, t, _)) => t,
            None => s.clone(),
        }),
        Value::Mapping(m) => m.get("target").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

/// `SOURCE:TARGET[:MODE]` or `TARGET` → (source, target, mode).
pub fn parse_short_volume(s: &str) -> Option<(Option<String>, String, Option<String>)> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [t] => Some((None, t.to_string(), None)),
        [src, t] => Some((Some(src.to_string()), t.to_string(), None)),
        [src, t, mode] => Some((Some(src.to_string()), t.to_string(), Some(mode.to_string()))),
        _ => None,
    }
}

/// Merges an override service into the base one, as docker-compose does.
fn merge_service(base: &mut Mapping, over: &Mapping) {
    for (k, ov) in over {
        let key = k.as_str().unwrap_or("");
        let Some(bv) = base.get_mut(k) else {
            base.insert(k.clone(), ov.clone());
            continue;
        };
        match key {
            "environment" | "labels" | "extra_hosts" | "sysctls" => {
                let mut m = as_mapping_of_pairs(bv);
                for (ok, ovv) in as_mapping_of_pairs(ov) {
                    m.insert(ok, ovv);
                }
                *bv = Value::Mapping(m);
            }
            "networks" => {
                let mut m = networks_mapping(bv);
                for (ok, ovv) in networks_mapping(ov) {
                    m.insert(ok, ovv);
                }
                *bv = Value::Mapping(m);
            }
            "ports" | "expose" | "external_links" | "dns" | "dns_search" | "env_file" | "tmpfs"
            | "depends_on" | "cap_add" | "cap_drop" | "security_opt" => {
                let mut items = bv.as_sequence().cloned().unwrap_or_default();
                for item in ov.as_sequence().into_iter().flatten() {
                    if !items.contains(item) {
                        items.push(item.clone());
                    }
                }
                *bv = Value::Sequence(items);
            }
            "volumes" | "devices" => {
                let mut items = bv.as_sequence().cloned().unwrap_or_default();
                for item in ov.as_sequence().into_iter().flatten() {
                    let t = volume_target(item);
                    match items
                        .iter()
                        .position(|b| t.is_some() && volume_target(b) == t)
                    {
                        Some(p) => items[p] = item.clone(),
                        None => items.push(item.clone()),
                    }
                }
                *bv = Value::Sequence(items);
            }
            "build" => {
                let as_map = |v: &Value| match v {
                    Value::String(s) => {
                        let mut m = Mapping::new();
                        m.insert("context".into(), Value::String(s.clone()));
                        m
                    }
                    Value::Mapping(m) => m.clone(),
                    _ => Mapping::new(),
                };
                let mut m = as_map(bv);
                for (ok, ovv) in as_map(ov) {
                    m.insert(ok, ovv);
                }
                *bv = Value::Mapping(m);
            }
            _ => *bv = ov.clone(),
        }
    }
}

/// Merges an override document into the base document.
pub fn merge(base: &mut Value, over: Value) {
    let Value::Mapping(over) = over else { return };
    if !matches!(base, Value::Mapping(_)) {
        *base = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(b) = base else { return };
    for (k, ov) in over {
        match (k.as_str(), b.get_mut(&k)) {
            (Some("services"), Some(Value::Mapping(bs))) => {
                for (name, osvc) in ov.as_mapping().cloned().unwrap_or_default() {
                    match (bs.get_mut(&name), osvc) {
                        (Some(Value::Mapping(bsvc)), Value::Mapping(osvc)) => {
                            merge_service(bsvc, &osvc)
                        }
                        (_, osvc) => {
                            bs.insert(name, osvc);
                        }
                    }
                }
            }
            (Some("volumes" | "networks" | "secrets" | "configs"), Some(Value::Mapping(bm))) => {
                for (name, v) in ov.as_mapping().cloned().unwrap_or_default() {
                    bm.insert(name, v);
                }
            }
            _ => {
                b.insert(k, ov);
            }
        }
    }
}

/// The project name Compose derives from the directory: lower case, only `a-z0-9_-`
/// (docker-compose 1.29's normalisation), unless COMPOSE_PROJECT_NAME says otherwise.
pub fn project_name(dir: &str, env: &Env) -> String {
    if let Some(n) = env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()) {
        return n.to_lowercase();
    }
    let base = dir.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    base.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The files Compose reads for a project whose main file is `main` (in `dir`): COMPOSE_FILE
/// from the `.env` when set (split on COMPOSE_PATH_SEPARATOR, default `:`), else the main file
/// and, for a default-named one, the override file next to it when `exists` says so.
pub fn project_files(
    dir: &str,
    main: &str,
    env: &Env,
    exists: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let abs = |f: &str| {
        if f.starts_with('/') {
            f.to_string()
        } else {
            format!(
                "{}/{}",
                dir.trim_end_matches('/'),
                f.trim_start_matches("./")
            )
        }
    };
    if let Some(list) = env.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .unwrap_or(":");
        return list.split(sep).filter(|f| !f.is_empty()).map(abs).collect();
    }
    let mut files = vec![main.to_string()];
    let name = main.rsplit('/').next().unwrap_or(main);
    let overrides: &[&str] = match name {
        "docker-compose.yml" | "docker-compose.yaml" => &[
            "docker-compose.override.yml",
            "docker-compose.override.yaml",
        ],
        "compose.yml" | "compose.yaml" => &["compose.override.yml", "compose.override.yaml"],
        _ => &[],
    };
    if let Some(o) = overrides.iter().map(|o| abs(o)).find(|o| exists(o)) {
        files.push(o);
    }
    files
}

/// The line (1-based) of every service key under `services:` of a file, by a single text
/// scan (the YAML parser keeps no positions): a file of thousands of services stays linear.
pub fn service_lines(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut in_services = false;
    let mut indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ind = line.len() - t.len();
        if ind == 0 {
            in_services = t.trim_end() == "services:";
            indent = None;
            continue;
        }
        if !in_services {
            continue;
        }
        let own = *indent.get_or_insert(ind);
        if ind == own
            && let Some((k, _)) = t.split_once(':')
        {
            out.entry(k.trim().trim_matches(['"', '\'']).to_string())
                .or_insert(i + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_interpolation_form() {
        let e = env(&[("SET", "x"), ("EMPTY", "")]);
        let mut undef = Vec::new();
        let mut i = |s: &str| interpolate(s, &e, &mut undef);
        assert_eq!(i("a${SET}b$SET.c").unwrap(), "axbx.c");
        assert_eq!(i("${UNSET:-d} ${EMPTY:-d} ${SET:-d}").unwrap(), "d d x");
        assert_eq!(i("${UNSET-d} ${EMPTY-d}").unwrap(), "d ");
        assert_eq!(i("$$SET $${SET}").unwrap(), "$SET ${SET}");
        assert_eq!(i("${SET:+alt}${EMPTY:+alt}${EMPTY+alt}").unwrap(), "altalt");
        assert_eq!(
            i("drawpile/drawpile-srv:${DP_VERSION:-2.3}").unwrap(),
            "drawpile/drawpile-srv:2.3"
        );
        assert_eq!(
            i("${EMPTY:?is empty}"),
            Err(InterpolationError::Required {
                name: "EMPTY".into(),
                message: "is empty".into()
            })
        );
        assert_eq!(i("${EMPTY?unset}").unwrap(), "");
        assert!(matches!(
            i("${UNSET?unset}"),
            Err(InterpolationError::Required { .. })
        ));
        assert!(matches!(i("${SET"), Err(InterpolationError::Invalid(_))));
        assert!(matches!(i("cost: 5$"), Err(InterpolationError::Invalid(_))));
        assert!(matches!(i("${1X}"), Err(InterpolationError::Invalid(_))));
        assert_eq!(i("$UNSET|${ALSO}").unwrap(), "|");
        assert_eq!(undef, vec!["UNSET".to_string(), "ALSO".to_string()]);
    }

    #[test]
    fn dotenv_as_configure_sh_writes_it_and_quoted() {
        let e = parse_dotenv(
            "DOMAIN=draw.example.com\nUSE_CERTBOT=yes\n# c\n\nEMAIL=\nexport A=\"q v\"\nB='s' \nC=v # note\n",
        )
        .unwrap();
        assert_eq!(e["DOMAIN"], "draw.example.com");
        assert_eq!(e["EMAIL"], "");
        assert_eq!(e["A"], "q v");
        assert_eq!(e["B"], "s");
        assert_eq!(e["C"], "v");
        assert_eq!(
            parse_dotenv("A=1\nnonsense\n").unwrap_err(),
            "line 2: \"nonsense\" is not KEY=VALUE"
        );
    }

    #[test]
    fn project_names_and_files() {
        assert_eq!(project_name("/root/dpserver", &Env::new()), "dpserver");
        assert_eq!(
            project_name("/opt/My Server.v2/", &Env::new()),
            "myserverv2"
        );
        assert_eq!(
            project_name("/x", &env(&[("COMPOSE_PROJECT_NAME", "DP")])),
            "dp"
        );
        let exists = |p: &str| p == "/r/docker-compose.override.yaml";
        assert_eq!(
            project_files("/r", "/r/docker-compose.yaml", &Env::new(), &exists),
            vec!["/r/docker-compose.yaml", "/r/docker-compose.override.yaml"]
        );
        assert_eq!(
            project_files("/r", "/r/other.yml", &Env::new(), &exists),
            vec!["/r/other.yml"]
        );
        assert_eq!(
            project_files(
                "/r",
                "/r/docker-compose.yaml",
                &env(&[("COMPOSE_FILE", "a.yml:./b.yml:/abs.yml")]),
                &exists
            ),
            vec!["/r/a.yml", "/r/b.yml", "/abs.yml"]
        );
    }

    #[test]
    fn overrides_merge_like_compose() {
        let mut u = Vec::new();
        let mut base = parse_file(
            "services:\n  a:\n    image: x\n    command: --one\n    ports: ['1:1']\n    environment: [A=1, B=2]\n    volumes: ['./c:/etc/c:ro', 'data:/d']\n    networks: [n1]\nvolumes:\n  data:\n",
            &Env::new(),
            &mut u,
        )
        .unwrap();
        let over = parse_file(
            "services:\n  a:\n    command: [--two]\n    ports: ['127.0.0.1:2:2']\n    environment:\n      B: '3'\n    volumes: ['./other:/etc/c']\n    networks:\n      n2: {}\n  b:\n    image: y\nvolumes:\n  more:\n",
            &Env::new(),
            &mut u,
        )
        .unwrap();
        merge(&mut base, over);
        let a = &base["services"]["a"];
        assert_eq!(a["command"][0], "--two");
        assert_eq!(a["ports"].as_sequence().unwrap().len(), 2);
        assert_eq!(a["environment"]["A"], "1");
        assert_eq!(a["environment"]["B"], "3");
        let vols = a["volumes"].as_sequence().unwrap();
        assert_eq!(vols.len(), 2);
        assert_eq!(vols[0], "./other:/etc/c");
        assert!(a["networks"].as_mapping().unwrap().contains_key("n1"));
        assert!(a["networks"].as_mapping().unwrap().contains_key("n2"));
        assert_eq!(base["services"]["b"]["image"], "y");
        assert!(base["volumes"].as_mapping().unwrap().contains_key("more"));
    }

    #[test]
    fn anchors_and_merge_keys_are_applied() {
        let mut u = Vec::new();
        let doc = parse_file(
            "x-common: &common\n  restart: always\n  image: drawpile/drawpile-srv:2.3\nservices:\n  dp:\n    <<: *common\n    restart: unless-stopped\n",
            &Env::new(),
            &mut u,
        )
        .unwrap();
        assert_eq!(doc["services"]["dp"]["image"], "drawpile/drawpile-srv:2.3");
        assert_eq!(doc["services"]["dp"]["restart"], "unless-stopped");
        // A merge key pointing at a scalar is an error with a message, not a panic.
        let e = parse_file("a: &s 1\nb:\n  <<: *s\n", &Env::new(), &mut u).unwrap_err();
        assert!(e.starts_with("merge key (<<):"), "{e}");
        let e = parse_file(
            "services:\n  a:\n    image: ${V:?set V in .env}\n",
            &Env::new(),
            &mut u,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "services.a.image: required variable V is missing a value: set V in .env"
        );
    }

    #[test]
    fn service_lines_in_one_scan() {
        let l = service_lines(
            "version: '3'\nservices:\n    drawpile-srv:\n        image: x\n        command: >\n            a: b\n\n    \"nginx\":\n        build: .\nvolumes:\n    v:\n",
        );
        assert_eq!(l.get("drawpile-srv"), Some(&3));
        assert_eq!(l.get("nginx"), Some(&8));
        assert_eq!(l.get("command"), None);
        assert_eq!(l.get("v"), None);
    }
}
