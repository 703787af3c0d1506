//! Unified diffs of planned file changes, as the admin reviews them before applying.

use similar::TextDiff;

use super::Change;

/// A unified diff (3 lines of context) of one change; new files are shown in full.
/// Secrets are never printed.
pub fn unified(change: &Change) -> String {
    match change {
        Change::Write {
            path,
            old,
            new,
            secret: true,
            ..
        } => {
            let verb = if old.is_some() { "replaced" } else { "created" };
            format!(
                "--- {path}\n+++ {path}\n(secret: {} bytes {verb}, not shown)\n",
                new.len()
            )
        }
        Change::Write { path, old, new, .. } => {
            let old_text = old
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let new_text = String::from_utf8_lossy(new);
            let old_name = if old.is_some() {
                path.clone()
            } else {
                "/dev/null".to_string()
            };
            TextDiff::from_lines(old_text.as_ref(), new_text.as_ref())
                .unified_diff()
                .context_radius(3)
                .header(&old_name, path)
                .to_string()
        }
        Change::Symlink { path, target, .. } => format!("symlink {path} -> {target}\n"),
        Change::Remove { path, old, .. } => {
            let old_text = String::from_utf8_lossy(old);
            TextDiff::from_lines(old_text.as_ref(), "")
                .unified_diff()
                .header(path, "/dev/null")
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FileMode;

    fn write(old: Option<&str>, new: &str, secret: bool) -> Change {
        Change::Write {
            path: "/etc/x.conf".into(),
            old: old.map(|s| s.as_bytes().to_vec()),
            new: new.as_bytes().to_vec(),
            mode: FileMode::CONFIG,
            secret,
            why: "test".into(),
        }
    }

    #[test]
    fn a_new_file_is_shown_in_full() {
        let d = unified(&write(None, "a\nb\n", false));
        assert!(d.starts_with("--- /dev/null\n+++ /etc/x.conf\n"), "{d}");
        assert!(d.contains("+a\n+b\n"), "{d}");
    }

    #[test]
    fn an_edit_shows_only_the_change_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\n5\nX\n6\n7\n8\n9\n";
        let d = unified(&write(Some(old), new, false));
        assert!(d.contains("+X\n"), "{d}");
        assert!(!d.contains(" 1\n"), "context is 3 lines: {d}");
    }

    #[test]
    fn secrets_are_never_printed() {
        let d = unified(&write(None, "-----BEGIN PRIVATE KEY-----\nabc\n", true));
        assert!(!d.contains("abc"), "{d}");
        assert!(d.contains("not shown"));
    }
}
