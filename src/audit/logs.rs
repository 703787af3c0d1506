//! Evidence from what actually happened to real users: drawpile-srv's own log and the web
//! server's access log for `/drawpile-web/ws`. Parsing is pure; `observe` reads the logs.

use serde::Serialize;

/// How often something was seen, and the latest example.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub count: usize,
    pub latest: Option<String>,
    /// Where it was read (a file or a command).
    pub source: String,
}

impl Tally {
    fn add(&mut self, line: &str) {
        self.count += 1;
        self.latest = Some(line.trim_end().to_string());
    }

    pub fn evidence(&self) -> Vec<String> {
        let mut ev = vec![format!("{} line(s) in {}", self.count, self.source)];
        if let Some(l) = &self.latest {
            ev.push(format!("latest: {l}"));
        }
        ev
    }
}

/// drawpile-srv's log (journal or `docker logs`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerLog {
    /// WebSocket clients whose address came from the TCP peer, not X-Real-IP.
    pub peer_address: Tally,
    /// Socket-activation errors.
    pub socket_errors: Tally,
    /// systemd failing drawpile's socket after the server shut it down (2.2.x autostop).
    #[serde(default)]
    pub socket_pollhup: Tally,
    /// WebSocket clients seen at all.
    pub websocket_clients: usize,
}

/// The web server's access log, for the WebSocket path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccessLog {
    pub app_403: Tally,
    pub browser_403: Tally,
    pub bad_gateway: Tally,
    /// Requests for the path in the window.
    pub requests: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LogEvidence {
    pub since: String,
    pub server: Option<ServerLog>,
    pub access: Option<AccessLog>,
    /// Why no access log was read.
    pub access_missing: Option<String>,
}

/// Reads drawpile-srv's log lines (already limited to the window by journalctl/docker).
pub fn server_log(text: &str, source: &str) -> ServerLog {
    let mut out = ServerLog {
        peer_address: Tally {
            source: source.into(),
            ..Default::default()
        },
        socket_errors: Tally {
            source: source.into(),
            ..Default::default()
        },
        socket_pollhup: Tally {
            source: source.into(),
            ..Default::default()
        },
        websocket_clients: 0,
    };
    for line in text.lines() {
        if line.contains("New WebSocket client connected from") {
            out.websocket_clients += 1;
            if line.contains("IP from WebSocket peer address") {
                out.peer_address.add(line);
            }
        }
        if line.contains("socket activation is no longer supported")
            || line.contains("Web admin socket passed, but web admin support not built in")
        {
            out.socket_errors.add(line);
        }
        if line.contains("Got POLLHUP on a listening socket") {
            out.socket_pollhup.add(line);
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `24/Nov/2026:03:08:09 +0000` as Unix seconds.
fn parse_time_local(s: &str) -> Option<i64> {
    let (dt, zone) = s.split_once(' ')?;
    let mut parts = dt.splitn(4, [':', '/']);
    let day: u8 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u8 + 1;
    let year: i32 = parts.next()?.parse().ok()?;
    let hms = parts.next()?;
    let mut t = hms.split(':').map(|p| p.parse::<u8>().ok());
    let (h, m, sec) = (t.next()??, t.next()??, t.next()??);
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let time = time::Time::from_hms(h, m, sec).ok()?;
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let z = zone.trim_start_matches(['+', '-']);
    let offset = z.get(0..2)?.parse::<i64>().ok()? * 3600 + z.get(2..4)?.parse::<i64>().ok()? * 60;
    Some(date.with_time(time).assume_utc().unix_timestamp() - sign * offset)
}

/// One line of nginx's `combined` format: (time, request, status, user agent).
fn parse_combined(line: &str) -> Option<(i64, &str, u16, &str)> {
    let t0 = line.find('[')? + 1;
    let t1 = t0 + line[t0..].find(']')?;
    let when = parse_time_local(&line[t0..t1])?;
    let rest = &line[t1 + 1..];
    let r0 = rest.find('"')? + 1;
    let r1 = r0 + rest[r0..].find('"')?;
    let request = &rest[r0..r1];
    let after = rest[r1 + 1..].trim_start();
    let status: u16 = after.split_whitespace().next()?.parse().ok()?;
    // The user agent is the last quoted field.
    let ua = line
        .trim_end()
        .strip_suffix('"')
        .and_then(|l| l.rsplit_once('"'))
        .map(|(_, ua)| ua)?;
    Some((when, request, status, ua))
}

/// Adds the lines of an access log at or after `since` (Unix seconds).
pub fn access_log(out: &mut AccessLog, text: &str, source: &str, since: i64) {
    for t in [&mut out.app_403, &mut out.browser_403, &mut out.bad_gateway] {
        if t.source.is_empty() {
            t.source = source.to_string();
        } else if !t.source.split(", ").any(|s| s == source) {
            t.source = format!("{}, {source}", t.source);
        }
    }
    for line in text.lines() {
        let Some((when, request, status, ua)) = parse_combined(line) else {
            continue;
        };
        if when < since {
            continue;
        }
        let path = request.split_whitespace().nth(1).unwrap_or("");
        // dpwizard's own probes (apply's verification, the audit's live checks) are not users.
        if path.split('?').next() != Some(super::setup::WS_PATH) || ua.starts_with("dpwizard/") {
            continue;
        }
        out.requests += 1;
        match status {
            403 if ua.starts_with("DrawpileClient/") => out.app_403.add(line),
            403 => out.browser_403.add(line),
            502 | 504 => out.bad_gateway.add(line),
            _ => {}
        }
    }
}

/// `7d`, `12h`, `30m` as seconds.
pub fn parse_since(s: &str) -> Result<i64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("--since {s:?}: say a number and a unit, e.g. 7d, 12h or 30m"))?;
    let mul = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        _ => return Err(format!("--since {s:?}: the unit must be d, h or m")),
    };
    if n == 0 || n > 3650 * 86_400 / mul {
        return Err(format!(
            "--since {s:?}: must be more than 0 and at most 10 years"
        ));
    }
    Ok(n * mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stand-in's per-client line, as recorded from the real 2.3.0.
    const PEER: &str = "2026-11-24T03:08:09Z Info/Status 0;127.0.0.1;: New WebSocket client connected from 127.0.0.1 (IP from WebSocket peer address, Origin 'https://web.drawpile.net')";

    #[test]
    fn server_log_counts_peer_addresses_and_socket_errors() {
        let text = format!(
            "{PEER}\n2026-11-24T03:09:00Z Info/Status 1;203.0.113.5;: New WebSocket client connected from 203.0.113.5 (IP from X-Real-IP header, Origin 'https://web.drawpile.net')\n\
             Got 3 file descriptor(s), but socket activation is no longer supported. Uninstall systemd from drawpile-srv.socket and try again.\n"
        );
        let l = server_log(&text, "journalctl -u drawpile-srv.service");
        assert_eq!(l.websocket_clients, 2);
        assert_eq!(l.peer_address.count, 1);
        assert_eq!(l.socket_errors.count, 1);
        assert!(l.peer_address.evidence()[1].contains("peer address"));
    }

    #[test]
    fn access_log_classifies_refusals_and_gateway_errors_in_the_window() {
        let since = parse_time_local("24/Nov/2026:00:00:00 +0000").unwrap();
        let text = "\
203.0.113.7 - - [24/Nov/2026:03:08:09 +0000] \"GET /drawpile-web/ws HTTP/1.1\" 403 153 \"-\" \"DrawpileClient/2.3.0\"
203.0.113.8 - - [24/Nov/2026:04:00:00 +0100] \"GET /drawpile-web/ws HTTP/1.1\" 403 153 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"
203.0.113.9 - - [24/Nov/2026:05:00:00 +0000] \"GET /drawpile-web/ws HTTP/1.1\" 502 157 \"-\" \"Mozilla/5.0\"
203.0.113.9 - - [24/Nov/2026:05:00:01 +0000] \"GET /drawpile-web/ws HTTP/1.1\" 101 0 \"-\" \"Mozilla/5.0\"
203.0.113.9 - - [23/Nov/2026:23:59:59 +0000] \"GET /drawpile-web/ws HTTP/1.1\" 504 0 \"-\" \"Mozilla/5.0\"
203.0.113.9 - - [24/Nov/2026:05:00:02 +0000] \"GET /other HTTP/1.1\" 403 0 \"-\" \"DrawpileClient/2.3.0\"
127.0.0.1 - - [24/Nov/2026:05:00:03 +0000] \"GET /drawpile-web/ws HTTP/1.1\" 403 0 \"-\" \"dpwizard/0.1.0\"
garbage line
";
        let mut a = AccessLog::default();
        access_log(&mut a, text, "/var/log/nginx/access.log", since);
        assert_eq!(a.requests, 4);
        assert_eq!(
            (a.app_403.count, a.browser_403.count, a.bad_gateway.count),
            (1, 1, 1)
        );
        assert!(a.app_403.latest.as_deref().unwrap().contains("203.0.113.7"));
    }

    #[test]
    fn time_zones_and_since_units() {
        assert_eq!(
            parse_time_local("24/Nov/2026:04:00:00 +0100"),
            parse_time_local("24/Nov/2026:03:00:00 +0000")
        );
        assert_eq!(parse_since("7d"), Ok(604_800));
        assert_eq!(parse_since("12h"), Ok(43_200));
        assert!(parse_since("7").is_err());
        assert!(parse_since("0d").is_err());
        assert!(parse_since("xd").is_err());
    }
}
