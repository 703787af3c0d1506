//! Renders what dpwizard adds to a Caddyfile site: a `handle /drawpile-web/ws` with the
//! Origin rule (an empty or missing Origin, the official browser client and the extra
//! origins pass; anything else gets 403) and the WebSocket proxy with X-Real-IP. Inside
//! `handle`, Caddy runs `respond` before `reverse_proxy` (its directive order), and a
//! `handle` with a path sorts before the site's catch-all ones, so the 403 always comes first.

use std::fmt::Write;

use crate::formats::{BEGIN_MARKER, END_MARKER};

/// The official browser client's origins.
pub const OFFICIAL_ORIGINS: &[&str] = &["https://web.drawpile.net", "https://web.foxdice.cn"];

/// What the block needs. Strings must already be validated (origins `https://host[:port]`,
/// the upstream an IP address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSpec {
    pub upstream_host: String,
    pub upstream_port: u16,
    /// Origins allowed besides the official ones, normalised `https://host[:port]`.
    pub extra_origins: Vec<String>,
}

/// The marked block, each line prefixed by `indent` (the site's child indentation), ending
/// with a newline.
pub fn render_block(spec: &BlockSpec, indent: &str) -> String {
    let upstream = if spec.upstream_host.contains(':') {
        format!("[{}]:{}", spec.upstream_host, spec.upstream_port)
    } else {
        format!("{}:{}", spec.upstream_host, spec.upstream_port)
    };
    let mut out = String::new();
    let mut line = |depth: usize, s: &str| {
        let _ = writeln!(out, "{indent}{}{s}", "\t".repeat(depth));
    };
    line(0, BEGIN_MARKER);
    line(0, "handle /drawpile-web/ws {");
    line(
        1,
        "# Empty Origin: the desktop app. Others: the browser client only.",
    );
    line(1, "@dpw_bad_origin {");
    line(2, "header_regexp Origin .+");
    line(2, "not {");
    for o in OFFICIAL_ORIGINS
        .iter()
        .copied()
        .chain(spec.extra_origins.iter().map(String::as_str))
    {
        line(3, &format!("header Origin {o}"));
    }
    line(2, "}");
    line(1, "}");
    line(1, "respond @dpw_bad_origin 403");
    line(1, &format!("reverse_proxy {upstream} {{"));
    line(2, "header_up X-Real-IP {remote_host}");
    line(1, "}");
    line(0, "}");
    line(0, END_MARKER);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_has_the_documented_meaning() {
        let text = render_block(
            &BlockSpec {
                upstream_host: "127.0.0.1".into(),
                upstream_port: 27751,
                extra_origins: vec!["https://draw.example.org:8443".into()],
            },
            "\t",
        );
        let expected = "\t# BEGIN dpwizard\n\
\thandle /drawpile-web/ws {\n\
\t\t# Empty Origin: the desktop app. Others: the browser client only.\n\
\t\t@dpw_bad_origin {\n\
\t\t\theader_regexp Origin .+\n\
\t\t\tnot {\n\
\t\t\t\theader Origin https://web.drawpile.net\n\
\t\t\t\theader Origin https://web.foxdice.cn\n\
\t\t\t\theader Origin https://draw.example.org:8443\n\
\t\t\t}\n\
\t\t}\n\
\t\trespond @dpw_bad_origin 403\n\
\t\treverse_proxy 127.0.0.1:27751 {\n\
\t\t\theader_up X-Real-IP {remote_host}\n\
\t\t}\n\
\t}\n\
\t# END dpwizard\n";
        assert_eq!(text, expected);
        let v6 = render_block(
            &BlockSpec {
                upstream_host: "::1".into(),
                upstream_port: 27751,
                extra_origins: vec![],
            },
            "",
        );
        assert!(v6.contains("\treverse_proxy [::1]:27751 {\n"));
    }
}
