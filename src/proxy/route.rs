//! The route that serves `/drawpile-web/ws`, as the audit judges it whatever web server
//! wrote it. Each kind builds one from its own configuration (an nginx `location`, Apache's
//! `ProxyPass` and mod_rewrite rules, a Caddy `handle`); the checks (audit::checks) read only
//! this, so the same check ids carry nginx-, Apache- or Caddy-shaped evidence.

use std::fmt;
use std::sync::Arc;

use super::Kind;

/// One rule that refuses requests by their Origin header, judged by meaning: whatever the
/// syntax (an nginx `if`, a `RewriteCond` chain, a Caddy matcher), it answers one question.
#[derive(Clone)]
pub struct OriginRule {
    /// `file:line`.
    pub at: String,
    /// The rule as written, for evidence (`if ($http_origin != "https://…")`).
    pub shown: String,
    /// Whether the rule refuses a request whose Origin is this value ("" when none is sent).
    refuses: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl OriginRule {
    pub fn new(
        at: String,
        shown: String,
        refuses: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> OriginRule {
        OriginRule {
            at,
            shown,
            refuses: Arc::new(refuses),
        }
    }

    pub fn refuses(&self, origin: &str) -> bool {
        (self.refuses)(origin)
    }
}

impl fmt::Debug for OriginRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.shown)
    }
}

/// A route's Origin check: every rule that can refuse by Origin, in order.
#[derive(Debug, Clone, Default)]
pub struct OriginRules {
    pub rules: Vec<OriginRule>,
    /// Rules on the Origin that could not be read (a regex that does not compile, an
    /// operator dpwizard does not know), as `file:line: text`: the check cannot be judged.
    pub unreadable: Vec<String>,
}

impl OriginRules {
    pub fn is_present(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The first rule that refuses `origin`, if any.
    pub fn refused_by(&self, origin: &str) -> Option<&OriginRule> {
        self.rules.iter().find(|r| r.refuses(origin))
    }

    /// The `https://host[:port]` origins named in the rules that the check lets through,
    /// besides the official ones: what an admin added (for `answers --from-machine` and the
    /// wizard's default).
    pub fn extra_origins(&self) -> Vec<String> {
        let mut found = Vec::new();
        for r in &self.rules {
            let unescaped = r.shown.replace('\\', "");
            // Whole origins (`https://paint.example.org`), and host names inside a group
            // that one `https://` prefixes (`https://(web\.drawpile\.net|paint\.example\.org)`).
            let mut candidates = Vec::new();
            let mut rest = unescaped.as_str();
            while let Some(i) = rest.find("https://") {
                let tail = &rest[i..];
                let end = tail["https://".len()..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')))
                    .map(|e| e + "https://".len())
                    .unwrap_or(tail.len());
                candidates.push(tail[..end].trim_end_matches([':', '.']).to_string());
                rest = &tail[end..];
            }
            candidates.extend(
                unescaped
                    .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')))
                    .map(|t| t.trim_matches(['.', ':']))
                    .filter(|t| t.contains('.') && t.chars().any(|c| c.is_ascii_alphabetic()))
                    .map(|t| format!("https://{t}")),
            );
            for candidate in candidates {
                let official = matches!(
                    candidate.as_str(),
                    "https://web.drawpile.net" | "https://web.foxdice.cn"
                );
                if !official
                    && crate::model::Origin::parse(&candidate).is_ok()
                    && self.refused_by(&candidate).is_none()
                    && !found.contains(&candidate)
                {
                    found.push(candidate);
                }
            }
        }
        found
    }
}

/// Where the route sends the upgrade, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A host name, an address (without brackets) or a compose service name.
    pub host: String,
    /// `None` when the URL names none (port 80 for http://, ws://).
    pub port: Option<u16>,
    /// `file:line: the directive`, for evidence.
    pub at: String,
}

/// An upstream URL's `host[:port]` or `[v6][:port]` (anything from the first `/` ignored)
/// → (host without brackets, the port as written); `None` for a bracket left open.
pub fn split_authority(rest: &str) -> Option<(String, Option<u16>)> {
    let hostport = rest.split('/').next().unwrap_or(rest);
    Some(if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6.split_once(']')?;
        (
            h.to_string(),
            p.strip_prefix(':').and_then(|p| p.parse().ok()),
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()),
            None => (hostport.to_string(), None),
        }
    })
}

/// One property of the route: holds, or does not with the evidence why.
pub type Property = Result<(), Vec<String>>;

/// The route, judged property by property by its kind's reader.
#[derive(Debug, Clone)]
pub struct Route {
    pub kind: Kind,
    /// `file:line` of the route (the location, the ProxyPass, the handle).
    pub at: String,
    /// Where the route proxies; `None` when it proxies nowhere (no proxy_pass, a module
    /// missing), with the evidence in `no_target`.
    pub target: Option<Target>,
    pub no_target: Vec<String>,
    /// Requests for the path reach the route: nothing the server tries first takes them (a
    /// `ProxyPass /` above it, a Caddy `redir` or `handle` that sorts first). Holds for
    /// nginx, whose exact location always wins.
    pub reached: Property,
    pub origin: OriginRules,
    /// The upgrade reaches drawpile-srv over HTTP/1.1 (nginx's default is 1.0).
    pub http11: Property,
    /// The Upgrade and Connection headers are passed on.
    pub upgrade: Property,
    /// The client's address reaches drawpile-srv (X-Real-IP).
    pub real_ip: Property,
    /// Switches inherited from above that break a long-lived WebSocket (nginx's
    /// `proxy_buffering off` turned back…); holds where the kind has none.
    pub switches: Property,
}
