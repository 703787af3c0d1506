//! The state machine without a terminal: defaults from Facts, validation, the sequence of
//! questions, back, quit, review and apply, and the saved answers.

use super::*;
use crate::detect::drawpile::{DrawpileBinary, WebSocketSupport};
use crate::detect::network::Listener;
use crate::detect::nginx::{NginxListen, NginxServer};
use crate::detect::systemd::ServiceUnit;

/// A Debian VPS: drawpile-srv 2.2.2 run by a unit with `--websocket-port 27760`, nginx with
/// a TLS server for paint.example.com, and another program on port 8080.
pub(crate) fn facts() -> Facts {
    let mut f = Facts::default();
    f.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
    f.os.is_root = true;
    f.drawpile.binaries.push(DrawpileBinary {
        path: "/usr/local/bin/drawpile-srv".into(),
        canonical: "/usr/local/bin/drawpile-srv".into(),
        found_via: vec!["unit drawpile-srv.service".into()],
        version: Some("2.2.2".into()),
        websocket: WebSocketSupport {
            supported: Some(true),
            reason: "from --version".into(),
        },
        ..Default::default()
    });
    f.runtime.kind = RuntimeKind::SystemdService;
    let argv = ["--port", "27750", "--websocket-port", "27760"];
    f.runtime.units.push(ServiceUnit {
        name: "drawpile-srv.service".into(),
        path: "/lib/systemd/system/drawpile-srv.service".into(),
        exec_start: Some(
            std::iter::once("/usr/local/bin/drawpile-srv")
                .chain(argv)
                .map(String::from)
                .collect(),
        ),
        options: DrawpileArgs::parse(&argv),
        ..Default::default()
    });
    f.nginx.conf_path = Some("/etc/nginx/nginx.conf".into());
    f.nginx.servers.push(NginxServer {
        file: "/etc/nginx/sites-enabled/paint".into(),
        line: 5,
        server_names: vec!["paint.example.com".into()],
        listen: vec![NginxListen {
            port: Some(443),
            ssl: true,
            ..Default::default()
        }],
        ssl: true,
        ssl_certificate: Some("/etc/ssl/paint.pem".into()),
        ssl_certificate_key: Some("/etc/ssl/paint.key".into()),
        ..Default::default()
    });
    f.network.visible = true;
    f.network.listeners.push(Listener {
        address: "0.0.0.0".into(),
        port: 8080,
        process: Some("python3".into()),
        ..Default::default()
    });
    f
}

fn answer(w: &mut Wizard, raw: &str) -> Effect {
    w.handle(Input::Answer(raw.into()))
}

fn at(w: &Wizard) -> QId {
    match w.phase {
        Phase::Asking(q) => q,
        ref p => panic!("not asking: {p:?}"),
    }
}

#[test]
fn defaults_come_from_detection() {
    let w = Wizard::new(facts(), false);
    assert_eq!(
        w.question(QId::Runtime).default.as_deref(),
        Some("unit:drawpile-srv.service")
    );
    assert_eq!(w.question(QId::WsPort).default.as_deref(), Some("27760"));
    assert_eq!(
        w.question(QId::Listen).default.as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        w.question(QId::Domain).default.as_deref(),
        Some("paint.example.com")
    );
    let welcome = w.question(QId::Welcome);
    assert!(
        welcome.context.contains(
            &"drawpile-srv 2.2.2 at /usr/local/bin, WebSocket support: yes — from --version"
                .to_string()
        ),
        "{:?}",
        welcome.context
    );
    assert!(welcome.blockers.is_empty(), "{:?}", welcome.blockers);
}

#[test]
fn with_nothing_configured_the_port_is_drawpiles_default() {
    let mut f = facts();
    f.runtime.units[0].options = DrawpileArgs::default();
    let w = Wizard::new(f, false);
    assert_eq!(
        w.question(QId::WsPort).default,
        Some(DEFAULT_WEBSOCKET_PORT.to_string())
    );
    assert_eq!(DEFAULT_WEBSOCKET_PORT, 27751);
}

#[test]
fn blockers_say_what_to_do() {
    let mut f = facts();
    f.drawpile.binaries[0].websocket = WebSocketSupport {
        supported: Some(false),
        reason: "QtWebSockets: no".into(),
    };
    f.os.is_root = false;
    f.nginx.conf_path = None;
    let b = Wizard::new(f.clone(), true).question(QId::Welcome).blockers;
    assert!(b.iter().any(|l| l.contains("sudo dpwizard")), "{b:?}");
    assert!(
        b.iter()
            .any(|l| l.contains("no WebSocket support (QtWebSockets: no)")
                && l.contains("drawpile-srv 2.3")),
        "{b:?}"
    );
    // nginx missing: with apt it is installed by apply (no blocker), without it the admin must.
    assert!(
        b.iter().any(|l| l.contains("nginx is not installed")),
        "{b:?}"
    );
    let mut with_apt = f.clone();
    with_apt.os.package_manager = Some("apt".into());
    let b2 = Wizard::new(with_apt, true).question(QId::Welcome).blockers;
    assert!(!b2.iter().any(|l| l.contains("nginx")), "{b2:?}");
    // Under --root, not being root is no blocker (nothing runs as the machine's root).
    let b = Wizard::new(f.clone(), false)
        .question(QId::Welcome)
        .blockers;
    assert!(!b.iter().any(|l| l.contains("sudo")), "{b:?}");
    // nginx serving 443 from a container (dpserver): never advise a second nginx on 443.
    f.nginx_containers = vec![crate::detect::nginx::NginxContainer {
        service: "nginx".into(),
        compose_file: "/root/dpserver/docker-compose.yaml".into(),
        ports: vec![crate::detect::docker::PublishedPort {
            host_ip: String::new(),
            host_port: Some(443),
            container_port: 443,
            protocol: "tcp".into(),
        }],
        ..Default::default()
    }];
    let b = Wizard::new(f, false).question(QId::Welcome).blockers;
    assert!(
        !b.iter().any(|l| l.contains("apt-get install nginx")),
        "{b:?}"
    );
    assert!(
        b.iter().any(|l| l
            .contains("nginx runs in compose service nginx (/root/dpserver/docker-compose.yaml)")),
        "{b:?}"
    );
}

#[test]
fn no_server_but_docker_offers_the_official_image() {
    let mut f = facts();
    f.drawpile.binaries.clear();
    f.runtime.units.clear();
    f.runtime.kind = RuntimeKind::None;
    f.runtime.docker.cli = Some("/usr/bin/docker".into());
    let w = Wizard::new(f, false);
    let q = w.question(QId::Runtime);
    assert_eq!(q.default.as_deref(), Some("new-container"));
    assert_eq!(q.choices.len(), 1);
    // A container publishes on loopback: no listen address to ask.
    assert!(!w.sequence().contains(&QId::Listen));
    assert!(!w.steps().iter().any(|(s, _)| *s == Step::Listen));
}

#[test]
fn the_port_validator_refuses_bad_busy_and_clashing_ports() {
    let w = Wizard::new(facts(), false);
    let err = |raw: &str| w.validate(QId::WsPort, raw).unwrap_err();
    assert!(err("70000").contains("out of range"));
    assert!(err("http").contains("not a port number"));
    assert!(err("27750").contains("already drawpile's TCP"));
    assert!(err("8080").contains("busy (python3 listens on 0.0.0.0)"));
    assert_eq!(w.validate(QId::WsPort, "27770"), Ok(()));
}

#[test]
fn the_validators_are_the_answers_files() {
    let w = Wizard::new(facts(), false);
    for (id, raw) in [
        (QId::Domain, "203.0.113.7"),
        (QId::Listen, "localhost"),
        (QId::Email, "a;b@example.com"),
        (QId::Certificate, "relative/x.pem"),
        (QId::ExtraOrigins, "https://web.drawpile.net"),
        (
            QId::ExtraOrigins,
            "https://a.example.org https://a.example.org",
        ),
        (QId::TlsMode, "letsencrypt"),
    ] {
        let file_error = match id {
            QId::Domain => DomainName::parse(raw).err().map(|e| e.0),
            QId::Listen => ListenAddress::parse(raw).err().map(|e| e.0),
            QId::Email => EmailAddress::parse(raw).err().map(|e| e.0),
            QId::Certificate => AbsPath::parse(raw).err().map(|e| e.0),
            _ => None,
        };
        let got = w.validate(id, raw).unwrap_err();
        if let Some(expected) = file_error {
            assert_eq!(got, expected, "{id:?} {raw:?}");
        }
    }
    assert!(
        w.validate(QId::ExtraOrigins, "https://web.drawpile.net")
            .unwrap_err()
            .contains("always allowed")
    );
    // Optional fields take an empty answer; required ones do not.
    assert_eq!(w.validate(QId::Email, ""), Ok(()));
    assert!(w.validate(QId::Domain, "").is_err());
}

#[test]
fn an_invalid_answer_stays_on_the_question_with_the_error() {
    let mut w = Wizard::new(facts(), false);
    answer(&mut w, "");
    answer(&mut w, "");
    assert_eq!(at(&w), QId::WsPort);
    assert_eq!(answer(&mut w, "0"), Effect::None);
    assert_eq!(at(&w), QId::WsPort);
    assert!(
        w.error
            .as_deref()
            .is_some_and(|e| e.contains("out of range"))
    );
    answer(&mut w, "27770");
    assert_eq!(at(&w), QId::Listen);
    assert_eq!(w.error, None);
}

#[test]
fn back_keeps_every_answer() {
    let mut w = Wizard::new(facts(), false);
    for raw in ["", "", "27770", "::1"] {
        answer(&mut w, raw);
    }
    assert_eq!(at(&w), QId::Domain);
    w.handle(Input::Back);
    w.handle(Input::Back);
    assert_eq!(at(&w), QId::WsPort);
    assert_eq!(w.question(QId::WsPort).default.as_deref(), Some("27770"));
    assert_eq!(w.question(QId::Listen).default.as_deref(), Some("::1"));
    // Back at the first question stays there.
    for _ in 0..5 {
        w.handle(Input::Back);
    }
    assert_eq!(at(&w), QId::Welcome);
}

#[test]
fn later_questions_follow_earlier_answers() {
    let mut w = Wizard::new(facts(), false);
    // The server has a certificate: existing, nothing more to ask.
    assert_eq!(
        w.question(QId::TlsMode).default.as_deref(),
        Some("existing")
    );
    let seq = w.sequence();
    assert!(!seq.contains(&QId::Email) && !seq.contains(&QId::Certificate));
    for raw in ["", "", "", "", "other.example.com"] {
        answer(&mut w, raw);
    }
    // Another domain has no certificate here: certbot, which asks for an e-mail.
    assert_eq!(at(&w), QId::TlsMode);
    assert_eq!(w.question(QId::TlsMode).default.as_deref(), Some("certbot"));
    answer(&mut w, "");
    assert_eq!(at(&w), QId::Email);
    w.handle(Input::Back);
    answer(&mut w, "existing");
    // Existing with nothing found: the paths are asked.
    assert_eq!(at(&w), QId::Certificate);
}

#[test]
fn quit_asks_first_and_no_keeps_going() {
    let mut w = Wizard::new(facts(), false);
    answer(&mut w, "");
    assert_eq!(w.handle(Input::Quit), Effect::None);
    assert!(w.confirm_quit);
    assert_eq!(w.handle(Input::ConfirmQuit(false)), Effect::None);
    assert!(!w.confirm_quit);
    assert_eq!(at(&w), QId::Runtime);
    w.handle(Input::Quit);
    assert_eq!(w.handle(Input::ConfirmQuit(true)), Effect::Exit(0));
}

/// Answers every question with its default, then the origins; returns the MakePlan effect.
fn to_review(w: &mut Wizard) -> Answers {
    loop {
        let e = if at(w) == QId::ExtraOrigins {
            answer(w, "https://paint.example.org, https://b.example.org:8443")
        } else {
            answer(w, "")
        };
        if let Effect::MakePlan(a) = e {
            return a;
        }
        assert_eq!(e, Effect::None);
    }
}

#[test]
fn the_answers_are_typed_and_the_saved_file_reads_back_the_same() {
    let mut w = Wizard::new(facts(), false);
    let a = to_review(&mut w);
    assert_eq!(a.drawpile.runtime, Some(Runtime::SystemdService));
    assert_eq!(
        a.drawpile.unit.as_ref().map(|u| u.as_str()),
        Some("drawpile-srv.service")
    );
    assert_eq!(a.drawpile.websocket_port.map(|p| p.get()), Some(27760));
    assert_eq!(a.site.domain.as_str(), "paint.example.com");
    assert_eq!(a.tls.mode, Some(TlsMode::Existing));
    assert_eq!(a.proxy.extra_origins.len(), 2);
    let text = w.answers_toml().unwrap();
    assert_eq!(
        crate::answers::parse("saved.toml", &text).unwrap(),
        a,
        "{text}"
    );
    // Each key carries its question's reason.
    assert!(
        text.contains("# The certificate and the invite links are for this name.\ndomain = "),
        "{text}"
    );
}

#[test]
fn review_apply_and_the_end() {
    let mut w = Wizard::new(facts(), false);
    let a = to_review(&mut w);
    assert_eq!(w.step(), Step::Review);
    // Apply waits for the plan; a plan that cannot be made cannot be applied.
    assert_eq!(answer(&mut w, ""), Effect::None);
    w.handle(Input::Planned(Err("nginx is not configured".into())));
    assert_eq!(answer(&mut w, ""), Effect::None);
    assert_eq!(w.step(), Step::Review);
    let plan = Plan {
        actions: vec![crate::plan::Action {
            argv: vec!["systemctl".into(), "daemon-reload".into()],
            why: "test".into(),
        }],
        ..Default::default()
    };
    w.handle(Input::Planned(Ok(plan.clone())));
    assert_eq!(answer(&mut w, ""), Effect::Apply(a, Box::new(plan)));
    assert!(w.applied());
    // Nothing quits half way through an apply.
    assert_eq!(w.handle(Input::Quit), Effect::None);
    assert!(!w.confirm_quit);
    w.handle(Input::Progress(Event::Written { id: "r1".into() }));
    w.handle(Input::Finished(1));
    assert_eq!(w.step(), Step::Verify);
    assert_eq!(w.events, vec![Event::Written { id: "r1".into() }]);
    // The end: no path, no file; the run's code is the exit code.
    assert_eq!(answer(&mut w, " "), Effect::Exit(1));
    match answer(&mut w, "/tmp/a.toml") {
        Effect::Save { path, text, code } => {
            assert_eq!((path.as_str(), code), ("/tmp/a.toml", 1));
            assert!(text.contains("domain = \"paint.example.com\""), "{text}");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn save_answers_saves_without_asking_even_when_quitting_at_the_end() {
    let mut w = Wizard::new(facts(), false);
    w.save_to = Some("/tmp/given.toml".into());
    to_review(&mut w);
    w.handle(Input::Planned(Ok(Plan::default())));
    answer(&mut w, "");
    assert_eq!(w.phase, Phase::Done { code: 0 });
    w.handle(Input::Quit);
    match w.handle(Input::ConfirmQuit(true)) {
        Effect::Save { path, .. } => assert_eq!(path, "/tmp/given.toml"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn the_browser_client_is_off_unless_chosen_and_the_warning_accepted() {
    // By default: asked once, answered no, nothing hosted.
    let mut w = Wizard::new(facts(), false);
    let a = to_review(&mut w);
    assert_eq!(a.web_client, crate::answers::WebClientAnswers::default());
    let q = w.question(QId::WebClient);
    assert_eq!((q.kind, q.default.as_deref()), (Kind::YesNo, Some("no")));
    // Yes: the directory (validated like the answers file's), then the page's warning,
    // which only an explicit yes accepts (its default is no).
    let mut w = Wizard::new(facts(), false);
    while at(&w) != QId::WebClient {
        if at(&w) == QId::ExtraOrigins {
            answer(&mut w, "https://paint.example.org");
        } else {
            answer(&mut w, "");
        }
    }
    answer(&mut w, "yes");
    assert_eq!(at(&w), QId::WebClientDir);
    assert!(
        w.validate(QId::WebClientDir, "/etc/web")
            .unwrap_err()
            .contains("under /etc")
    );
    answer(&mut w, "/srv/drawpile-web");
    assert_eq!(at(&w), QId::WebClientAck);
    let ack = w.question(QId::WebClientAck);
    assert!(
        ack.why
            .contains("https://web.drawpile.net works with every properly configured server")
    );
    assert!(ack.why.contains("GPL"));
    assert_eq!(ack.default.as_deref(), Some("no"));
    let Effect::MakePlan(a) = answer(&mut w, "") else {
        panic!("no plan")
    };
    assert!(!a.web_client.enabled, "{a:?}");
    w.handle(Input::Back);
    assert_eq!(at(&w), QId::WebClientAck);
    let Effect::MakePlan(a) = answer(&mut w, "yes") else {
        panic!("no plan")
    };
    assert!(a.web_client.enabled && a.web_client.acknowledged);
    assert_eq!(
        a.web_client.directory.as_ref().map(|d| d.as_str()),
        Some("/srv/drawpile-web")
    );
    // The saved file enables it the same way.
    let saved = w.answers_toml().unwrap();
    assert!(saved.contains("[web_client]\n"), "{saved}");
    assert_eq!(
        crate::answers::parse("s.toml", &saved).unwrap().web_client,
        a.web_client
    );
}

#[test]
fn back_from_review_returns_to_the_last_question() {
    let mut w = Wizard::new(facts(), false);
    to_review(&mut w);
    w.handle(Input::Back);
    assert_eq!(at(&w), QId::WebClient);
    w.handle(Input::Back);
    assert_eq!(at(&w), QId::ExtraOrigins);
    assert_eq!(
        w.question(QId::ExtraOrigins).default.as_deref(),
        Some("https://paint.example.org, https://b.example.org:8443")
    );
}

#[test]
fn well_known_and_privileged_ports_are_refused_even_under_root() {
    // live = false: as under --root, where no listening socket is visible to refuse them.
    let mut f = facts();
    f.network.visible = false;
    f.network.listeners.clear();
    let w = Wizard::new(f, false);
    for (port, whose) in [
        ("80", "HTTP port"),
        ("443", "HTTPS port"),
        ("22", "SSH's port"),
        ("1023", "a privileged port"),
    ] {
        let e = w.validate(QId::WsPort, port).unwrap_err();
        assert!(e.contains(whose) && e.contains("above 1023"), "{port}: {e}");
    }
    assert_eq!(w.validate(QId::WsPort, "1024"), Ok(()));
}

#[test]
fn messages_name_the_question_not_the_answers_file_key() {
    let w = Wizard::new(facts(), false);
    let e = w.validate(QId::WsPort, "8080").unwrap_err();
    assert!(e.contains("choose another WebSocket port"), "{e}");
    assert!(!e.contains("drawpile."), "{e}");
    assert_eq!(
        in_words("the server on 443 has its own certificate: use tls.mode = \"existing\""),
        "the server on 443 has its own certificate: use the certificate choice \"existing\""
    );
    assert_eq!(
        in_words("several drawpile units: say which one with drawpile.unit"),
        "several drawpile units: say which one with the drawpile-srv choice"
    );
    // A planner error reaches the review in words too.
    let mut w = Wizard::new(facts(), false);
    to_review(&mut w);
    w.handle(Input::Planned(Err(
        "tls.mode = \"existing\" but no certificate".into(),
    )));
    assert_eq!(
        w.phase,
        Phase::Review(Some(Err(
            "the certificate choice \"existing\" but no certificate".into()
        )))
    );
}

#[test]
fn the_step_counter_goes_on_past_the_questions() {
    let mut w = Wizard::new(facts(), false);
    assert_eq!(w.step_counter(), (1, 11));
    to_review(&mut w);
    assert_eq!(w.step_counter(), (9, 11));
    w.phase = Phase::Applying;
    assert_eq!(w.step_counter(), (10, 11));
    w.phase = Phase::Done { code: 0 };
    assert_eq!(w.step_counter(), (11, 11));
}

#[test]
fn commands_in_the_wizards_text_repeat_the_root() {
    let mut w = Wizard::new(facts(), false);
    w.invocation = crate::ui::shell::Invocation::new(std::path::Path::new("/mnt/my vps"), None);
    let help = w.question(QId::Welcome).help;
    assert!(
        help.contains("`dpwizard --root '/mnt/my vps' rollback` undoes it"),
        "{help}"
    );
    to_review(&mut w);
    let text = w.answers_toml().unwrap();
    assert!(
        text.contains("sudo dpwizard --root '/mnt/my vps' apply --answers THIS-FILE"),
        "{text}"
    );
}

#[test]
fn the_wizard_offers_only_the_web_server_in_front() {
    // nginx serves 443 (by its configuration): nginx, with the TLS and site questions.
    let w = Wizard::new(facts(), false);
    let q = w.question(QId::ProxyServer);
    assert_eq!(
        q.choices.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
        ["nginx"]
    );
    assert!(w.sequence().contains(&QId::TlsMode));
    assert!(w.sequence().contains(&QId::SiteFile));
    // Apache answers on 443: Apache only, with the reason; no certificate or nginx site
    // question; the answers name it and leave TLS alone.
    let mut f = facts();
    f.web_servers.push(crate::detect::webserver::WebServer {
        name: "apache".into(),
        listens_443: Some(true),
        serves_443_by_config: true,
        ..Default::default()
    });
    let w = Wizard::new(f, false);
    let q = w.question(QId::ProxyServer);
    assert_eq!(
        q.choices.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
        ["apache"]
    );
    assert_eq!(q.default.as_deref(), Some("apache"));
    assert!(
        q.help.starts_with("Apache serves port 443 here") && q.help.contains("fight it"),
        "{}",
        q.help
    );
    assert!(q.blockers.is_empty(), "{:?}", q.blockers);
    let seq = w.sequence();
    for gone in [QId::TlsMode, QId::Certificate, QId::Key, QId::SiteFile] {
        assert!(!seq.contains(&gone), "{gone:?} asked with Apache in front");
    }
    assert!(w.validate(QId::ProxyServer, "nginx").is_err());
    let a = w.answers().unwrap();
    assert_eq!(a.proxy.server, Some(ProxyServer::Apache));
    assert_eq!(a.tls.mode, None);
    assert_eq!(a.proxy.site_file, None);
}

/// A Compose project whose drawpile-srv image is Drawpile's former 2.1 one.
fn compose_2_1() -> Facts {
    use crate::detect::docker::{ComposeFile, ComposeService, DrawpileImage};
    let mut f = Facts::default();
    f.os.is_root = true;
    f.runtime.kind = RuntimeKind::Compose;
    f.runtime.compose.files.push(ComposeFile {
        path: "/root/dpserver/docker-compose.yaml".into(),
        project_dir: "/root/dpserver".into(),
        project_name: "dpserver".into(),
        services: vec![ComposeService {
            name: "drawpile-srv".into(),
            image: "callaa/drawpile-srv:2.1.20".into(),
            drawpile: Some(DrawpileImage {
                image: "callaa/drawpile-srv:2.1.20".into(),
                recognised_by: "former official image".into(),
                version: Some("2.1.20".into()),
                note: None,
            }),
            ..Default::default()
        }],
        ..Default::default()
    });
    f
}

#[test]
fn a_compose_image_too_old_for_websockets_stops_at_the_welcome_with_what_to_run() {
    let w = Wizard::new(compose_2_1(), false);
    let stopped = w.stopped();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert!(
        stopped[0].starts_with(
            "compose service drawpile-srv runs callaa/drawpile-srv:2.1.20 (former official \
             image): 2.1.20 is too old for WebSockets"
        ),
        "{stopped:?}"
    );
    assert!(
        stopped[0].ends_with(
            "change its image to drawpile/drawpile-srv:2.3 (dpserver: DP_VERSION in .env)"
        ),
        "{stopped:?}"
    );
    // Not "install Docker": the server is there, in an image.
    assert!(!stopped[0].contains("apt-get"), "{stopped:?}");
    let mut w = w;
    assert_eq!(
        w.handle(Input::Answer(String::new())),
        Effect::Exit(crate::exit::USAGE)
    );
    // A 2.3 image goes on to the questions.
    let mut f = compose_2_1();
    let svc = &mut f.runtime.compose.files[0].services[0];
    svc.drawpile.as_mut().unwrap().version = Some("2.3.0".into());
    assert!(Wizard::new(f, false).stopped().is_empty());
}

/// With Caddy in front, the domain and the extra origins default to its site's and its
/// route's, judged from the files the caller passes in: the wizard reads none itself.
#[test]
fn with_caddy_in_front_the_defaults_come_from_its_site_in_the_files_passed_in() {
    use crate::plan::front_caddy::CADDYFILE;
    let mut f = facts();
    f.nginx = Default::default();
    f.web_servers.push(crate::detect::webserver::WebServer {
        name: "caddy".into(),
        serves_443_by_config: true,
        ..Default::default()
    });
    f.caddy.caddyfile = Some(CADDYFILE.into());
    f.caddy.files = vec![CADDYFILE.into()];
    let caddyfile = "other.example.org {\n\treverse_proxy 127.0.0.1:9000\n}\n\n\
draw.example.net {\n\t@bad {\n\t\theader Origin *\n\t\tnot {\n\
\t\t\theader Origin https://web.drawpile.net\n\t\t\theader Origin https://web.foxdice.cn\n\
\t\t\theader Origin https://paint.example.org\n\t\t}\n\t}\n\
\thandle /drawpile-web/ws {\n\t\trespond @bad 403\n\
\t\treverse_proxy 127.0.0.1:27760 {\n\t\t\theader_up X-Real-IP {remote_host}\n\t\t}\n\t}\n}\n";
    let mut w = Wizard::new(f, false);
    // Without the files: nothing to default to.
    assert_eq!(w.question(QId::Domain).default, None);
    assert_eq!(w.question(QId::ExtraOrigins).default, None);
    w.front_files = crate::proxy::Files(vec![(CADDYFILE.into(), caddyfile.into())]);
    let domain = w.question(QId::Domain);
    assert_eq!(domain.default.as_deref(), Some("draw.example.net"));
    assert_eq!(
        domain.context,
        [format!(
            "Caddy serves draw.example.net with TLS ({CADDYFILE}:5)"
        )]
    );
    assert_eq!(
        w.question(QId::ExtraOrigins).default.as_deref(),
        Some("https://paint.example.org")
    );
}
