//! The firewall the machine already uses (ufw, firewalld, an nftables input chain that
//! drops by default) lets browsers and the apps in; a cloud firewall is only named.

use super::make::Snapshot;
use super::{Action, Change, FileMode};

/// The rules the firewall in use needs, with the tool the machine already uses (ufw, else
/// firewalld); nftables rules are not edited (what to add is said). A cloud firewall cannot
/// be seen from the machine: what to open there is said too.
pub(super) fn firewall_rules(
    fw: &crate::detect::network::Firewall,
    snap: &Snapshot,
    tcp_port: u16,
    http: bool,
) -> (Vec<Change>, Vec<Action>, Vec<String>) {
    use crate::detect::network::{HTTP_NAMES, HTTPS_NAMES};
    let mut wanted: Vec<(u16, &[&str], &str)> =
        vec![(443, HTTPS_NAMES, "browsers reach the proxy (HTTPS)")];
    if http {
        wanted.push((
            80,
            HTTP_NAMES,
            "HTTP: the redirect to HTTPS and certbot's challenge",
        ));
    }
    wanted.push((
        tcp_port,
        &[],
        "the desktop and mobile apps connect to drawpile-srv directly",
    ));
    let missing: Vec<&(u16, &[&str], &str)> = wanted
        .iter()
        .filter(|(p, names, _)| !fw.allows(*p, names))
        .collect();
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    let mut files = Vec::new();
    let ports = wanted
        .iter()
        .map(|(p, _, _)| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if fw.ufw_enabled == Some(true) {
        for (p, _, why) in &missing {
            actions.push(Action {
                argv: vec!["ufw".into(), "allow".into(), format!("{p}/tcp")],
                why: format!("ufw is active: {why}"),
            });
        }
    } else if fw.firewalld_present {
        for (p, _, why) in &missing {
            let arg = match p {
                443 => "--add-service=https".to_string(),
                80 => "--add-service=http".to_string(),
                p => format!("--add-port={p}/tcp"),
            };
            actions.push(Action {
                argv: vec!["firewall-cmd".into(), "--permanent".into(), arg],
                why: format!("firewalld is configured: {why}"),
            });
        }
        if !missing.is_empty() {
            actions.push(Action {
                argv: vec!["firewall-cmd".into(), "--reload".into()],
                why: "firewalld applies the permanent rules".into(),
            });
        }
    } else if fw.nftables_input_drops && !missing.is_empty() {
        let want: Vec<String> = missing.iter().map(|(p, _, _)| p.to_string()).collect();
        match snap
            .get(NFTABLES_CONF)
            .and_then(|old| nftables_with_accept(&String::from_utf8_lossy(old), &want))
        {
            Some(new) => {
                files.push(Change::Write {
                    path: NFTABLES_CONF.into(),
                    old: snap.get(NFTABLES_CONF).map(<[u8]>::to_vec),
                    new: new.into_bytes(),
                    mode: FileMode::CONFIG,
                    secret: false,
                    why: format!(
                        "nftables' input chain drops what it does not accept: one rule accepts \
                         TCP {} (browsers and the Drawpile apps); every other byte stays",
                        want.join(", ")
                    ),
                });
                actions.push(Action {
                    argv: vec!["nft".into(), "-f".into(), NFTABLES_CONF.into()],
                    why: "nftables loads the rules (a refusal rolls the run back)".into(),
                });
            }
            None => notes.push(format!(
                "{NFTABLES_CONF} is not in a shape dpwizard edits: make its input chain accept \
                 tcp dport {{ {ports} }}"
            )),
        }
    }
    notes.push(format!(
        "a cloud provider's firewall (security group) cannot be seen from this machine: open \
         TCP {ports} there too"
    ));
    (files, actions, notes)
}

pub const NFTABLES_CONF: &str = "/etc/nftables.conf";

/// `text` with a rule accepting TCP `ports` right after the `type filter hook input` line of
/// its input chain, indented like it; None when there is no such line to anchor on.
pub(super) fn nftables_with_accept(text: &str, ports: &[String]) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 80);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.contains("hook input") && line.trim_start().starts_with("type ") {
            let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!(
                "{indent}tcp dport {{ {} }} accept comment \"dpwizard: browsers and the Drawpile apps\"\n",
                ports.join(", ")
            ));
            done = true;
        }
    }
    done.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nftables_gets_one_accept_rule_in_its_input_chain_and_every_other_byte_stays() {
        let conf = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tiif lo accept\n\t\ttcp dport 22 accept\n\t}\n\tchain output {\n\t\ttype filter hook output priority filter;\n\t}\n}\n";
        let (drops, ports) = crate::detect::network::parse_nftables(conf);
        assert!(drops);
        assert_eq!(ports, vec![22]);
        let new = nftables_with_accept(conf, &["443".into(), "27750".into()]).unwrap();
        assert_eq!(
            new,
            conf.replace(
                "policy drop;\n",
                "policy drop;\n\t\ttcp dport { 443, 27750 } accept comment \"dpwizard: browsers and the Drawpile apps\"\n"
            )
        );
        let (_, ports) = crate::detect::network::parse_nftables(&new);
        assert_eq!(ports, vec![443, 27750, 22]);
        assert!(nftables_with_accept("table inet x {}\n", &["443".into()]).is_none());
        // Debian's default: accepts everything, nothing to add.
        let (drops, _) = crate::detect::network::parse_nftables(
            "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n",
        );
        assert!(!drops);
    }
}
