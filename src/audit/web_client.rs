//! The self-hosted browser client (dpwizard's `[web_client]` block, or any site that serves
//! one there): judged from the configuration dpwizard wrote and, when the machine can be
//! probed, from what the web server actually answers (the live answer wins). Missing COOP or
//! COEP means no cross-origin isolation, so the client cannot run: those findings name the
//! header. The block is found by its markers in the files the web servers read.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::Verdicts;
use super::catalogue::*;
use crate::detect::Facts;
use crate::host::Host;
use crate::plan::web_client::{BEGIN, END, HTML_CACHE, ISOLATION_HEADERS};
use crate::verify::{Target, TlsVerify, http_head_of};

/// One HTTP answer: status and headers, or why there was none.
pub type Answer = Result<(u16, Vec<(String, String)>), String>;

/// What was read and probed about the hosted client.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    /// Where the block is (`file:line`).
    pub at: String,
    /// The block's text.
    #[serde(skip)]
    pub block: String,
    /// The directory it serves and what is in it (None: unreadable).
    pub directory: String,
    pub files: Option<Vec<String>>,
    /// GET / , GET /<a .wasm file>, DELETE /, GET http://domain/ (None: not probed).
    pub index: Option<Answer>,
    pub wasm: Option<(String, Answer)>,
    pub other_method: Option<Answer>,
    pub http: Option<Answer>,
    /// Why the live probes did not run.
    pub not_probed: Option<String>,
}

fn header<'a>(a: &'a (u16, Vec<(String, String)>), name: &str) -> Option<&'a str> {
    a.1.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The directory a block serves: nginx `root X;`, Apache `Alias "/" "X/"`, Caddy `root * X`.
fn served_directory(block: &str) -> Option<String> {
    block.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["root", d] => Some(d.trim_end_matches(';').to_string()),
            ["root", "*", d] => Some(d.to_string()),
            ["Alias", "\"/\"", d] => Some(d.trim_matches('"').trim_end_matches('/').to_string()),
            _ => None,
        }
    })
}

/// The host a block serves, from its comment (`… at https://HOST/ …`).
fn served_host(block: &str) -> Option<String> {
    let rest = block.split("at https://").nth(1)?;
    let host = rest.split('/').next()?;
    crate::model::DomainName::parse(host)
        .ok()
        .map(|d| d.as_str().to_string())
}

/// dpwizard's client block, as found in a file a web server reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The file (its real path) and the line of the begin marker.
    pub file: String,
    pub line: usize,
    /// The block's lines, from the begin marker to the line before the end marker.
    pub text: String,
}

impl Block {
    /// The directory it serves.
    pub fn directory(&self) -> Option<String> {
        served_directory(&self.text)
    }

    /// The host it serves (a site of its own, or the domain's), from its comment.
    pub fn host(&self) -> Option<String> {
        served_host(&self.text)
    }
}

/// Finds dpwizard's client block in the files the web servers read (their real paths).
pub fn find_block(host: &Host, facts: &Facts) -> Option<Block> {
    let files = crate::plan::web_client::all_nginx_servers(facts)
        .map(|s| s.file.to_string())
        .chain(facts.apache.files.iter().cloned())
        .chain(std::iter::once(
            crate::plan::front_caddy::CADDYFILE.to_string(),
        ))
        .chain(facts.caddy.files.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    for f in files {
        if !seen.insert(f.clone()) {
            continue;
        }
        let Ok(bytes) = host.read(&f) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        let Some(b) = text.lines().position(|l| l.trim() == BEGIN) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        let e = lines[b..]
            .iter()
            .position(|l| l.trim() == END)
            .map_or(lines.len(), |i| b + i);
        return Some(Block {
            file: f,
            line: b + 1,
            text: lines[b..e].join("\n"),
        });
    }
    None
}

/// Reads the block and, unless `probe` says why not, asks the web server on 443 and 80.
pub async fn observe(
    host: &Host,
    facts: &Facts,
    domain: &str,
    probe: Result<(), String>,
    t: Duration,
) -> Option<Observed> {
    let found = find_block(host, facts)?;
    let directory = found.directory().unwrap_or_default();
    // dpwizard's block names the host it serves (a site of its own, or the domain's).
    let served = found.host().unwrap_or_else(|| domain.to_string());
    let Block {
        file,
        line,
        text: block,
    } = found;
    let files = host.list_dir(&directory).ok();
    let mut o = Observed {
        at: format!("{file}:{line}"),
        block,
        directory,
        files,
        ..Default::default()
    };
    if let Err(why) = probe {
        o.not_probed = Some(why);
        return Some(o);
    }
    let target = |port: u16, tls: bool| Target {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        host: served.clone(),
        tls: tls.then_some(TlsVerify::Insecure),
        timeout: t,
    };
    let ask = |port, tls, method: &'static str, path: String| async move {
        http_head_of(&target(port, tls), method, &path)
            .await
            .map_err(|e| e.to_string())
    };
    let wasm = o
        .files
        .iter()
        .flatten()
        .find(|n| n.ends_with(".wasm"))
        .cloned();
    let (index, other, http, w) = tokio::join!(
        ask(443, true, "GET", "/".into()),
        ask(443, true, "DELETE", "/".into()),
        ask(80, false, "GET", "/".into()),
        async {
            match &wasm {
                Some(n) => Some((n.clone(), ask(443, true, "GET", format!("/{n}")).await)),
                None => None,
            }
        }
    );
    o.index = Some(index);
    o.other_method = Some(other);
    o.http = Some(http);
    o.wasm = w;
    Some(o)
}

/// The checks; all skipped when no client is hosted.
pub fn judge(o: Option<&Observed>, v: &mut Verdicts) {
    let Some(o) = o else {
        for c in [
            WEB_FILES,
            WEB_COOP,
            WEB_COEP,
            WEB_CORP,
            WEB_WASM_TYPE,
            WEB_CACHE,
            WEB_GET_ONLY,
            WEB_HTTPS_REDIRECT,
        ] {
            v.skip(
                c,
                "no self-hosted browser client (dpwizard's [web_client] block) was found",
            );
        }
        return;
    };
    match &o.files {
        Some(f)
            if f.iter().any(|n| n == "index.html") && f.iter().any(|n| n.ends_with(".wasm")) =>
        {
            v.pass(WEB_FILES)
        }
        Some(_) => v.fail(
            WEB_FILES,
            vec![format!(
                "{}: {} has no index.html or no .wasm file",
                o.at, o.directory
            )],
        ),
        None => v.fail(
            WEB_FILES,
            vec![format!("{}: {} cannot be read", o.at, o.directory)],
        ),
    }
    let index = o.index.as_ref().and_then(|r| r.as_ref().ok());
    let wasm = o
        .wasm
        .as_ref()
        .and_then(|(n, r)| r.as_ref().ok().map(|a| (n.as_str(), a)));
    // The headers: every response, so both the page and a .wasm file are asked.
    for ((name, value), check) in ISOLATION_HEADERS.iter().zip([WEB_COOP, WEB_COEP, WEB_CORP]) {
        let isolation = *name != "Cross-Origin-Resource-Policy";
        let consequence = if isolation {
            ": the page is not cross-origin isolated (crossOriginIsolated is false, no secure \
             context for its threads), so the client cannot run"
        } else {
            ""
        };
        match index {
            Some(a) => {
                let mut bad = Vec::new();
                for (path, ans) in std::iter::once(("/".to_string(), a))
                    .chain(wasm.map(|(n, w)| (format!("/{n}"), w)))
                {
                    match header(ans, name) {
                        Some(got) if got.eq_ignore_ascii_case(value) => {}
                        Some(got) => bad.push(format!(
                            "{path} was answered with {name}: {got} (not {value}){consequence}"
                        )),
                        None => bad.push(format!(
                            "{path} was answered ({}) without {name}{consequence}",
                            ans.0
                        )),
                    }
                }
                v.check(check, bad.is_empty(), bad);
            }
            None => v.check(
                check,
                o.block.contains(name) && o.block.contains(value),
                vec![format!(
                    "{}: the block sets no {name}: {value}{consequence}",
                    o.at
                )],
            ),
        }
    }
    match wasm {
        Some((n, a)) => {
            let ct = header(a, "Content-Type").unwrap_or("none");
            v.check(
                WEB_WASM_TYPE,
                ct.starts_with("application/wasm"),
                vec![format!("/{n}: Content-Type {ct}")],
            )
        }
        None => v.check(
            WEB_WASM_TYPE,
            o.block.contains("application/wasm"),
            vec![format!("{}: the block maps no type application/wasm", o.at)],
        ),
    }
    match (index, wasm) {
        (Some(i), w) => {
            let html = header(i, "Cache-Control").unwrap_or("none");
            let mut bad = Vec::new();
            if !html.contains(HTML_CACHE) {
                bad.push(format!("/ (HTML): Cache-Control {html}"));
            }
            if let Some((n, a)) = w {
                let cc = header(a, "Cache-Control").unwrap_or("none");
                if !cc.contains("max-age") || cc.contains(HTML_CACHE) {
                    bad.push(format!("/{n}: Cache-Control {cc} (no long expiry)"));
                }
            }
            v.check(WEB_CACHE, bad.is_empty(), bad);
        }
        (None, _) => v.check(
            WEB_CACHE,
            o.block.contains(HTML_CACHE) && o.block.contains("max-age"),
            vec![format!(
                "{}: the block sets no Cache-Control for HTML and the rest",
                o.at
            )],
        ),
    }
    match o.other_method.as_ref().and_then(|r| r.as_ref().ok()) {
        Some(a) => v.check(
            WEB_GET_ONLY,
            matches!(a.0, 403 | 405 | 501),
            vec![format!("DELETE / was answered {}", a.0)],
        ),
        None => v.check(
            WEB_GET_ONLY,
            o.block.contains("GET"),
            vec![format!("{}: the block does not limit the methods", o.at)],
        ),
    }
    match o.http.as_ref() {
        Some(Ok(a)) => {
            let to = header(a, "Location").unwrap_or("");
            v.check(
                WEB_HTTPS_REDIRECT,
                matches!(a.0, 301 | 302 | 307 | 308) && to.starts_with("https://"),
                vec![format!("http://…/ was answered {} (Location {to:?})", a.0)],
            )
        }
        Some(Err(e)) => v.fail(WEB_HTTPS_REDIRECT, vec![format!("http://…/: {e}")]),
        None => v.skip(
            WEB_HTTPS_REDIRECT,
            o.not_probed.clone().unwrap_or_else(|| "not probed".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(headers: &[(&str, &str)]) -> Answer {
        Ok((
            200,
            headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        ))
    }

    fn judged(o: &Observed) -> (Vec<&'static str>, Vec<String>) {
        let mut v = Verdicts::default();
        judge(Some(o), &mut v);
        (
            v.findings.iter().map(|f| f.id).collect(),
            v.findings.iter().flat_map(|f| f.evidence.clone()).collect(),
        )
    }

    #[test]
    fn a_missing_isolation_header_is_named_by_its_check() {
        let good = [
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Embedder-Policy", "require-corp"),
            ("Cross-Origin-Resource-Policy", "same-site"),
        ];
        let page: Vec<_> = good
            .iter()
            .copied()
            .chain([("Cache-Control", "no-store")])
            .collect();
        let wasm: Vec<_> = good
            .iter()
            .copied()
            .chain([
                ("Cache-Control", "public, max-age=31536000"),
                ("Content-Type", "application/wasm"),
            ])
            .collect();
        let mut o = Observed {
            at: "/etc/nginx/sites-available/x:12".into(),
            directory: "/srv/web".into(),
            files: Some(vec!["index.html".into(), "c.wasm".into()]),
            index: Some(ok(&page)),
            wasm: Some(("c.wasm".into(), ok(&wasm))),
            other_method: Some(Ok((403, vec![]))),
            http: Some(Ok((
                301,
                vec![("Location".into(), "https://d.example/".into())],
            ))),
            ..Default::default()
        };
        assert_eq!(judged(&o).0, Vec::<&str>::new());
        let no_coep: Vec<_> = page
            .iter()
            .copied()
            .filter(|(h, _)| *h != "Cross-Origin-Embedder-Policy")
            .collect();
        o.index = Some(ok(&no_coep));
        let (ids, evidence) = judged(&o);
        assert_eq!(ids, ["DPW-WEB-003"]);
        assert!(
            evidence[0].contains(
                "without Cross-Origin-Embedder-Policy: the page is not cross-origin isolated"
            ),
            "{evidence:?}"
        );
        // Without live answers the block is judged.
        let o = Observed {
            at: "f:1".into(),
            block: "add_header Cross-Origin-Opener-Policy \"same-origin\" always;".into(),
            files: Some(vec!["index.html".into()]),
            not_probed: Some("--offline".into()),
            ..Default::default()
        };
        assert_eq!(
            judged(&o).0,
            [
                "DPW-WEB-001",
                "DPW-WEB-003",
                "DPW-WEB-004",
                "DPW-WEB-005",
                "DPW-WEB-006",
                "DPW-WEB-007"
            ]
        );
    }

    #[test]
    fn the_directory_is_read_from_each_front_end_s_block() {
        assert_eq!(
            served_directory("    root /srv/a;").as_deref(),
            Some("/srv/a")
        );
        assert_eq!(
            served_directory("\t\troot * /srv/b").as_deref(),
            Some("/srv/b")
        );
        assert_eq!(
            served_directory("    Alias \"/\" \"/srv/c/\"").as_deref(),
            Some("/srv/c")
        );
        let block = crate::plan::web_client::tests_render("/srv/d", "web.example.com");
        assert_eq!(served_host(&block).as_deref(), Some("web.example.com"));
        assert_eq!(served_directory(&block).as_deref(), Some("/srv/d"));
    }
}
