//! Opening files of a tree under `--root` so that nothing outside it can be reached, and
//! reading them with a bound.
//!
//! A tree someone else wrote may hold links to `/etc/shadow`, `../../../root`, `/dev/zero`
//! or a FIFO. Every path is resolved by the kernel with `openat2(RESOLVE_IN_ROOT)` from a
//! descriptor of the root, so an absolute or `..` link target stays inside the tree; where
//! the kernel lacks `openat2` the same walk is done component by component. Only regular
//! files are read, at most a per-kind cap. Nothing here writes.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};

/// What a read is for; each kind has its own cap, chosen far above any real file of that
/// kind and far below what would hurt the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// nginx/Apache/Caddy configuration, units, drop-ins, compose files, passwd, ...
    Config,
    /// A PEM certificate or key.
    Certificate,
    /// `/etc/os-release` and other one-screen system files.
    SystemInfo,
    /// An answers file.
    Answers,
    /// The tree's package database (`/var/lib/dpkg/status`).
    PackageDb,
    /// The newest part of a log (read from its end, so the cap is what is read).
    LogTail,
}

impl ReadKind {
    pub const fn cap(self) -> u64 {
        match self {
            ReadKind::Config => 16 << 20,
            ReadKind::Certificate => 1 << 20,
            ReadKind::SystemInfo => 64 << 10,
            ReadKind::Answers => 1 << 20,
            ReadKind::PackageDb => 64 << 20,
            ReadKind::LogTail => 64 << 20,
        }
    }

    fn what(self) -> &'static str {
        match self {
            ReadKind::Config => "a configuration file",
            ReadKind::Certificate => "a certificate or key",
            ReadKind::SystemInfo => "a system information file",
            ReadKind::Answers => "an answers file",
            ReadKind::PackageDb => "a package database",
            ReadKind::LogTail => "a log file",
        }
    }
}

/// `16 MiB`, `64 KiB`: caps in messages.
pub fn human_size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// What a non-regular file is, in words, or None for a regular file.
pub fn not_regular(ft: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_file() {
        None
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if ft.is_socket() {
        Some("a socket")
    } else if ft.is_char_device() {
        Some("a character device")
    } else if ft.is_block_device() {
        Some("a block device")
    } else if ft.is_symlink() {
        Some("a symbolic link")
    } else {
        Some("not a regular file")
    }
}

/// Reads an open file if it is a regular file no larger than `kind`'s cap. The cap is also
/// enforced while reading, for files whose size lies (/proc, a file growing meanwhile).
pub fn read_regular(file: File, kind: ReadKind) -> io::Result<Vec<u8>> {
    let meta = file.metadata()?;
    check_regular(&meta, kind)?;
    read_checked(file, &meta, kind)
}

fn check_regular(meta: &std::fs::Metadata, kind: ReadKind) -> io::Result<()> {
    match not_regular(meta.file_type()) {
        Some(what) => Err(io::Error::other(format!(
            "is {what}, not a regular file: not read ({} should be a regular file)",
            kind.what()
        ))),
        None => Ok(()),
    }
}

/// Reads a file already known to be regular (`meta` is its status).
pub fn read_checked(file: File, meta: &std::fs::Metadata, kind: ReadKind) -> io::Result<Vec<u8>> {
    let cap = kind.cap();
    let too_big = || {
        io::Error::other(format!(
            "is larger than {}, the most dpwizard reads of {}: not read",
            human_size(cap),
            kind.what()
        ))
    };
    if meta.len() > cap {
        return Err(too_big());
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(buf)
}

/// Reads a file on this machine (not under a root), e.g. an answers file named on the
/// command line, with the same rules: no FIFO or device, at most the cap.
pub fn read_local(path: &Path, kind: ReadKind) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO without a writer would block before the type is known.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    read_regular(file, kind)
}

/// Flags for a descriptor that only names a file (no side effect even on a device or FIFO).
fn path_flags(follow: bool) -> OFlag {
    let mut f = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if !follow {
        f |= OFlag::O_NOFOLLOW;
    }
    f
}

/// A relative form of a target path (`/etc/x` → `etc/x`); `..` is kept for the kernel,
/// which cannot climb above the root under RESOLVE_IN_ROOT either.
fn relative(target: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in target.components() {
        match c {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => out.push(".."),
            _ => {}
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The descriptor of a root directory that paths are resolved in.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    /// `openat2` was refused with ENOSYS (an old kernel or a seccomp filter): walk instead.
    no_openat2: std::sync::atomic::AtomicBool,
}

impl RootDir {
    pub fn new(root: &Path) -> io::Result<RootDir> {
        let fd = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(io::Error::from)?;
        Ok(RootDir {
            fd,
            no_openat2: Default::default(),
        })
    }

    /// Opens `target` with links resolved inside the root. `walk` resolves a path the slow
    /// way (component by component, links re-rooted) for kernels without openat2.
    pub fn open_at(
        &self,
        target: &Path,
        flags: OFlag,
        walk: &dyn Fn(&Path) -> io::Result<PathBuf>,
    ) -> io::Result<OwnedFd> {
        use std::sync::atomic::Ordering;
        let rel = relative(target);
        if !self.no_openat2.load(Ordering::Relaxed) {
            let how = OpenHow::new()
                .flags(flags)
                .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            // EAGAIN: a rename or mount anywhere on the system raced a `..` in the path (a
            // link like sites-enabled/x -> ../sites-available/x), and the kernel could not
            // prove it stayed inside the root. openat2(2) says to retry; after many tries the
            // walk resolves it instead.
            for _ in 0..64 {
                match openat2(self.fd.as_fd(), &rel, how) {
                    Ok(fd) => return Ok(fd),
                    Err(Errno::EAGAIN) => continue,
                    Err(Errno::ENOSYS) => {
                        self.no_openat2.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.open_walked(target, flags, walk)
    }

    /// The fallback: `walk` gives the link-free target path; it is opened relative to the
    /// root with O_NOFOLLOW on the last component, so a link planted meanwhile is refused.
    fn open_walked(
        &self,
        target: &Path,
        flags: OFlag,
        walk: &dyn Fn(&Path) -> io::Result<PathBuf>,
    ) -> io::Result<OwnedFd> {
        let follow = !flags.contains(OFlag::O_NOFOLLOW);
        let resolved = if follow {
            walk(target)?
        } else {
            // The last component is the object itself; only its directory is resolved.
            match (target.parent(), target.file_name()) {
                (Some(dir), Some(name)) => walk(dir)?.join(name),
                _ => walk(target)?,
            }
        };
        nix::fcntl::openat(
            self.fd.as_fd(),
            &relative(&resolved),
            flags | OFlag::O_NOFOLLOW,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(io::Error::from)
    }

    /// Opens for reading, and returns the file with its status only when it is a regular
    /// file. O_NONBLOCK: opening a FIFO does not wait for a writer; O_NOCTTY: a terminal
    /// does not become ours. (One open and one fstat per file: detection reads thousands.)
    pub fn open_read(
        &self,
        target: &Path,
        kind: ReadKind,
        walk: &dyn Fn(&Path) -> io::Result<PathBuf>,
    ) -> io::Result<(File, std::fs::Metadata)> {
        let fd = self.open_at(
            target,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            walk,
        )?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        check_regular(&meta, kind)?;
        Ok((file, meta))
    }

    pub fn metadata(
        &self,
        target: &Path,
        follow: bool,
        walk: &dyn Fn(&Path) -> io::Result<PathBuf>,
    ) -> io::Result<std::fs::Metadata> {
        File::from(self.open_at(target, path_flags(follow), walk)?).metadata()
    }

    pub fn read_link(
        &self,
        target: &Path,
        walk: &dyn Fn(&Path) -> io::Result<PathBuf>,
    ) -> io::Result<PathBuf> {
        let fd = self.open_at(target, path_flags(false), walk)?;
        let link = nix::fcntl::readlinkat(fd.as_fd(), "").map_err(io::Error::from)?;
        Ok(PathBuf::from(link))
    }

    /// The names in a directory, unsorted.
    pub fn list_dir(
        &self,
        target: &Path,
        walk: &dyn Fn(&Path) -> io::Result<PathBuf>,
    ) -> io::Result<Vec<std::ffi::OsString>> {
        use std::os::unix::ffi::OsStrExt;
        let fd = self.open_at(
            target,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            walk,
        )?;
        let mut dir = nix::dir::Dir::from_fd(fd).map_err(io::Error::from)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(io::Error::from)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(std::ffi::OsStr::from_bytes(name).to_os_string());
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree whose links point at a host file, absolutely and through `..`, with the
    /// walk of [`crate::host::Host::canonical`] as the fallback resolver.
    fn tree_with_escaping_links() -> (tempfile::TempDir, tempfile::TempDir, crate::host::Host) {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("etc")).unwrap();
        let abs = outside.path().join("secret");
        std::os::unix::fs::symlink(&abs, tree.path().join("etc/abs")).unwrap();
        let up = format!(
            "{}{}",
            "../".repeat(40),
            abs.display().to_string().trim_start_matches('/')
        );
        std::os::unix::fs::symlink(up, tree.path().join("etc/up")).unwrap();
        std::fs::write(tree.path().join("etc/inside"), "tree file").unwrap();
        let host = crate::host::Host::new(
            tree.path(),
            std::time::Duration::from_secs(1),
            crate::host::Clock::System,
        );
        (outside, tree, host)
    }

    #[test]
    fn a_link_through_dotdot_opens_while_files_are_renamed_elsewhere() {
        // Debian's sites-enabled/x.conf -> ../sites-available/x.conf. The kernel refuses such
        // a resolution with EAGAIN when any rename happens meanwhile (it cannot prove `..`
        // stayed inside the root); apply's atomic writes rename all the time.
        let tree = tempfile::tempdir().unwrap();
        let t = tree.path();
        std::fs::create_dir_all(t.join("etc/sites-available")).unwrap();
        std::fs::create_dir_all(t.join("etc/sites-enabled")).unwrap();
        std::fs::write(t.join("etc/sites-available/x.conf"), "site").unwrap();
        std::os::unix::fs::symlink(
            "../sites-available/x.conf",
            t.join("etc/sites-enabled/x.conf"),
        )
        .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renamer = {
            let stop = stop.clone();
            let dir = tempfile::tempdir().unwrap();
            std::thread::spawn(move || {
                let (a, b) = (dir.path().join("a"), dir.path().join("b"));
                std::fs::write(&a, "").unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::rename(&a, &b);
                    let _ = std::fs::rename(&b, &a);
                }
            })
        };
        let dir = RootDir::new(t).unwrap();
        let walk = |_: &Path| -> io::Result<PathBuf> { Err(io::ErrorKind::Unsupported.into()) };
        let failed = (0..200_000)
            .filter(|_| {
                dir.open_at(
                    Path::new("/etc/sites-enabled/x.conf"),
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    &walk,
                )
                .is_err()
            })
            .count();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        renamer.join().unwrap();
        assert_eq!(failed, 0, "opens that failed");
    }

    #[test]
    fn links_out_of_the_root_are_missing_both_with_openat2_and_with_the_walk() {
        let (_o, tree, host) = tree_with_escaping_links();
        let dir = RootDir::new(tree.path()).unwrap();
        let walk = |p: &Path| host.canonical(p);
        let read = |f: io::Result<(File, std::fs::Metadata)>| {
            f.and_then(|(f, m)| read_checked(f, &m, ReadKind::Config))
        };
        for name in ["/etc/abs", "/etc/up"] {
            let e = read(dir.open_read(Path::new(name), ReadKind::Config, &walk)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{name}: {e}");
            let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
            let e = dir.open_walked(Path::new(name), flags, &walk).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "walk {name}: {e}");
        }
        let fd = dir
            .open_walked(Path::new("/etc/inside"), OFlag::O_RDONLY, &walk)
            .unwrap();
        assert_eq!(
            read_regular(File::from(fd), ReadKind::Config).unwrap(),
            b"tree file"
        );
        // The seam says what the link is.
        let e = host.read("/etc/abs").unwrap_err().to_string();
        assert!(e.starts_with("is a dangling link: its target /"), "{e}");
    }

    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let e = read_local(Path::new("/dev/zero"), ReadKind::Answers).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("is a character device, not a regular file"),
            "{e}"
        );
        let d = tempfile::tempdir().unwrap();
        let big = d.path().join("big");
        std::fs::write(&big, vec![b'x'; (64 << 10) + 1]).unwrap();
        let e = read_local(&big, ReadKind::SystemInfo).unwrap_err();
        assert_eq!(
            e.to_string(),
            "is larger than 64 KiB, the most dpwizard reads of a system information file: not read"
        );
        std::fs::write(&big, vec![b'x'; 64 << 10]).unwrap();
        assert_eq!(
            read_local(&big, ReadKind::SystemInfo).unwrap().len(),
            64 << 10
        );
    }
}
