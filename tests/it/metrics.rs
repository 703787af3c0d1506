//! `dpwizard audit --format prometheus`: metrics for node_exporter's textfile collector,
//! accepted by the real `promtool check metrics` (Debian's prometheus package), and saying
//! the same as the JSON report of the same machine.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::audit::{DOC_LOCATION, audit, good, now, server, site};
use crate::support::drawpile::Build;
use crate::support::*;

fn metrics(m: &FakeMachine) -> String {
    let run = m.dpwizard(["audit", "--offline", "--format", "prometheus"]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    run.stdout
}

/// `promtool check metrics` on the text: (exit code, what it said).
fn promtool(text: &str) -> Option<(i32, String)> {
    if skip_unless_program("promtool") {
        return None;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code().unwrap_or(-1), said))
}

/// The value of the sample whose name and labels start with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_of_a_good_setup_pass_promtool_and_match_the_json_report() {
    let m = good();
    let text = metrics(&m);
    if let Some((code, said)) = promtool(&text) {
        assert_eq!(code, 0, "promtool: {said}\n{text}");
        assert!(said.trim().is_empty(), "promtool lints: {said}\n{text}");
    }
    let (_, report, _) = audit(&m, &[]);
    let passed: Vec<&str> = report["passed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(!passed.is_empty());
    for id in &passed {
        let sev = dpwizard::audit::catalogue::find(id)
            .unwrap()
            .severity
            .as_str();
        let prefix = format!("dpwizard_audit_check{{id=\"{id}\",severity=\"{sev}\",");
        assert_eq!(sample(&text, &prefix), Some(1.0), "{prefix}\n{text}");
    }
    // Skipped checks have no sample; every check has at most one.
    for s in report["skipped"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        assert!(
            !text.contains(&format!("id=\"{id}\"")),
            "{id} was skipped:\n{text}"
        );
    }
    let checks = text
        .lines()
        .filter(|l| l.starts_with("dpwizard_audit_check{"))
        .count();
    assert_eq!(
        checks,
        passed.len() + report["findings"].as_array().unwrap().len()
    );
    // The certificate (made to start 10 days ago and last 90) expires in 80 days.
    let left = sample(&text, "dpwizard_tls_certificate_expires_in_seconds{").unwrap();
    let want = 80.0 * 86_400.0;
    assert!(
        (want - 600.0..=want + 5.0).contains(&left),
        "{left}\n{text}"
    );
    let at = sample(&text, "dpwizard_tls_certificate_expiry_timestamp_seconds{").unwrap();
    let want_at = (now() + 80 * 86_400) as f64;
    assert!(
        (want_at - 600.0..=want_at + 5.0).contains(&at),
        "{at}\n{text}"
    );
    assert!(
        text.contains("{domain=\"paint.example.com\",path=\"/etc/letsencrypt/live/paint.example.com/fullchain.pem\"}"),
        "{text}"
    );
    // The version of the drawpile-srv the audit judged.
    assert_eq!(
        sample(
            &text,
            "dpwizard_drawpile_srv_info{version=\"2.3.0\",instance=\"drawpile-srv.service"
        ),
        Some(1.0),
        "{text}"
    );
    let ran = sample(&text, "dpwizard_audit_timestamp_seconds ").unwrap();
    assert!((ran - now() as f64).abs() < 600.0, "{ran}");
}

#[test]
fn metrics_show_a_failed_check_as_0_with_its_severity() {
    // The documented location without X-Real-IP: one warning (DPW-PROXY-010).
    let m = FakeMachine::debian12();
    crate::support::nginx::trees::debian_default(m.root());
    crate::audit::lineage(&m, crate::audit::GOOD_CERT, true, true);
    site(
        &m,
        &DOC_LOCATION.replace("        proxy_set_header X-Real-IP $remote_addr;\n", ""),
        "",
        "",
    );
    server(&m, &Build::v("2.3.0"), Some(crate::audit::GOOD_ARGS));
    let text = metrics(&m);
    assert_eq!(
        sample(
            &text,
            "dpwizard_audit_check{id=\"DPW-PROXY-010\",severity=\"warning\",area=\"proxy\"}"
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "dpwizard_audit_verdicts{verdict=\"warning\"}"),
        Some(1.0),
        "{text}"
    );
    if let Some((code, said)) = promtool(&text) {
        assert_eq!(code, 0, "promtool: {said}\n{text}");
    }
}

#[test]
fn metrics_of_an_empty_machine_still_pass_promtool() {
    let m = FakeMachine::debian12();
    let text = metrics(&m);
    assert!(!text.contains("dpwizard_tls_certificate"), "{text}");
    assert!(!text.contains("dpwizard_drawpile_srv_info"), "{text}");
    assert!(
        text.contains("dpwizard_audit_verdicts{verdict=\"error\"}"),
        "{text}"
    );
    if let Some((code, said)) = promtool(&text) {
        assert_eq!(code, 0, "promtool: {said}\n{text}");
    }
}
