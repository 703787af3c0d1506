//! Renders the JSON schema of a serialisable type as a Markdown table of field paths, so the
//! documented `--json` schemas (docs/detect-schema.md, …) are generated from the code and can
//! never drift from it. The descriptions are the fields' `///` doc comments.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::Value;

/// One documented field: `drawpile.binaries[].version`, its type, its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDoc {
    pub path: String,
    pub ty: String,
    pub description: String,
}

/// Flattens a schema (as produced by `schemars::schema_for!`) into field paths.
pub fn fields(schema: &Value) -> Vec<FieldDoc> {
    let defs = schema
        .get("$defs")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let mut out = Vec::new();
    let mut stack = BTreeSet::new();
    walk(schema, &defs, "", &mut out, &mut stack);
    out
}

fn resolve<'a>(node: &'a Value, defs: &'a Value) -> (&'a Value, Option<String>) {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r).to_string();
        if let Some(def) = defs.get(&name) {
            return (def, Some(name));
        }
    }
    (node, None)
}

/// Strips `null` alternatives: `Option<T>` becomes `T` plus a "nullable" mark.
fn non_null<'a>(node: &'a Value, defs: &'a Value) -> (&'a Value, bool) {
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = node.get(key).and_then(Value::as_array) {
            let real: Vec<&Value> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if real.len() == 1 && real.len() < alts.len() {
                return (resolve(real[0], defs).0, true);
            }
        }
    }
    if let Some(types) = node.get("type").and_then(Value::as_array)
        && types.iter().any(|t| t == "null")
    {
        return (node, true);
    }
    (node, false)
}

fn type_name(node: &Value, defs: &Value) -> String {
    let (node, nullable) = non_null(node, defs);
    let (node, _) = resolve(node, defs);
    let base = if let Some(values) = node.get("enum").and_then(Value::as_array) {
        values
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" \\| ")
    } else if let Some(alts) = node.get("oneOf").and_then(Value::as_array) {
        // Unit-variant enums with docs come out as oneOf of consts.
        let consts: Vec<String> = alts
            .iter()
            .filter_map(|a| {
                a.get("const")
                    .or_else(|| a.get("enum").and_then(|e| e.get(0)))
                    .map(|c| c.to_string())
            })
            .collect();
        if consts.len() == alts.len() {
            consts.join(" \\| ")
        } else {
            "one of several shapes".to_string()
        }
    } else {
        match node.get("type") {
            Some(Value::String(t)) if t == "array" => {
                let item = node.get("items").map(|i| type_name(i, defs));
                format!("array of {}", item.unwrap_or_else(|| "any".into()))
            }
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter(|t| *t != "null")
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or "),
            _ => "any".to_string(),
        }
    };
    if nullable {
        format!("{base} or null")
    } else {
        base
    }
}

fn walk(
    node: &Value,
    defs: &Value,
    prefix: &str,
    out: &mut Vec<FieldDoc>,
    stack: &mut BTreeSet<String>,
) {
    let (node, _) = non_null(node, defs);
    let (node, def_name) = resolve(node, defs);
    if let Some(name) = &def_name {
        // A recursive type is documented once.
        if !stack.insert(name.clone()) {
            return;
        }
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (key, prop) in props {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let description = prop
                .get("description")
                .and_then(Value::as_str)
                .or_else(|| {
                    let (inner, _) = non_null(prop, defs);
                    resolve(inner, defs)
                        .0
                        .get("description")
                        .and_then(Value::as_str)
                })
                .unwrap_or_else(|| common_meaning(key))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            out.push(FieldDoc {
                path: path.clone(),
                ty: type_name(prop, defs),
                description,
            });
            let (inner, _) = non_null(prop, defs);
            let (inner, _) = resolve(inner, defs);
            if inner.get("type").and_then(Value::as_str) == Some("array") {
                if let Some(items) = inner.get("items") {
                    walk(items, defs, &format!("{path}[]"), out, stack);
                }
            } else {
                walk(prop, defs, &path, out, stack);
            }
        }
    }
    if let Some(name) = def_name {
        stack.remove(&name);
    }
}

/// What fields with these names mean wherever they appear, so every row says something.
fn common_meaning(key: &str) -> &'static str {
    match key {
        "file" => "File on the target machine.",
        "line" => "1-based line number in `file`.",
        "errors" => "Problems met while reading, each naming the file (and line where known).",
        "args" => "Arguments as written, quotes removed.",
        "name" => "Name as written.",
        "path" => "Path on the target machine.",
        "files" => "Files read, in order.",
        "directives" => "The directives inside, with file and line.",
        "block" => "The directives of its block, if it has one.",
        "notes" => "Remarks explaining the facts above.",
        "found_via" => "How it was found.",
        "port" => "Port number.",
        "address" | "addresses" => "Address as written.",
        "other" => "Options dpwizard does not interpret, kept verbatim in order.",
        "repeated" => "Options given more than once (the last one wins).",
        "live" => "What systemd reports (only when systemd runs on the live machine).",
        _ => "",
    }
}

/// The Markdown document: a title, an introduction, then one table row per field.
pub fn markdown(title: &str, intro: &str, schema: &Value) -> String {
    let mut out =
        format!("# {title}\n\n{intro}\n\n| path | type | meaning |\n| --- | --- | --- |\n");
    for f in fields(schema) {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            f.path,
            f.ty,
            f.description.replace('|', "\\|")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    #[derive(schemars::JsonSchema)]
    struct Outer {
        /// The version, as printed.
        version: Option<String>,
        /// Every item.
        items: Vec<Inner>,
    }

    #[allow(dead_code)]
    #[derive(schemars::JsonSchema)]
    struct Inner {
        /// Whether it is supported; null when unknown.
        supported: Option<bool>,
    }

    #[test]
    fn nested_fields_get_paths_types_and_docs() {
        let schema = serde_json::to_value(schemars::schema_for!(Outer)).unwrap();
        let f = fields(&schema);
        let find = |p: &str| f.iter().find(|d| d.path == p).cloned().unwrap();
        assert_eq!(find("version").ty, "string or null");
        assert_eq!(find("version").description, "The version, as printed.");
        assert_eq!(find("items").ty, "array of object");
        assert_eq!(find("items[].supported").ty, "boolean or null");
        assert_eq!(
            find("items[].supported").description,
            "Whether it is supported; null when unknown."
        );
    }
}
