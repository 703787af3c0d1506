//! Bounded property runs of the parsers that read files someone else wrote (nginx, systemd
//! units, compose, answers, and the Apache and Caddy routes the audit judges): a few hundred generated inputs each, seconds in all. None may
//! panic; the lossless ones print back exactly what they read.

use proptest::prelude::*;
use proptest::test_runner::Config;

use dpwizard::formats::nginx::Config as Nginx;
use dpwizard::formats::systemd_unit::{UnitFile, split_exec};

/// 300 cases from a fixed seed, so the suite is repeatable; `PROPTEST_RNG_SEED=N` explores
/// other inputs (a failure prints the smallest input that fails).
fn config() -> Config {
    let mut c = Config {
        cases: 300,
        // No regression files written into the source tree.
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = proptest::test_runner::RngSeed::Fixed(0x0d5a_7e57);
    }
    c
}

/// Text made of a format's own tokens, some hostile characters, and any character.
fn text_of(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => proptest::sample::select(tokens).prop_map(str::to_string),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(token, 0..120).prop_map(|v| v.concat())
}

const NGINX: &[&str] = &[
    "server",
    "location",
    "listen",
    "443",
    "ssl",
    " ",
    " ",
    "\n",
    "\t",
    "{",
    "}",
    ";",
    "#",
    "\"",
    "'",
    "\\",
    "$host",
    "${x}",
    "/drawpile-web/ws",
    "content_by_lua_block",
    "include",
    "é",
    "\u{202e}",
    "\r\n",
];

const UNIT: &[&str] = &[
    "[Service]",
    "[Unit]",
    "[Install]",
    "\n",
    " ",
    "=",
    "ExecStart",
    "ExecStart=",
    "\\\n",
    "#",
    ";",
    "\"",
    "'",
    "\\",
    "%i",
    "%%",
    "-",
    "@",
    "/usr/bin/drawpile-srv",
    "--port",
    "27750",
    "\\x41",
    "\t",
    "\r",
];

const COMPOSE: &[&str] = &[
    "services:",
    "\n",
    "  ",
    "    ",
    "drawpile-srv:",
    "image: drawpile/drawpile-srv:2.3",
    "command:",
    "ports:",
    "- ",
    "\"27750:27750\"",
    "[",
    "]",
    ",",
    "{",
    "}",
    "#",
    "'",
    "\"",
    ": ",
    "&a",
    "*a",
    "<<",
    "---",
    "\t",
    "27751",
];

const ANSWERS: &[&str] = &[
    "[site]",
    "[drawpile]",
    "[tls]",
    "[proxy]",
    "\n",
    " ",
    "=",
    "domain",
    "email",
    "mode",
    "websocket_port",
    "\"paint.example.com\"",
    "\"self-signed\"",
    "27751",
    "\"",
    "'",
    "[",
    "]",
    "#",
    "-",
    "\\",
    "extra_origins",
    ",",
    "70000",
    "\"\"\"",
];

/// Well-formed nginx text (nested blocks, quotes, comments, odd spacing): always parses.
fn nginx_valid() -> impl Strategy<Value = String> {
    let word = proptest::sample::select(
        &[
            "listen",
            "443",
            "ssl",
            "\"a b\"",
            "'c;d'",
            "$host",
            "/x",
            "server_name",
            "é",
            "a\\;b",
        ][..],
    );
    let space = proptest::sample::select(&[" ", "  ", "\t", "\n", " # note\n"][..]);
    let leaf = (
        word.clone(),
        proptest::collection::vec((space.clone(), word.clone()), 0..3),
    )
        .prop_map(|(n, args)| {
            let args: String = args.into_iter().map(|(s, w)| format!("{s}{w}")).collect();
            format!("{n}{args};\n")
        });
    leaf.prop_recursive(4, 40, 6, move |inner| {
        (
            proptest::sample::select(&["server", "location /", "http", "if ($x)"][..]),
            proptest::collection::vec(inner, 0..6),
            space.clone(),
        )
            .prop_map(|(n, body, s)| format!("{n}{s}{{\n{}}}\n", body.concat()))
    })
}

/// Apache directives and arguments the audit's route reading looks at.
const APACHE: &[&str] = &[
    "ProxyPass ",
    "RewriteRule ",
    "RewriteCond %{HTTP:Origin} ",
    "RewriteEngine On\n",
    "RequestHeader set X-Real-IP ",
    "<Location /drawpile-web/ws>\n",
    "</Location>\n",
    "SetEnv force-proxy-request-1.0 1\n",
    "/drawpile-web/ws ",
    "ws://127.0.0.1:27751",
    "http://[::1",
    "upgrade=websocket",
    "!^(https://web\\.x)?$",
    "=",
    "!",
    "[F]",
    "[L]",
    "[P]",
    "[OR,NC]",
    "(",
    "\\",
    "\"",
    " ",
    "\n",
];

/// Caddyfile tokens the audit's route reading looks at.
const CADDY: &[&str] = &[
    "handle ",
    "route ",
    "reverse_proxy ",
    "respond ",
    "@m ",
    "not ",
    "header Origin ",
    "header_regexp Origin ",
    "path ",
    "/drawpile-web/ws ",
    "/* ",
    "* ",
    "try_files {path} /i\n",
    "header_up X-Real-IP {remote_host}\n",
    "transport http {\nversions h2c\n}\n",
    "127.0.0.1:27751 ",
    "[::1",
    "h2c://",
    ":",
    "(",
    "*x*",
    "{",
    "}",
    "\n",
    " ",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn well_formed_nginx_always_parses_and_prints_back(text in nginx_valid()) {
        let c = Nginx::parse(&text);
        prop_assert!(c.is_ok(), "{:?}: {:?}", text, c.err());
        prop_assert_eq!(c.map(|c| c.to_string()).unwrap_or_default(), text);
    }

    #[test]
    fn nginx_parses_or_errors_and_prints_back_exactly(text in text_of(NGINX)) {
        match Nginx::parse(&text) {
            Ok(c) => prop_assert_eq!(c.to_string(), text),
            Err(e) => prop_assert!(e.line >= 1 && e.column >= 1, "{}", e),
        }
    }

    #[test]
    fn unit_files_print_back_exactly(text in text_of(UNIT)) {
        prop_assert_eq!(UnitFile::parse(&text).to_string(), text.clone());
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("ExecStart=")
                && let Ok(cmd) = split_exec(v)
            {
                prop_assert_eq!(cmd.raw.len(), cmd.argv.len());
            }
        }
    }

    #[test]
    fn compose_reading_and_editing_never_panic(text in text_of(COMPOSE)) {
        let _ = dpwizard::detect::docker::parse_compose(&text);
        let argv = ["--websocket-port".to_string(), "27751".to_string()];
        use dpwizard::formats::compose::{remove_port, set_command, set_port};
        if let Ok(out) = set_command(&text, "drawpile-srv", &argv)
            .and_then(|t| set_port(&t, "drawpile-srv", 27751, "127.0.0.1:27751:27751"))
        {
            prop_assert!(out.contains("27751"));
        }
        let _ = remove_port(&text, "drawpile-srv", 27751);
    }

    #[test]
    fn answers_errors_always_point_into_the_file(text in text_of(ANSWERS)) {
        if let Err(e) = dpwizard::answers::parse("a.toml", &text) {
            let lines = text.split('\n').count();
            prop_assert!(!e.errors.is_empty());
            for err in &e.errors {
                prop_assert!(err.line >= 1 && err.line <= lines, "{}", e.render());
            }
        }
    }

    #[test]
    fn apache_routes_are_judged_without_panicking(body in text_of(APACHE)) {
        let text = format!("<VirtualHost *:443>\nServerName d.example\nSSLEngine on\n{body}\n</VirtualHost>\n");
        let files = dpwizard::proxy::Files(vec![("/a.conf".into(), text)]);
        let modules = vec!["proxy".to_string()];
        let server = dpwizard::proxy::apache::Server { modules: Some(&modules), version: Some("2.4.62"), load_module_lines: false };
        if let Some(site) = dpwizard::proxy::apache::site(&files, None, "d.example", server) {
            prop_assert_eq!(site.at.as_str(), "/a.conf:1");
            // A route proxies somewhere, or says why it does not.
            prop_assert!(site.route.target.is_some() == site.route.no_target.is_empty());
            for o in ["", "https://web.drawpile.net", "https://evil.example"] {
                let _ = site.route.origin.refused_by(o);
            }
            let _ = site.route.origin.extra_origins();
        }
        let _ = dpwizard::proxy::apache::domain_with_route(&files, None);
    }

    #[test]
    fn caddy_routes_are_judged_without_panicking(body in text_of(CADDY)) {
        let text = format!("d.example {{\n{body}\n}}\n");
        let files = dpwizard::proxy::Files(vec![("/c".into(), text)]);
        if let Some(site) = dpwizard::proxy::caddy::site(&files, "d.example") {
            prop_assert_eq!(site.at.as_str(), "/c:1");
            prop_assert!(site.route.target.is_some() == site.route.no_target.is_empty());
            for o in ["", "https://web.drawpile.net", "https://evil.example"] {
                let _ = site.route.origin.refused_by(o);
            }
            let _ = site.route.origin.extra_origins();
        }
        let _ = dpwizard::proxy::caddy::domain_with_route(&files);
    }
}
