//! What an nginx location's Origin check lets through, judged by meaning: every
//! `if ($http_origin OP VALUE) { return 4xx; }` is evaluated (with nginx's PCRE-compatible
//! regex semantics for `~`, `~*`, `!~`, `!~*`, and string equality for `=`/`!=`) against the
//! origins that matter, so any correct style passes and any wrong one is caught.

use crate::detect::nginx::NginxDirective;

/// One `if` on `$http_origin` that refuses what it matches.
#[derive(Debug, Clone)]
pub struct OriginRule {
    pub at: String,
    pub op: String,
    pub value: String,
    regex: Option<regex::Regex>,
}

impl OriginRule {
    /// Whether this rule refuses a request with `origin` ("" for none).
    pub fn refuses(&self, origin: &str) -> bool {
        match self.op.as_str() {
            "=" => origin == self.value,
            "!=" => origin != self.value,
            "~" | "~*" => self.regex.as_ref().is_some_and(|r| r.is_match(origin)),
            "!~" | "!~*" => !self.regex.as_ref().is_some_and(|r| r.is_match(origin)),
            _ => false,
        }
    }
}

/// The Origin check of a location.
#[derive(Debug, Clone, Default)]
pub struct OriginCheck {
    pub rules: Vec<OriginRule>,
    /// `if`s on `$http_origin` dpwizard could not read (e.g. a regex it cannot compile).
    pub unreadable: Vec<String>,
}

impl OriginCheck {
    pub fn read(location: &[NginxDirective]) -> OriginCheck {
        let mut out = OriginCheck::default();
        for d in location.iter().filter(|d| d.name == "if") {
            let at = format!("{}:{}", d.file, d.line);
            // Arguments arrive split and unquoted: `($http_origin`, `!~`, `^...$`, `)`.
            let joined = d.args.join(" ");
            let inner = joined.trim().trim_start_matches('(').trim_end_matches(')');
            let inner = inner.trim();
            let Some(rest) = inner.strip_prefix("$http_origin") else {
                continue;
            };
            let refuses = d.block.iter().any(|b| {
                (b.name == "return" && b.args.first().is_some_and(|c| c.starts_with('4')))
                    || b.name == "deny"
            });
            if !refuses {
                continue;
            }
            let rest = rest.trim();
            let Some(op) = ["!~*", "!~", "~*", "!=", "~", "="]
                .into_iter()
                .find(|op| rest.starts_with(op))
            else {
                out.unreadable.push(format!("{at}: if ({inner})"));
                continue;
            };
            let value = rest[op.len()..].trim().to_string();
            let regex = if op.contains('~') {
                let pattern = if op.ends_with('*') {
                    format!("(?i){value}")
                } else {
                    value.clone()
                };
                match regex::Regex::new(&pattern) {
                    Ok(r) => Some(r),
                    Err(_) => {
                        out.unreadable.push(format!("{at}: if ({inner})"));
                        continue;
                    }
                }
            } else {
                None
            };
            out.rules.push(OriginRule {
                at,
                op: op.to_string(),
                value,
                regex,
            });
        }
        out
    }

    pub fn is_present(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The first rule that refuses `origin`, if any.
    pub fn refused_by(&self, origin: &str) -> Option<&OriginRule> {
        self.rules.iter().find(|r| r.refuses(origin))
    }

    /// The `https://host[:port]` origins named in the rules that the check lets through,
    /// besides the official ones: what an admin added (for `answers --from-machine`).
    pub fn extra_origins(&self) -> Vec<String> {
        let mut found = Vec::new();
        for r in &self.rules {
            let unescaped = r.value.replace('\\', "");
            let mut rest = unescaped.as_str();
            while let Some(i) = rest.find("https://") {
                let tail = &rest[i..];
                let end = tail["https://".len()..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')))
                    .map(|e| e + "https://".len())
                    .unwrap_or(tail.len());
                let candidate = tail[..end].trim_end_matches([':', '.']).to_string();
                rest = &tail[end..];
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> OriginCheck {
        let d = NginxDirective {
            name: "if".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            file: "site".into(),
            line: 3,
            block: vec![NginxDirective {
                name: "return".into(),
                args: vec!["403".into()],
                file: "site".into(),
                line: 3,
                block: vec![],
            }],
        };
        OriginCheck::read(&[d])
    }

    const WEB: &str = "https://web.drawpile.net";
    const MIRROR: &str = "https://web.foxdice.cn";
    const EVIL: &str = "https://evil.example";

    #[test]
    fn the_documented_regex_allows_empty_and_official_only() {
        let c = check(&[
            "($http_origin",
            "!~",
            r"^(https://web\.(drawpile\.net|foxdice\.cn))?$",
            ")",
        ]);
        assert!(c.refused_by("").is_none());
        assert!(c.refused_by(WEB).is_none());
        assert!(c.refused_by(MIRROR).is_none());
        assert!(c.refused_by(EVIL).is_some());
        assert!(c.extra_origins().is_empty());
    }

    #[test]
    fn the_pre_2025_regex_refuses_the_empty_origin() {
        let c = check(&[
            "($http_origin",
            "!~",
            r"^https://web\.(drawpile\.net|foxdice\.cn)$",
            ")",
        ]);
        assert!(c.refused_by("").is_some());
        assert!(c.refused_by(WEB).is_none());
        let c = check(&["($http_origin", "!=", WEB, ")"]);
        assert!(c.refused_by("").is_some());
        assert!(c.refused_by(MIRROR).is_some());
        assert!(c.refused_by(WEB).is_none());
    }

    #[test]
    fn case_insensitive_and_deny_list_styles() {
        let c = check(&["($http_origin", "!~*", r"^(|https://WEB\.drawpile\.net)$)"]);
        assert!(c.refused_by(WEB).is_none());
        assert!(c.refused_by("").is_none());
        assert!(c.refused_by(EVIL).is_some());
        let c = check(&["($http_origin", "~", "evil", ")"]);
        assert!(c.refused_by(EVIL).is_some());
        assert!(c.refused_by(WEB).is_none());
    }

    #[test]
    fn extra_origins_are_read_back_from_the_regex() {
        let c = check(&[
            "($http_origin",
            "!~",
            r"^(https://web\.(drawpile\.net|foxdice\.cn)|https://paint\.example\.org|https://x\.example\.com:8443)?$",
            ")",
        ]);
        assert_eq!(
            c.extra_origins(),
            vec!["https://paint.example.org", "https://x.example.com:8443"]
        );
        assert!(
            check(&["($http_origin", "!~", "^(((", ")"])
                .unreadable
                .len()
                == 1
        );
    }
}
