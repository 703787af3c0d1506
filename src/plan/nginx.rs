//! Renders the nginx pieces dpwizard writes: the `location /drawpile-web/ws` block (exactly
//! the documented one, with any extra origins added to the Origin regex) between
//! `# BEGIN dpwizard` / `# END dpwizard` markers.

use std::fmt::Write;

/// Marker lines around everything dpwizard inserts into a file it does not own.
pub const BEGIN_MARKER: &str = "# BEGIN dpwizard";
pub const END_MARKER: &str = "# END dpwizard";

/// The official browser client's origins, as the documented regex alternation.
const OFFICIAL_ALTERNATION: &str = r"https://web\.(drawpile\.net|foxdice\.cn)";

pub use crate::proxy::nginx::REVERTIBLE_SWITCHES;

/// What the location needs to know. The strings must already be validated (origins are
/// `https://host[:port]` with a DNS host name; the upstream is an IP address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationSpec {
    /// Where drawpile-srv's WebSocket listener is reached from nginx, e.g. `127.0.0.1`.
    pub upstream_host: String,
    pub upstream_port: u16,
    /// Origins allowed besides the official ones, normalised `https://host[:port]`.
    pub extra_origins: Vec<String>,
    /// Server-level switches to turn back on inside the location (from REVERTIBLE_SWITCHES).
    pub revert_switches: Vec<String>,
}

/// Escapes a validated origin for use inside the regex: only `.` can occur that is special.
fn regex_escape_origin(origin: &str) -> String {
    origin.replace('.', r"\.")
}

/// The Origin regex: empty (the desktop app), the official origins, and the extra ones.
pub fn origin_regex(extra: &[String]) -> String {
    let mut alternation = OFFICIAL_ALTERNATION.to_string();
    for o in extra {
        alternation.push('|');
        alternation.push_str(&regex_escape_origin(o));
    }
    format!("^({alternation})?$")
}

/// `http://127.0.0.1:27751` (IPv6 hosts bracketed).
pub fn upstream_url(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("http://[{host}]:{port}")
    } else {
        format!("http://{host}:{port}")
    }
}

/// The marked location block, each line prefixed by `indent` (the server block's child
/// indentation) and ending with a newline.
pub fn render_location(spec: &LocationSpec, indent: &str) -> String {
    let inner = format!("{indent}    ");
    let mut out = String::new();
    let _ = writeln!(out, "{indent}{BEGIN_MARKER}");
    let _ = writeln!(out, "{indent}location /drawpile-web/ws {{");
    let _ = writeln!(
        out,
        "{inner}# Empty Origin: the desktop app. Others: the browser client only."
    );
    let _ = writeln!(
        out,
        "{inner}if ($http_origin !~ \"{}\") {{",
        origin_regex(&spec.extra_origins)
    );
    let _ = writeln!(out, "{inner}    return 403;");
    let _ = writeln!(out, "{inner}}}");
    let _ = writeln!(
        out,
        "{inner}proxy_pass {};",
        upstream_url(&spec.upstream_host, spec.upstream_port)
    );
    let _ = writeln!(out, "{inner}proxy_http_version 1.1;");
    let _ = writeln!(out, "{inner}proxy_set_header Upgrade $http_upgrade;");
    let _ = writeln!(out, "{inner}proxy_set_header Connection \"upgrade\";");
    let _ = writeln!(out, "{inner}proxy_set_header X-Real-IP $remote_addr;");
    for s in &spec.revert_switches {
        let _ = writeln!(out, "{inner}{s} on;  # reverts the server-level 'off'");
    }
    let _ = writeln!(out, "{indent}}}");
    let _ = writeln!(out, "{indent}{END_MARKER}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LocationSpec {
        LocationSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: 27751,
            extra_origins: vec![],
            revert_switches: vec![],
        }
    }

    #[test]
    fn default_location_is_the_documented_one() {
        let text = render_location(&spec(), "    ");
        // The documented directives, verbatim (drawpile.md, "The reverse proxy").
        for line in [
            r#"if ($http_origin !~ "^(https://web\.(drawpile\.net|foxdice\.cn))?$") {"#,
            "return 403;",
            "proxy_pass http://127.0.0.1:27751;",
            "proxy_http_version 1.1;",
            "proxy_set_header Upgrade $http_upgrade;",
            r#"proxy_set_header Connection "upgrade";"#,
            "proxy_set_header X-Real-IP $remote_addr;",
        ] {
            assert!(
                text.lines().any(|l| l.trim() == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.starts_with("    # BEGIN dpwizard\n    location /drawpile-web/ws {\n"));
        assert!(text.ends_with("    }\n    # END dpwizard\n"));
    }

    #[test]
    fn extra_origins_extend_and_never_replace_the_official_ones() {
        let re = origin_regex(&["https://draw.example.com:8443".into()]);
        assert_eq!(
            re,
            r"^(https://web\.(drawpile\.net|foxdice\.cn)|https://draw\.example\.com:8443)?$"
        );
    }

    #[test]
    fn ipv6_upstreams_are_bracketed_and_switches_reverted() {
        let mut s = spec();
        s.upstream_host = "::1".into();
        s.revert_switches = vec!["proxy_pass_request_headers".into()];
        let text = render_location(&s, "\t");
        assert!(text.contains("proxy_pass http://[::1]:27751;"));
        assert!(text.contains("\t    proxy_pass_request_headers on;"));
    }
}
