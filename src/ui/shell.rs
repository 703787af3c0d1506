//! Commands printed for a person, written so they can be pasted into a shell as they are:
//! each word quoted for POSIX sh when it needs it, and dpwizard's own commands repeating the
//! `--root` and `--answers` of the run that prints them. Pure text.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// One word as sh reads it back unchanged: as it is when it holds only characters no shell
/// treats specially, else in single quotes (a `'` inside becomes `'\''`).
pub fn quote(word: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-+=.,/:@%".contains(c);
    // `~` and `#` matter only at a word's start, but are simply always quoted.
    if !word.is_empty() && word.chars().all(safe) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// An argv as one pasteable command line.
pub fn join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| quote(a.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How this dpwizard was started, so that the commands it tells a person to run act on the
/// same machine tree and the same answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `--root`, when it is not `/`.
    pub root: Option<PathBuf>,
    /// The answers file of the run, when there is one.
    pub answers: Option<PathBuf>,
}

impl Invocation {
    pub fn new(root: &Path, answers: Option<&Path>) -> Invocation {
        Invocation {
            root: (root != Path::new("/")).then(|| root.to_path_buf()),
            answers: answers.map(Path::to_path_buf),
        }
    }

    /// `dpwizard [--root DIR] ARGS…`, quoted.
    pub fn dpwizard(&self, args: &[&str]) -> String {
        let mut argv: Vec<String> = vec!["dpwizard".into()];
        if let Some(r) = &self.root {
            argv.extend(["--root".into(), r.display().to_string()]);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        join(&argv)
    }

    /// The command that repeats the run: `dpwizard [--root DIR] apply --answers FILE`
    /// (FILE literally when the run had no file: the wizard's answers are saved at its end).
    pub fn apply_again(&self) -> String {
        let file = self
            .answers
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "FILE".into());
        self.dpwizard(&["apply", "--answers", &file])
    }

    /// `dpwizard [--root DIR] rollback ID [--force]`.
    pub fn rollback(&self, id: &str, force: bool) -> String {
        let mut args = vec!["rollback", id];
        if force {
            args.push("--force");
        }
        self.dpwizard(&args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What sh makes of a command line: its words, one per NUL-terminated field.
    fn sh_words(line: &str) -> Vec<String> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {line}"))
            .output()
            .expect("sh");
        assert!(out.status.success(), "{line}: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .split_terminator('\0')
            .map(String::from)
            .collect()
    }

    #[test]
    fn every_word_comes_back_from_sh_as_it_was() {
        let words = [
            "certbot",
            "--deploy-hook",
            "systemctl reload nginx",
            "it's",
            "$HOME",
            "a\"b",
            "`id`",
            "semi;colon",
            "*",
            "~",
            "#not-a-comment",
            "back\\slash",
            "new\nline",
            "",
            "/etc/nginx/sites-available/paint.example.com",
            "--server=https://localhost:14000/dir",
        ];
        let line = join(&words);
        assert_eq!(sh_words(&line), words);
        // Plain words stay readable.
        assert_eq!(
            quote("/usr/local/bin/drawpile-srv"),
            "/usr/local/bin/drawpile-srv"
        );
        assert_eq!(quote("systemctl reload nginx"), "'systemctl reload nginx'");
    }

    #[test]
    fn dpwizard_commands_repeat_the_root_and_the_answers() {
        let plain = Invocation::new(Path::new("/"), None);
        assert_eq!(
            plain.rollback("20260101-1", false),
            "dpwizard rollback 20260101-1"
        );
        let i = Invocation::new(
            Path::new("/mnt/my vps"),
            Some(Path::new("/root/answers (1).toml")),
        );
        assert_eq!(
            sh_words(&i.apply_again()),
            [
                "dpwizard",
                "--root",
                "/mnt/my vps",
                "apply",
                "--answers",
                "/root/answers (1).toml"
            ]
        );
        assert_eq!(
            sh_words(&i.rollback("r1", true)),
            [
                "dpwizard",
                "--root",
                "/mnt/my vps",
                "rollback",
                "r1",
                "--force"
            ]
        );
    }
}
