//! The interactive wizard's question model and state machine: steps, questions with
//! defaults computed from Facts (by the planner's own default functions), validators (the
//! model types' parsers the answers file uses), and `handle(Input) -> Effect`.
//! Pure: no terminal, no machine. `tui` and `plain` are the two front ends driving it; the
//! effects they carry out (planning, applying, saving) are named, not done, here.

pub mod plain;
pub mod run;
pub mod tui;

use std::collections::BTreeMap;

use crate::answers::{
    Answers, DrawpileAnswers, ProxyAnswers, ProxyServer, Runtime, SiteAnswers, SiteFile,
    TlsAnswers, TlsMode, WebClientAnswers,
};
use crate::apply::session::Event;
use crate::detect::Facts;
use crate::detect::args::DrawpileArgs;
use crate::detect::runtime::RuntimeKind;
use crate::model::*;
use crate::plan::Plan;
use crate::plan::decide::{
    DEFAULT_WEBSOCKET_LISTEN, DEFAULT_WEBSOCKET_PORT, configured_websocket_port, default_tls_mode,
    tls_server, websocket_port_problem,
};

/// The steps shown in the side list, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Welcome,
    Drawpile,
    Port,
    Listen,
    Domain,
    Tls,
    Proxy,
    WebClient,
    Review,
    Apply,
    Verify,
}

impl Step {
    pub const ALL: [Step; 11] = [
        Step::Welcome,
        Step::Drawpile,
        Step::Port,
        Step::Listen,
        Step::Domain,
        Step::Tls,
        Step::Proxy,
        Step::WebClient,
        Step::Review,
        Step::Apply,
        Step::Verify,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Step::Welcome => "Welcome",
            Step::Drawpile => "drawpile-srv",
            Step::Port => "WebSocket port",
            Step::Listen => "Listen address",
            Step::Domain => "Domain",
            Step::Tls => "TLS",
            Step::Proxy => "Reverse proxy",
            Step::WebClient => "Browser client",
            Step::Review => "Review",
            Step::Apply => "Apply",
            Step::Verify => "Verify",
        }
    }
}

/// One question. Each has a step, and is asked or skipped depending on earlier answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QId {
    Welcome,
    Runtime,
    WsPort,
    Listen,
    Domain,
    TlsMode,
    Email,
    Certificate,
    Key,
    ProxyServer,
    SiteFile,
    ExtraOrigins,
    /// Host the browser client too (discouraged; off by default).
    WebClient,
    WebClientDir,
    /// The page's warning, accepted with an explicit yes.
    WebClientAck,
}

impl QId {
    pub fn step(self) -> Step {
        match self {
            QId::Welcome => Step::Welcome,
            QId::Runtime => Step::Drawpile,
            QId::WsPort => Step::Port,
            QId::Listen => Step::Listen,
            QId::Domain => Step::Domain,
            QId::TlsMode | QId::Email | QId::Certificate | QId::Key => Step::Tls,
            QId::ProxyServer | QId::SiteFile | QId::ExtraOrigins => Step::Proxy,
            QId::WebClient | QId::WebClientDir | QId::WebClientAck => Step::WebClient,
        }
    }

    pub const ALL: [QId; 15] = [
        QId::Welcome,
        QId::Runtime,
        QId::WsPort,
        QId::Listen,
        QId::Domain,
        QId::TlsMode,
        QId::Email,
        QId::Certificate,
        QId::Key,
        QId::ProxyServer,
        QId::SiteFile,
        QId::ExtraOrigins,
        QId::WebClient,
        QId::WebClientDir,
        QId::WebClientAck,
    ];

    /// What the question is about, in the words a message to the admin uses.
    fn words(self) -> &'static str {
        match self {
            QId::Welcome => "",
            QId::Runtime => "the drawpile-srv choice",
            QId::WsPort => "WebSocket port",
            QId::Listen => "listen address",
            QId::Domain => "domain",
            QId::TlsMode => "the certificate choice",
            QId::Email => "e-mail address",
            QId::Certificate => "certificate path",
            QId::Key => "key path",
            QId::ProxyServer => "reverse proxy",
            QId::SiteFile => "nginx site",
            QId::ExtraOrigins => "other origins",
            QId::WebClient => "the browser client choice",
            QId::WebClientDir => "browser client directory",
            QId::WebClientAck => "the acknowledgement",
        }
    }

    /// The answers-file key this question fills (for the saved file's comments).
    fn key(self) -> Option<&'static str> {
        Some(match self {
            QId::Welcome => return None,
            QId::Runtime => "drawpile.runtime",
            QId::WsPort => "drawpile.websocket_port",
            QId::Listen => "drawpile.websocket_listen",
            QId::Domain => "site.domain",
            QId::TlsMode => "tls.mode",
            QId::Email => "site.email",
            QId::Certificate => "tls.certificate",
            QId::Key => "tls.key",
            QId::ProxyServer => "proxy.server",
            QId::SiteFile => "proxy.site_file",
            QId::ExtraOrigins => "proxy.extra_origins",
            QId::WebClient => "web_client.enabled",
            QId::WebClientDir => "web_client.directory",
            QId::WebClientAck => "web_client.acknowledged",
        })
    }
}

/// How a question is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nothing to answer: read and continue.
    Info,
    Choice,
    Text,
    Port,
    /// A choice between yes and no (choices `yes`/`no`); drawn as a choice.
    YesNo,
    Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// What the answer records (the raw value).
    pub key: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: QId,
    pub kind: Kind,
    pub prompt: String,
    /// One line: why this is asked.
    pub why: String,
    /// The longer help (`?`).
    pub help: String,
    /// The raw default (a choice's key for choices); None: no default.
    pub default: Option<String>,
    pub choices: Vec<Choice>,
    /// What detection found that bears on the question, one fact a line.
    pub context: Vec<String>,
    /// Problems to fix before this can work (shown on the welcome step).
    pub blockers: Vec<String>,
    /// An empty answer is allowed (means "none").
    pub optional: bool,
}

/// Where the wizard is.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Asking(QId),
    /// The plan for the answers; None until the front end has computed it.
    Review(Option<Result<Box<Plan>, String>>),
    Applying,
    /// Applied (or nothing to do): the run's exit code.
    Done {
        code: i32,
    },
}

/// What a front end feeds in.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The raw answer to the current question (a choice's key for choices); on the review
    /// screen, confirms Apply; on the final screen, the path to save the answers to ("" for
    /// none).
    Answer(String),
    Back,
    /// Esc/q: asks first (unless nothing could be lost).
    Quit,
    /// The answer to "Quit?": true quits.
    ConfirmQuit(bool),
    /// The plan for the answers (the effect `MakePlan`), or why there is none.
    Planned(Result<Plan, String>),
    /// One event of the apply run.
    Progress(Event),
    /// The apply run ended with this exit code.
    Finished(i32),
}

/// What the front end must do after an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Only redraw.
    None,
    /// Compute the plan for these answers and feed back `Input::Planned`.
    MakePlan(Answers),
    /// Apply this plan (already shown) for these answers, feeding back `Progress` events and
    /// then `Finished`.
    Apply(Answers, Box<Plan>),
    /// Write this answers file to this path, then exit with the code.
    Save {
        path: String,
        text: String,
        code: i32,
    },
    /// End with this exit code.
    Exit(i32),
}

/// The wizard: detection facts, the raw answers so far (kept when going back), where it is.
#[derive(Debug, Clone)]
pub struct Wizard {
    facts: Facts,
    /// dpwizard looks at the running machine (`--root /`).
    live: bool,
    raw: BTreeMap<QId, String>,
    pub phase: Phase,
    /// Why the last answer was refused (shown under the field).
    pub error: Option<String>,
    /// "Quit? y/n" is showing.
    pub confirm_quit: bool,
    /// The apply run's events, in order.
    pub events: Vec<Event>,
    /// A `--save-answers` path: saved at the end without asking.
    pub save_to: Option<String>,
    /// On a machine already set up: the audit, shown on the welcome screen; the answers
    /// then start from the current setup, so the plan fixes only what is wrong.
    pub audit: Option<crate::audit::Report>,
    /// How dpwizard was started: the commands the wizard prints repeat its `--root`.
    pub invocation: crate::ui::shell::Invocation,
    /// Apache's or Caddy's configuration files when one of them is in front, read by the
    /// caller (`audit::front::files`): their site and route are judged from these, as the
    /// audit does, so the wizard reads no file itself.
    pub front_files: crate::proxy::Files,
}

/// A runtime choice: what it records in the answers and whose options it keeps.
#[derive(Debug, Clone)]
struct RuntimeOption {
    key: String,
    label: String,
    runtime: Runtime,
    unit: Option<UnitName>,
    binary: Option<AbsPath>,
    options: DrawpileArgs,
    socket: Option<crate::detect::systemd::SocketUnit>,
    container: bool,
}

impl Wizard {
    pub fn new(facts: Facts, live: bool) -> Wizard {
        Wizard {
            facts,
            live,
            raw: BTreeMap::new(),
            phase: Phase::Asking(QId::Welcome),
            error: None,
            confirm_quit: false,
            events: Vec::new(),
            save_to: None,
            audit: None,
            invocation: Default::default(),
            front_files: Default::default(),
        }
    }

    /// The setup as the audit reads it, whichever web server is in front: nginx's from the
    /// facts, Apache's or Caddy's from [`Wizard::front_files`].
    fn setup(&self) -> crate::audit::setup::Setup<'_> {
        crate::audit::setup::read(&self.facts, None).with_front(&self.facts, &self.front_files)
    }

    /// The problems that leave no way through the questions (no drawpile-srv that could
    /// get a WebSocket listener, not root): the welcome step stops on them with the fix,
    /// instead of the review refusing nine answers later.
    pub fn stopped(&self) -> Vec<String> {
        let f = &self.facts;
        let mut out = Vec::new();
        if self.live && !f.os.is_root {
            out.push("not running as root: run `sudo dpwizard`".into());
        }
        let workable = self.runtime_options().iter().any(|o| match &o.unit {
            // A Compose service whose image is too old for WebSockets cannot either.
            None if o.runtime == Runtime::Compose => f
                .runtime
                .compose
                .files
                .iter()
                .flat_map(|c| &c.services)
                .any(|s| crate::plan::compose_override::old_image(s).is_none()),
            // A unit whose program has no WebSocket support cannot be given a listener.
            Some(u) => f
                .runtime
                .units
                .iter()
                .find(|x| x.name == u.as_str())
                .and_then(|unit| crate::plan::decide::unit_binary(f, unit))
                .is_none_or(|b| b.websocket.supported != Some(false)),
            None => true,
        });
        if !workable {
            out.extend(
                blockers(f, false)
                    .into_iter()
                    .filter(|b| !b.starts_with("nginx")),
            );
            if out.is_empty() {
                out.push(
                    "no drawpile-srv dpwizard can set up: install drawpile-srv 2.3 \
                     (https://drawpile.net/download) or Docker (apt-get install docker.io)"
                        .into(),
                );
            }
        }
        out
    }

    /// Where the wizard is as `[n/total]` over the steps shown (the questions asked for
    /// these answers, then review, apply and verify).
    pub fn step_counter(&self) -> (usize, usize) {
        let steps = self.steps();
        let n = steps
            .iter()
            .position(|(_, st)| *st == StepState::Current)
            .map_or(1, |i| i + 1);
        (n, steps.len())
    }

    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// The raw answer given to a question, if any.
    pub fn raw(&self, id: QId) -> Option<&str> {
        self.raw.get(&id).map(String::as_str)
    }

    /// The step the wizard is on.
    pub fn step(&self) -> Step {
        match &self.phase {
            Phase::Asking(q) => q.step(),
            Phase::Review(_) => Step::Review,
            Phase::Applying => Step::Apply,
            Phase::Done { .. } => Step::Verify,
        }
    }

    /// True once any file may have been written: quitting no longer means "nothing changed".
    pub fn applied(&self) -> bool {
        matches!(self.phase, Phase::Applying | Phase::Done { .. })
    }

    /// The questions asked for the answers so far, in order (later ones appear or vanish as
    /// earlier answers change, e.g. the e-mail only for certbot).
    pub fn sequence(&self) -> Vec<QId> {
        let mut q = vec![QId::Welcome, QId::Runtime, QId::WsPort];
        let container = self.runtime_choice().is_some_and(|o| o.container);
        if !container {
            q.push(QId::Listen);
        }
        q.push(QId::Domain);
        // nginx in a container of the same Compose project (dpserver) keeps its site and
        // its own certificate: no TLS or site question either.
        if self.container_front().is_some() {
            q.push(QId::ExtraOrigins);
            self.web_client_questions(&mut q);
            return q;
        }
        // Apache or Caddy in front keep their site and its certificate: no TLS or site
        // question (those are nginx's).
        if self.front() != ProxyServer::Nginx {
            q.extend([QId::ProxyServer, QId::ExtraOrigins]);
            self.web_client_questions(&mut q);
            return q;
        }
        q.push(QId::TlsMode);
        match self.tls_mode() {
            TlsMode::Certbot => q.push(QId::Email),
            TlsMode::Existing if self.detected_certificate().is_none() => {
                q.extend([QId::Certificate, QId::Key])
            }
            _ => {}
        }
        q.extend([QId::ProxyServer, QId::SiteFile, QId::ExtraOrigins]);
        self.web_client_questions(&mut q);
        q
    }

    /// nginx in a container of the drawpile service's Compose project, when it serves the
    /// domain (the planner's own test, so the questions match what the plan will do).
    fn container_front(
        &self,
    ) -> Option<(
        &crate::detect::nginx::NginxContainer,
        &crate::detect::nginx::NginxServer,
    )> {
        if self.runtime_choice()?.runtime != Runtime::Compose {
            return None;
        }
        let d = self.domain();
        container_in_front(&self.facts, d.as_ref().map(DomainName::as_str))
    }

    /// Hosting the browser client: one question (no by default); the directory and the
    /// page's warning only after a yes.
    fn web_client_questions(&self, q: &mut Vec<QId>) {
        q.push(QId::WebClient);
        if self.raw(QId::WebClient) == Some("yes") {
            q.extend([QId::WebClientDir, QId::WebClientAck]);
        }
    }

    /// The web server in front: the one serving 443 (never a second one next to it).
    fn front(&self) -> ProxyServer {
        crate::proxy::front::in_front(&self.facts)
    }

    /// The steps with their state: done, current, or pending.
    pub fn steps(&self) -> Vec<(Step, StepState)> {
        let now = self.step();
        let asked: Vec<Step> = self.sequence().iter().map(|q| q.step()).collect();
        Step::ALL
            .iter()
            .filter(|s| {
                // A step with no question for these answers (listen, for a container) is
                // left out rather than shown as pending forever.
                **s > Step::Proxy || asked.contains(s)
            })
            .map(|s| {
                let st = if *s == now {
                    StepState::Current
                } else if *s < now {
                    StepState::Done
                } else {
                    StepState::Pending
                };
                (*s, st)
            })
            .collect()
    }

    /// The domain answered, else the one the domain question will offer.
    fn domain(&self) -> Option<DomainName> {
        match self.raw(QId::Domain) {
            Some(d) => DomainName::parse(d).ok(),
            None => self
                .detected_domains()
                .first()
                .and_then(|d| DomainName::parse(d).ok()),
        }
    }

    /// Host names already served with TLS (the likely answer for the domain): nginx's
    /// servers, then the domain the audit finds served (nginx in a container, Apache or
    /// Caddy in front).
    fn detected_domains(&self) -> Vec<String> {
        let mut out = nginx_domains(&self.facts);
        if let Some(d) = self.setup().domain.and_then(|d| DomainName::parse(&d).ok())
            && !out.contains(&d.to_string())
        {
            out.push(d.to_string());
        }
        out
    }

    fn runtime_options(&self) -> Vec<RuntimeOption> {
        runtime_options(&self.facts)
    }

    fn runtime_choice(&self) -> Option<RuntimeOption> {
        let opts = self.runtime_options();
        let key = self
            .raw(QId::Runtime)
            .map(String::from)
            .or_else(|| default_runtime(&self.facts, &opts))?;
        opts.into_iter().find(|o| o.key == key)
    }

    fn tls_mode(&self) -> TlsMode {
        self.raw(QId::TlsMode)
            .and_then(|k| TlsMode::ALL.into_iter().find(|m| m.key() == k))
            .unwrap_or_else(|| self.default_tls_mode())
    }

    fn default_tls_mode(&self) -> TlsMode {
        match self.domain() {
            Some(d) => default_tls_mode(
                &self.facts,
                d.as_str(),
                tls_server(&self.facts, d.as_str(), None),
                false,
            ),
            None => TlsMode::Certbot,
        }
    }

    /// A certificate for the domain that is already there (the server's, or certbot's).
    fn detected_certificate(&self) -> Option<String> {
        let d = self.domain()?;
        let server = tls_server(&self.facts, d.as_str(), None);
        server.and_then(|s| s.ssl_certificate.clone()).or_else(|| {
            self.facts
                .tls
                .lineages
                .iter()
                .find(|l| l.names.iter().any(|n| n == d.as_str()))
                .map(|l| l.fullchain_path.clone())
        })
    }

    /// The question `id`, with its default and context for the answers so far.
    pub fn question(&self, id: QId) -> Question {
        let mut q = Question {
            id,
            kind: Kind::Text,
            prompt: String::new(),
            why: String::new(),
            help: String::new(),
            default: None,
            choices: Vec::new(),
            context: Vec::new(),
            blockers: Vec::new(),
            optional: false,
        };
        let f = &self.facts;
        match id {
            QId::Welcome => {
                q.kind = Kind::Info;
                q.prompt = "Make this Drawpile server reachable from web.drawpile.net".into();
                q.why = "Browsers join only over TLS WebSockets: drawpile-srv needs its WebSocket \
                         listener, a certificate and a reverse proxy."
                    .into();
                q.help = format!(
                    "The wizard asks a few questions (each has a default from what it found on \
                     this machine), shows every file change and command, and applies them only \
                     when you confirm. Every run is journalled: `{}` undoes it byte for byte.",
                    self.invocation.dpwizard(&["rollback"])
                );
                q.context = summary(f);
                q.blockers = blockers(f, self.live);
                if let Some(r) = &self.audit {
                    q.prompt = format!(
                        "Already set up for {}: the audit",
                        r.domain.as_deref().unwrap_or("a domain")
                    );
                    q.why = if r.findings.is_empty() {
                        "Every check passes: continue only to change something.".into()
                    } else {
                        "Continue to fix what is wrong: the answers start from the current \
                         setup, so the review shows only the changes that fix it."
                            .into()
                    };
                    let s = &r.summary;
                    let mut audit = vec![format!(
                        "audit: {} passed, {} error(s), {} warning(s) (`{}` for details)",
                        s.passed,
                        s.errors,
                        s.warnings,
                        self.invocation.dpwizard(&["audit", "-v"])
                    )];
                    for f in &r.findings {
                        let mark = match f.severity {
                            crate::audit::Severity::Error => "✗",
                            crate::audit::Severity::Warning => "!",
                            crate::audit::Severity::Info => "i",
                        };
                        let fix = if f.fixable { "" } else { " (fix by hand)" };
                        audit.push(format!("{mark} {} [{}]{fix}", f.title, f.id));
                    }
                    audit.append(&mut q.context);
                    q.context = audit;
                }
            }
            QId::Runtime => {
                q.kind = Kind::Choice;
                q.prompt = "Which drawpile-srv should browsers reach?".into();
                q.why = "dpwizard adds the WebSocket listener to the server that runs now, or \
                         sets up a new one."
                    .into();
                q.help = "An existing systemd unit gets a drop-in (its file stays as it is); a \
                          Compose service's changes go into the project's override file; a container started by hand gets \
                          the exact `docker run` to re-create it. With no server installed, a \
                          new unit can run the official Docker image (drawpile/drawpile-srv)."
                    .into();
                let opts = self.runtime_options();
                q.default = default_runtime(f, &opts);
                q.choices = opts
                    .iter()
                    .map(|o| Choice {
                        key: o.key.clone(),
                        label: o.label.clone(),
                    })
                    .collect();
                q.context = f
                    .drawpile
                    .binaries
                    .iter()
                    .map(binary_line)
                    .chain(
                        f.runtime
                            .docker
                            .cli
                            .as_ref()
                            .map(|c| format!("Docker CLI at {c}")),
                    )
                    .collect();
                if q.choices.is_empty() {
                    q.blockers.push(
                        "no drawpile-srv and no Docker found: install drawpile-srv 2.3 \
                         (https://drawpile.net/download) or Docker (apt-get install docker.io), \
                         then run dpwizard again"
                            .into(),
                    );
                }
            }
            QId::WsPort => {
                q.kind = Kind::Port;
                q.prompt = "WebSocket port for drawpile-srv".into();
                q.why =
                    "The reverse proxy forwards browsers' WebSockets to this local port.".into();
                q.help = format!(
                    "drawpile-srv listens for WebSockets on this port (its TCP port, 27750 by \
                     default, stays for the desktop app). The default is the port it is \
                     configured with, else {DEFAULT_WEBSOCKET_PORT}. A port another program \
                     listens on, or drawpile's own TCP or web admin port, is refused."
                );
                let opt = self.runtime_choice();
                let detected = opt
                    .as_ref()
                    .and_then(|o| configured_websocket_port(&o.options, o.socket.as_ref()));
                q.default = Some(detected.unwrap_or(DEFAULT_WEBSOCKET_PORT).to_string());
                q.context.push(match detected {
                    Some(p) => format!("configured now: {p}"),
                    None => format!(
                        "not configured yet: drawpile-srv's usual port is {DEFAULT_WEBSOCKET_PORT}"
                    ),
                });
                if let Some((c, _)) = self.container_front() {
                    q.context.push(format!(
                        "nginx in compose service {} reaches it over the compose network; it \
                         is not published on the host",
                        c.service
                    ));
                } else if opt.is_some_and(|o| o.container) {
                    q.context.push(
                        "in a container the port is published on 127.0.0.1 only, so just the \
                         proxy on this machine reaches it"
                            .into(),
                    );
                }
                if !f.network.visible {
                    q.context.push(
                        "listening ports are not visible here, so busy ports cannot be checked"
                            .into(),
                    );
                }
            }
            QId::Listen => {
                q.kind = Kind::Text;
                q.prompt = "Address the WebSocket listener listens on".into();
                q.why = "The proxy runs on this machine: 127.0.0.1 keeps the port private to it."
                    .into();
                q.help = "Only the reverse proxy needs to reach the WebSocket port. 127.0.0.1 \
                          (or ::1) means nothing outside this machine can bypass the proxy's \
                          Origin check; use another address only when the proxy runs \
                          elsewhere."
                    .into();
                let configured = self
                    .runtime_choice()
                    .and_then(|o| o.options.websocket_listen.clone())
                    .filter(|l| ListenAddress::parse(l).is_ok());
                if let Some(l) = &configured {
                    q.context.push(format!("configured now: {l}"));
                }
                q.default = Some(configured.unwrap_or_else(|| DEFAULT_WEBSOCKET_LISTEN.into()));
            }
            QId::Domain => {
                q.prompt = "Domain people use for your server".into();
                q.why = "The certificate and the invite links are for this name.".into();
                q.help = "A DNS name that points at this machine, e.g. draw.example.com. Not \
                          an IP address: browsers need a certificate for a host name."
                    .into();
                q.default = self.detected_domains().into_iter().next();
                q.context = nginx_domains(f)
                    .iter()
                    .map(|d| format!("nginx serves {d} with TLS"))
                    .collect();
                let setup = self.setup();
                if let (Some(site), Some(d)) = (setup.front_site(), &setup.domain) {
                    q.context.push(format!(
                        "{} serves {d} with TLS ({})",
                        site.kind.label(),
                        site.at
                    ));
                }
                if let Some((c, server)) = self.container_front() {
                    q.context.push(format!(
                        "nginx in compose service {} serves it ({}:{})",
                        c.service, server.file, server.line
                    ));
                }
            }
            QId::TlsMode => {
                q.kind = Kind::Choice;
                q.prompt = "Certificate for TLS".into();
                q.why =
                    "Browsers only open WebSockets over TLS with a certificate they trust.".into();
                q.help = "certbot obtains a free Let's Encrypt certificate (the domain must \
                          point at this machine, port 80 open); existing keeps the one already \
                          configured; self-signed is for testing only (browsers refuse it \
                          until trusted by hand)."
                    .into();
                q.choices = vec![
                    choice("certbot", "certbot: obtain one from Let's Encrypt"),
                    choice(
                        "existing",
                        "existing: use a certificate that is already there",
                    ),
                    choice("self-signed", "self-signed: for testing only"),
                ];
                q.default = Some(self.default_tls_mode().key().into());
                if let Some(c) = self.detected_certificate() {
                    q.context.push(format!("found {c}"));
                }
            }
            QId::Email => {
                q.prompt = "E-mail for Let's Encrypt (optional)".into();
                q.why = "Let's Encrypt writes here before the certificate expires.".into();
                q.help = "Leave it empty to register without an e-mail address.".into();
                q.optional = true;
            }
            QId::Certificate | QId::Key => {
                q.kind = Kind::Path;
                let what = if id == QId::Certificate {
                    "certificate (full chain, PEM)"
                } else {
                    "private key (PEM)"
                };
                q.prompt = format!("Path of the {what}");
                q.why = "No certificate for this domain was found on this machine.".into();
                q.help = "An absolute path on this machine; nginx -t checks the pair before \
                          anything is reloaded."
                    .into();
            }
            QId::ProxyServer => {
                q.kind = Kind::Choice;
                q.prompt = "Reverse proxy".into();
                q.why =
                    "It terminates TLS and checks the Origin before passing WebSockets on.".into();
                // Only the one serving 443 is offered: a second would fight it for the port.
                let front = self.front();
                let label = match front {
                    ProxyServer::Nginx => "nginx",
                    ProxyServer::Apache => "Apache",
                    ProxyServer::Caddy => "Caddy",
                };
                q.help = match front {
                    ProxyServer::Nginx => "nginx serves 443 here, or is installed first.".into(),
                    _ => format!(
                        "{label} serves port 443 here: dpwizard adds the WebSocket route to its \
                         site for the domain (a marked block) and keeps its certificate; it \
                         never installs a second web server that would fight it for the port."
                    ),
                };
                q.choices = vec![choice(front.as_str(), label)];
                q.default = Some(front.as_str().into());
                q.context = f
                    .web_servers
                    .iter()
                    .map(|w| format!("installed: {}", w.name))
                    .collect();
                if front == ProxyServer::Nginx && f.nginx.conf_path.is_none() {
                    match no_host_nginx(f) {
                        // A web server already serves 443 (nginx in a container, or another).
                        Some(why) => q.blockers.push(why),
                        None if f.os.package_manager.as_deref() == Some("apt") => q.context.push(
                            "nginx is not installed: apply installs it first (apt-get \
                                 install nginx), shown in the review"
                                .into(),
                        ),
                        None => q.blockers.push(
                            "nginx is not installed: install it with your package manager first"
                                .into(),
                        ),
                    }
                }
            }
            QId::SiteFile => {
                q.kind = Kind::Choice;
                q.prompt = "Which nginx site gets the WebSocket location?".into();
                q.why = "The location goes into the server that already serves the domain, or \
                         a new site."
                    .into();
                q.help = "Only the marked `# BEGIN dpwizard` block is added; every other byte \
                          of the file stays as it is."
                    .into();
                let domain = self.domain();
                let d = domain.as_ref().map(|d| d.as_str()).unwrap_or("");
                let auto = match tls_server(f, d, None) {
                    Some(s) => format!("the server for {d} in {}:{}", s.file, s.line),
                    None => format!("a new site: /etc/nginx/sites-available/dpwizard-{d}.conf"),
                };
                q.choices.push(choice("auto", &auto));
                for s in crate::proxy::nginx::sites_named(f.nginx.servers.iter(), d)
                    .into_iter()
                    .filter(|s| tls_server(f, d, None).is_none_or(|a| a.file != s.file))
                {
                    q.choices
                        .push(choice(&s.file, &format!("{}:{}", s.file, s.line)));
                }
                q.default = Some("auto".into());
            }
            QId::ExtraOrigins => {
                q.prompt = "Other web client origins to allow (optional)".into();
                q.why = "https://web.drawpile.net is always allowed; a self-hosted web client \
                         needs its own origin."
                    .into();
                q.help = "https://host[:port], separated by spaces or commas. Any other site's \
                          pages are refused by the proxy's Origin check."
                    .into();
                q.optional = true;
                // The origins the current route already allows stay allowed, whichever web
                // server is in front.
                let current = self
                    .setup()
                    .route(f)
                    .map(|r| r.origin.extra_origins())
                    .unwrap_or_default();
                if !current.is_empty() {
                    q.default = Some(current.join(" "));
                }
            }
            QId::WebClient => {
                q.kind = Kind::YesNo;
                q.prompt = "Also host the browser client on this server? (discouraged)".into();
                q.why = "The official client at https://web.drawpile.net works with every \
                         properly configured server: usually the answer is no."
                    .into();
                q.help = format!(
                    "{} With yes, the web server serves the built client files at the root \
                     of your domain, next to the WebSocket route, with the headers the client \
                     needs (cross-origin isolation, application/wasm, no-store for HTML).",
                    crate::answers::WEB_CLIENT_WARNING
                );
                q.choices = vec![choice("no", "no"), choice("yes", "yes, host a copy")];
                q.default = Some("no".into());
                q.context.push(
                    "no keeps a client dpwizard already serves here as it is (it is never \
                     removed by a no)"
                        .into(),
                );
            }
            QId::WebClientDir => {
                q.kind = Kind::Path;
                q.prompt = "Directory of the built browser client".into();
                q.why = "It must hold index.html and its .wasm files; the plan refuses one \
                         that does not."
                    .into();
                q.help = "Build the Drawpile browser client (or unpack a release of it) into \
                          a directory of its own, e.g. /srv/drawpile-web; never a system \
                          directory."
                    .into();
            }
            QId::WebClientAck => {
                q.kind = Kind::YesNo;
                q.prompt = "Host it anyway?".into();
                q.why = crate::answers::WEB_CLIENT_WARNING.into();
                q.help = "Only an explicit yes turns it on (the answers file says so with \
                          web_client.acknowledged = true); no leaves the client off."
                    .into();
                q.choices = vec![
                    choice("no", "no, leave it to web.drawpile.net"),
                    choice("yes", "yes, I read the warning"),
                ];
                q.default = Some("no".into());
            }
        }
        if let Some(raw) = self.raw(id) {
            // Back again: the earlier answer is what the field starts with.
            q.default = Some(raw.to_string());
        }
        q
    }

    /// Checks a raw answer with the same parsers the answers file uses.
    pub fn validate(&self, id: QId, raw: &str) -> Result<(), String> {
        let raw = raw.trim();
        let q = self.question(id);
        if raw.is_empty() {
            return if q.optional || q.kind == Kind::Info {
                Ok(())
            } else {
                Err("an answer is needed here".into())
            };
        }
        let r: Result<(), Invalid> = match id {
            QId::Welcome => Ok(()),
            QId::Runtime
            | QId::TlsMode
            | QId::ProxyServer
            | QId::SiteFile
            | QId::WebClient
            | QId::WebClientAck => {
                if q.choices.iter().any(|c| c.key == raw) {
                    Ok(())
                } else {
                    Err(Invalid(format!(
                        "{raw:?} is not one of {}",
                        q.choices
                            .iter()
                            .map(|c| c.key.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
            QId::WsPort => parse_port(raw).and_then(|p| {
                let options = self.runtime_choice().map(|o| o.options).unwrap_or_default();
                match websocket_port_problem(&self.facts, &options, p.get()) {
                    Some(problem) => Err(Invalid(problem)),
                    None => Ok(()),
                }
            }),
            QId::Listen => ListenAddress::parse(raw).map(|_| ()),
            QId::Domain => DomainName::parse(raw).map(|_| ()),
            QId::Email => EmailAddress::parse(raw).map(|_| ()),
            QId::Certificate | QId::Key => AbsPath::parse(raw).map(|_| ()),
            QId::ExtraOrigins => parse_origins(raw).map(|_| ()),
            QId::WebClientDir => ClientDir::parse(raw).map(|_| ()),
        };
        r.map_err(|e| in_words(&e.0))
    }

    /// The answers so far, typed (every raw answer was validated when given; defaults fill
    /// what was not asked). Errors only if a raw answer no longer parses.
    pub fn answers(&self) -> Result<Answers, String> {
        let get = |id: QId| -> Option<String> {
            let v = self
                .raw(id)
                .map(String::from)
                .or_else(|| self.question(id).default)?;
            let v = v.trim().to_string();
            (!v.is_empty()).then_some(v)
        };
        let seq = self.sequence();
        let asked = |id: QId| seq.contains(&id);
        let e = |x: Invalid| x.0;
        let opt = self.runtime_choice();
        let mut drawpile = DrawpileAnswers::default();
        if let Some(o) = &opt {
            drawpile.runtime = Some(o.runtime);
            drawpile.unit = o.unit.clone();
            drawpile.binary = o.binary.clone();
        }
        if let Some(p) = get(QId::WsPort) {
            drawpile.websocket_port = Some(parse_port(&p).map_err(e)?);
        }
        if asked(QId::Listen)
            && let Some(l) = get(QId::Listen)
        {
            drawpile.websocket_listen = Some(ListenAddress::parse(&l).map_err(e)?);
        }
        let domain = DomainName::parse(&get(QId::Domain).unwrap_or_default()).map_err(e)?;
        let mode = self.tls_mode();
        let email = match get(QId::Email) {
            Some(m) if asked(QId::Email) => Some(EmailAddress::parse(&m).map_err(e)?),
            _ => None,
        };
        let front = self.front();
        let mut tls = TlsAnswers {
            mode: (front == ProxyServer::Nginx && self.container_front().is_none()).then_some(mode),
            ..Default::default()
        };
        if asked(QId::Certificate) {
            tls.certificate = get(QId::Certificate)
                .map(|p| AbsPath::parse(&p))
                .transpose()
                .map_err(e)?;
            tls.key = get(QId::Key)
                .map(|p| AbsPath::parse(&p))
                .transpose()
                .map_err(e)?;
        }
        let site_file = match get(QId::SiteFile).as_deref() {
            None | Some("auto") => SiteFile::Auto,
            Some(p) => SiteFile::Path(AbsPath::parse(p).map_err(e)?),
        };
        let extra_origins =
            parse_origins(&get(QId::ExtraOrigins).unwrap_or_default()).map_err(e)?;
        Ok(Answers {
            drawpile,
            site: SiteAnswers { domain, email },
            tls,
            proxy: ProxyAnswers {
                server: Some(front),
                site_file: asked(QId::SiteFile).then_some(site_file),
                extra_origins,
            },
            web_client: if asked(QId::WebClientAck)
                && get(QId::WebClient).as_deref() == Some("yes")
                && get(QId::WebClientAck).as_deref() == Some("yes")
            {
                WebClientAnswers {
                    enabled: true,
                    directory: get(QId::WebClientDir)
                        .map(|d| ClientDir::parse(&d))
                        .transpose()
                        .map_err(e)?,
                    domain: None,
                    acknowledged: true,
                }
            } else {
                WebClientAnswers::default()
            },
        })
    }

    /// The answers as a file that reproduces this run with `dpwizard apply --answers`.
    pub fn answers_toml(&self) -> Result<String, String> {
        let a = self.answers()?;
        let seq = self.sequence();
        let whys: BTreeMap<&'static str, String> = seq
            .iter()
            .filter_map(|id| Some((id.key()?, self.question(*id).why)))
            .collect();
        Ok(crate::answers::to_toml(
            &a,
            &format!(
                "Written by the dpwizard wizard. Run it again with:\n  sudo {}",
                self.invocation
                    .dpwizard(&["apply", "--answers", "THIS-FILE"])
            ),
            &|k| whys.get(k).cloned(),
        ))
    }

    /// The one entry point: an input changes the state and names what the front end must do.
    pub fn handle(&mut self, input: Input) -> Effect {
        if self.confirm_quit {
            self.confirm_quit = false;
            return match input {
                // At the end, `--save-answers` still saves on the way out.
                Input::ConfirmQuit(true) => match self.phase {
                    Phase::Done { code } => self.finish(String::new(), code),
                    _ => Effect::Exit(crate::exit::OK),
                },
                _ => Effect::None,
            };
        }
        match (&self.phase, input) {
            (Phase::Applying, Input::Progress(e)) => {
                self.events.push(e);
                Effect::None
            }
            (Phase::Applying, Input::Finished(code)) => {
                self.phase = Phase::Done { code };
                Effect::None
            }
            // Applying cannot be left half way: Ctrl-C is the front end's (it cancels and
            // rolls back), and Quit waits for the run to end.
            (Phase::Applying, _) => Effect::None,
            (Phase::Done { .. } | Phase::Asking(_) | Phase::Review(_), Input::Quit) => {
                self.confirm_quit = true;
                Effect::None
            }
            (_, Input::ConfirmQuit(_)) => Effect::None,
            (Phase::Asking(QId::Welcome), Input::Answer(_)) if !self.stopped().is_empty() => {
                // Nothing can succeed: end here, the blockers on screen say what to fix.
                Effect::Exit(crate::exit::USAGE)
            }
            (Phase::Asking(q), Input::Answer(raw)) => {
                let q = *q;
                let raw = raw.trim().to_string();
                // An empty answer takes the default (the field shows it).
                let raw = if raw.is_empty() {
                    self.question(q).default.unwrap_or_default()
                } else {
                    raw
                };
                if let Err(e) = self.validate(q, &raw) {
                    self.error = Some(e);
                    return Effect::None;
                }
                self.error = None;
                if q != QId::Welcome {
                    self.raw.insert(q, raw);
                }
                self.forget_stale();
                let seq = self.sequence();
                let next = seq
                    .iter()
                    .position(|x| *x == q)
                    .and_then(|i| seq.get(i + 1));
                match next {
                    Some(n) => {
                        self.phase = Phase::Asking(*n);
                        Effect::None
                    }
                    None => self.enter_review(),
                }
            }
            (Phase::Asking(q), Input::Back) => {
                let q = *q;
                self.error = None;
                let seq = self.sequence();
                if let Some(i) = seq.iter().position(|x| *x == q)
                    && i > 0
                {
                    self.phase = Phase::Asking(seq[i - 1]);
                }
                Effect::None
            }
            (Phase::Review(_), Input::Planned(p)) => {
                self.phase = Phase::Review(Some(p.map(Box::new).map_err(|e| in_words(&e))));
                Effect::None
            }
            (Phase::Review(_), Input::Back) => {
                self.error = None;
                let last = self.sequence().last().copied().unwrap_or(QId::Welcome);
                self.phase = Phase::Asking(last);
                Effect::None
            }
            (Phase::Review(plan), Input::Answer(_)) => match plan {
                Some(Ok(plan)) if plan.is_empty() => {
                    self.phase = Phase::Done {
                        code: crate::exit::OK,
                    };
                    Effect::None
                }
                Some(Ok(plan)) => {
                    let plan = plan.clone();
                    match self.answers() {
                        Ok(a) => {
                            self.phase = Phase::Applying;
                            Effect::Apply(a, plan)
                        }
                        Err(e) => {
                            self.error = Some(e);
                            Effect::None
                        }
                    }
                }
                // No plan (yet, or it failed): nothing to apply; Back fixes the answers.
                _ => Effect::None,
            },
            (Phase::Done { code }, Input::Answer(path)) => {
                let code = *code;
                self.finish(path, code)
            }
            _ => Effect::None,
        }
    }

    /// Leaving the final screen: saves to `--save-answers`, else to the path typed (none
    /// when empty), then exits with the run's code.
    fn finish(&mut self, typed: String, code: i32) -> Effect {
        let path = self
            .save_to
            .clone()
            .unwrap_or_else(|| typed.trim().to_string());
        if path.is_empty() {
            return Effect::Exit(code);
        }
        match self.answers_toml() {
            Ok(text) => Effect::Save { path, text, code },
            Err(e) => {
                self.error = Some(e);
                Effect::None
            }
        }
    }

    fn enter_review(&mut self) -> Effect {
        match self.answers() {
            Ok(a) => {
                self.phase = Phase::Review(None);
                Effect::MakePlan(a)
            }
            Err(e) => {
                self.error = Some(e);
                Effect::None
            }
        }
    }

    /// Drops answers that no longer apply or no longer validate after an earlier answer
    /// changed (a port that clashes with the newly chosen server's, a site of another
    /// domain), so their defaults are computed again.
    fn forget_stale(&mut self) {
        let ids: Vec<QId> = self.raw.keys().copied().collect();
        for id in ids {
            let raw = self.raw[&id].clone();
            if self.validate(id, &raw).is_err() {
                self.raw.remove(&id);
            }
        }
    }
}

/// A message of the planner or the validators in the wizard's words: they name the
/// answers-file keys (`drawpile.websocket_port`), but the wizard asked questions.
pub fn in_words(msg: &str) -> String {
    let mut out = msg.to_string();
    let keys = QId::ALL
        .iter()
        .filter_map(|id| Some((id.key()?, id.words())))
        .chain([
            ("drawpile.unit", "the drawpile-srv choice"),
            ("drawpile.binary", "the drawpile-srv program"),
        ]);
    for (key, words) in keys {
        out = out
            .replace(&format!("{key} = "), &format!("{words} "))
            .replace(key, words);
    }
    out
}

/// The state of a step in the side list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Done,
    Current,
    Pending,
}

fn choice(key: &str, label: &str) -> Choice {
    Choice {
        key: key.into(),
        label: label.into(),
    }
}

fn parse_port(raw: &str) -> Result<Port, Invalid> {
    let n: i64 = raw
        .trim()
        .parse()
        .map_err(|_| Invalid(format!("{raw:?} is not a port number (1–65535)")))?;
    Port::new(n)
}

/// Extra origins typed on one line, separated by spaces or commas.
fn parse_origins(raw: &str) -> Result<Vec<Origin>, Invalid> {
    let mut out = Vec::new();
    for s in raw.split([',', ' ']).filter(|s| !s.trim().is_empty()) {
        let o = crate::answers::extra_origin(s, &out)?;
        out.push(o);
    }
    Ok(out)
}

/// "drawpile-srv 2.2.2 at /usr/local/bin, WebSocket support: yes — from --version".
fn binary_line(b: &crate::detect::drawpile::DrawpileBinary) -> String {
    let dir = b.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let ws = match b.websocket.supported {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    format!(
        "drawpile-srv {} at {}, WebSocket support: {ws} — {}",
        b.version.as_deref().unwrap_or("(version unknown)"),
        if dir.is_empty() { "/" } else { dir },
        b.websocket.reason
    )
}

/// What detection found, one line each, for the welcome step.
fn summary(f: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(os) = &f.os.pretty_name {
        out.push(os.clone());
    }
    out.extend(f.drawpile.binaries.iter().map(binary_line));
    let services: Vec<String> = f
        .runtime
        .compose
        .files
        .iter()
        .flat_map(|c| c.services.iter().map(move |s| (c, s)))
        .map(|(c, s)| {
            let (version, image) = match &s.drawpile {
                Some(d) => (
                    d.version
                        .as_deref()
                        .map(|v| format!(" {v}"))
                        .unwrap_or_default(),
                    format!("{}, {}", d.image, d.recognised_by),
                ),
                None => (String::new(), s.image.clone()),
            };
            format!(
                "drawpile-srv{version}: compose service {} of project {} ({image})",
                s.name, c.project_name
            )
        })
        .collect();
    if f.drawpile.binaries.is_empty() && services.is_empty() {
        out.push("drawpile-srv: not found".into());
    }
    out.extend(services);
    out.push(format!("runs as: {}", f.runtime.kind.as_str()));
    if let Some((c, server)) = container_in_front(f, None) {
        out.push(format!(
            "web server in front: nginx in compose service {} ({}), its site {} (bind-mounted; \
             checked and reloaded in its container)",
            c.service, c.compose_file, server.file
        ));
    }
    if let Some(v) = &f.runtime.docker.cli_version {
        out.push(format!("Docker {v}"));
    }
    for w in &f.web_servers {
        out.push(format!("web server: {}", w.name));
    }
    out
}

/// What stops the wizard from succeeding, each with what to do.
fn blockers(f: &Facts, live: bool) -> Vec<String> {
    let mut out = Vec::new();
    if live && !f.os.is_root {
        out.push("not running as root: run `sudo dpwizard`".into());
    }
    for b in &f.drawpile.binaries {
        if b.websocket.supported == Some(false) {
            out.push(format!(
                "{} ({}) has no WebSocket support ({}): install drawpile-srv 2.3 \
                 (https://drawpile.net/download) or a build with QtWebSockets",
                b.path,
                b.version.as_deref().unwrap_or("unknown version"),
                b.websocket.reason
            ));
        }
    }
    let compose_services = f
        .runtime
        .compose
        .files
        .iter()
        .any(|c| !c.services.is_empty());
    // An image too old for WebSockets: the plan refuses it, so say so (and what to use) here.
    out.extend(
        f.runtime
            .compose
            .files
            .iter()
            .flat_map(|c| &c.services)
            .filter_map(crate::plan::compose_override::old_image),
    );
    if f.drawpile.binaries.is_empty() && f.runtime.docker.cli.is_none() && !compose_services {
        out.push(
            "no drawpile-srv and no Docker: install drawpile-srv 2.3 \
             (https://drawpile.net/download) or Docker (apt-get install docker.io)"
                .into(),
        );
    }
    // Without apt, dpwizard cannot install nginx itself (with apt, apply does it first);
    // where another web server serves 443, nginx is not installed at all (nginx in a
    // container of drawpile's own project is the one dpwizard works with then).
    if f.nginx.conf_path.is_none() && container_in_front(f, None).is_none() {
        match no_host_nginx(f) {
            Some(why) => out.push(why),
            None if f.os.package_manager.as_deref() != Some("apt") => out
                .push("nginx is not installed: install it with your package manager first".into()),
            None => {}
        }
    }
    out
}

/// The nginx container in front of the Compose service running drawpile-srv for `domain`.
fn container_in_front<'a>(
    f: &'a Facts,
    domain: Option<&str>,
) -> Option<(
    &'a crate::detect::nginx::NginxContainer,
    &'a crate::detect::nginx::NginxServer,
)> {
    let file = f
        .runtime
        .compose
        .files
        .iter()
        .find(|c| !c.services.is_empty())?;
    crate::plan::compose_front::container_in_front(f, domain, file)
}

/// What to say when the host has no nginx: install it, unless nginx already serves 443 from
/// a container (dpserver's layout), where a host nginx would clash with it on the port.
fn no_host_nginx(f: &Facts) -> Option<String> {
    match f
        .nginx_containers
        .iter()
        .find(|c| crate::audit::setup::publishes_https(c))
    {
        Some(c) => Some(format!(
            "nginx runs in compose service {} ({}) and serves port 443: do not install \
             nginx on the host (it would clash on 443); dpwizard edits an nginx container only \
             in drawpile-srv's own Compose project (dpserver's layout), and audits this one \
             (`dpwizard audit`)",
            c.service, c.compose_file
        )),
        None => crate::audit::setup::other_containers_on_443(f)
            .first()
            .map(|c| {
                format!(
                    "port 443 is served by {c}: do not install nginx on the host (it would \
                     clash on 443); this version of dpwizard does not configure that web server"
                )
            }),
    }
}

/// Host names nginx on the host serves with TLS.
fn nginx_domains(f: &Facts) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in f.nginx.servers.iter().filter(|s| s.ssl) {
        for n in &s.server_names {
            if let Ok(d) = DomainName::parse(n)
                && !out.contains(&d.to_string())
            {
                out.push(d.to_string());
            }
        }
    }
    out
}

/// The servers dpwizard can work with on this machine, most likely first.
fn runtime_options(f: &Facts) -> Vec<RuntimeOption> {
    let mut out = Vec::new();
    for u in f.runtime.units.iter().filter(|u| !u.masked) {
        let Ok(unit) = UnitName::parse(&u.name) else {
            continue;
        };
        let via = format!("unit {}", u.name);
        let appimage = f
            .drawpile
            .binaries
            .iter()
            .any(|b| b.appimage && b.found_via.contains(&via));
        let socket = f
            .runtime
            .sockets
            .iter()
            .find(|s| !s.masked && s.service == u.name)
            .cloned();
        let program = u
            .exec_start
            .as_ref()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        out.push(RuntimeOption {
            key: format!("unit:{}", u.name),
            label: format!(
                "{} ({}){}",
                u.name,
                program,
                if socket.is_some() {
                    ", socket-activated"
                } else {
                    ""
                }
            ),
            runtime: if appimage {
                Runtime::Appimage
            } else {
                Runtime::SystemdService
            },
            unit: Some(unit),
            binary: None,
            options: u.options.clone(),
            socket,
            container: false,
        });
    }
    for c in f
        .runtime
        .docker
        .containers
        .iter()
        .filter(|c| c.compose_project.is_none())
    {
        out.push(RuntimeOption {
            key: format!("docker:{}", c.name),
            label: format!("container {} ({}, {})", c.name, c.image, c.state),
            runtime: Runtime::Docker,
            unit: None,
            binary: None,
            options: c.options.clone(),
            socket: None,
            container: true,
        });
    }
    for file in &f.runtime.compose.files {
        for s in &file.services {
            out.push(RuntimeOption {
                key: format!("compose:{}:{}", file.path, s.name),
                label: format!("Compose service {} in {}", s.name, file.path),
                runtime: Runtime::Compose,
                unit: None,
                binary: None,
                options: s.options.clone(),
                socket: None,
                container: true,
            });
        }
    }
    let has_unit = f
        .runtime
        .units
        .iter()
        .any(|u| !u.masked && u.name == "drawpile-srv.service");
    if !has_unit {
        for b in f
            .drawpile
            .binaries
            .iter()
            .filter(|b| b.websocket.supported == Some(true) && !b.appimage)
        {
            let Ok(binary) = AbsPath::parse(&b.path) else {
                continue;
            };
            out.push(RuntimeOption {
                key: format!("new-service:{}", b.path),
                label: format!(
                    "a new service for {} {}",
                    b.path,
                    b.version.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_string(),
                runtime: Runtime::NewService,
                unit: None,
                binary: Some(binary),
                options: DrawpileArgs::default(),
                socket: None,
                container: false,
            });
        }
        if f.runtime.docker.cli.is_some() {
            out.push(RuntimeOption {
                key: "new-container".into(),
                label: "a new service running the official Docker image (drawpile/drawpile-srv)"
                    .into(),
                runtime: Runtime::NewContainer,
                unit: None,
                binary: None,
                options: DrawpileArgs::default(),
                socket: None,
                container: true,
            });
        }
    }
    out
}

/// The option matching how drawpile-srv runs now, else the first.
fn default_runtime(f: &Facts, opts: &[RuntimeOption]) -> Option<String> {
    let wanted = match f.runtime.kind {
        RuntimeKind::SystemdService | RuntimeKind::SystemdSocket | RuntimeKind::Appimage => "unit:",
        RuntimeKind::Docker => "docker:",
        RuntimeKind::Compose => "compose:",
        RuntimeKind::None => "new-",
    };
    opts.iter()
        .find(|o| o.key.starts_with(wanted))
        .or_else(|| opts.first())
        .map(|o| o.key.clone())
}

#[cfg(test)]
mod tests;
