//! Users and groups of the target machine, read from its /etc/passwd and /etc/group
//! (not through NSS: under `--root` the host's databases would be the wrong ones).

use super::Host;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// Parses passwd(5) text. Malformed lines are skipped: a broken line must not hide the others.
pub fn parse_passwd(text: &str) -> Vec<User> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(User {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// Looks a user up by name on the target machine.
pub fn lookup_user(host: &Host, name: &str) -> Option<User> {
    let text = host.read_to_string("/etc/passwd").ok()?;
    parse_passwd(&text).into_iter().find(|u| u.name == name)
}

/// Looks a group's gid up by name on the target machine.
pub fn lookup_group(host: &Host, name: &str) -> Option<u32> {
    let text = host.read_to_string("/etc/group").ok()?;
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_skips_garbage() {
        let users = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nbroken line\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        );
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].name, "nobody");
        assert_eq!(users[1].uid, 65534);
    }
}
