//! Writing files the safe way: every directory on the way is opened with O_NOFOLLOW from the
//! root down (so a symlink planted anywhere in the path is refused, not followed), the new
//! content goes to a temp file in the same directory (O_EXCL, mode 0600 until it is complete),
//! gets its owner and mode, is fsync'd, renamed over the target, and the directory is fsync'd.
//! A crash at any moment leaves either the old file or the new one, never a torn one.

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{Mode, fchmod, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, unlinkat};

use crate::host::Host;
use crate::plan::FileMode;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("refusing to write {path}: {component} is a symbolic link (it could point anywhere)")]
    SymlinkInPath { path: String, component: String },
    #[error("refusing to write {path}: it is a symbolic link")]
    TargetIsSymlink { path: String },
    #[error("refusing to touch {path}: it is {kind}, not a regular file")]
    NotAFile { path: String, kind: &'static str },
    #[error("refusing to write {path}: {component} is {kind}, not a directory")]
    NotADirectory {
        path: String,
        component: String,
        kind: &'static str,
    },
    #[error("{path}: {what}: {errno}{}", errno_hint(*errno))]
    Sys {
        path: String,
        what: &'static str,
        errno: Errno,
    },
    #[error("{0} is not an absolute path with a file name")]
    BadPath(String),
    #[error("cannot write {path}: {at} is on a read-only file system")]
    ReadOnly { path: String, at: String },
}

/// What to do about the errors an admin can fix.
fn errno_hint(e: Errno) -> &'static str {
    match e {
        Errno::ENOSPC | Errno::EDQUOT => " (free some space on that file system: `df -h` shows it)",
        Errno::EROFS => " (the file system is mounted read-only)",
        Errno::ENAMETOOLONG => " (the name is longer than the file system allows)",
        _ => "",
    }
}

/// What a file was before a change: its bytes and how it was owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub bytes: Vec<u8>,
    pub mode: FileMode,
    pub is_symlink: bool,
}

fn sys<'a>(path: &'a Path, what: &'static str) -> impl Fn(Errno) -> WriteError + 'a {
    move |errno| WriteError::Sys {
        path: path.display().to_string(),
        what,
        errno,
    }
}

/// Opens the root directory of the host.
fn open_root(host: &Host) -> Result<OwnedFd, WriteError> {
    let root = host.root();
    nix::fcntl::open(
        root,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys(root, "opening the root"))
}

/// Walks `target`'s parent directories from the root with O_NOFOLLOW, creating missing ones
/// (mode 0755) when `create` is set. Returns the parent's fd and the file name.
fn open_parent<'p>(
    host: &Host,
    target: &'p Path,
    create: bool,
) -> Result<(OwnedFd, &'p OsStr), WriteError> {
    let name = target
        .file_name()
        .filter(|_| target.is_absolute())
        .ok_or_else(|| WriteError::BadPath(target.display().to_string()))?;
    let mut dir = open_root(host)?;
    let mut walked = std::path::PathBuf::from("/");
    let parent = target.parent().unwrap_or(Path::new("/"));
    for comp in parent.components() {
        let Component::Normal(c) = comp else {
            if matches!(comp, Component::ParentDir) {
                return Err(WriteError::BadPath(target.display().to_string()));
            }
            continue;
        };
        walked.push(c);
        let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let next = match openat(dir.as_fd(), c, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create => {
                match mkdirat(dir.as_fd(), c, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(sys(&walked, "creating the directory")(e)),
                }
                openat(dir.as_fd(), c, flags, Mode::empty())
                    .map_err(sys(&walked, "opening the directory"))?
            }
            // O_NOFOLLOW on a symlink gives ELOOP (or ENOTDIR with O_DIRECTORY); ENOTDIR is
            // also what a regular file (or FIFO...) where a directory should be gives.
            Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                return Err(not_a_dir(&dir, c, target, &walked));
            }
            Err(e) => return Err(sys(&walked, "opening the directory")(e)),
        };
        dir = next;
    }
    Ok((dir, name))
}

/// What a file type is, in words, for messages.
fn kind_of(fmt: libc::mode_t) -> &'static str {
    match fmt {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO (named pipe)",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        _ => "not a regular file",
    }
}

/// Why `c` in `dir` is not a directory to walk through: a symlink, or something else.
fn not_a_dir(dir: &OwnedFd, c: &OsStr, target: &Path, walked: &Path) -> WriteError {
    let path = target.display().to_string();
    let component = walked.display().to_string();
    match fstatat(dir.as_fd(), c, AtFlags::AT_SYMLINK_NOFOLLOW).map(|s| s.st_mode & libc::S_IFMT) {
        Ok(libc::S_IFLNK) | Err(_) => WriteError::SymlinkInPath { path, component },
        Ok(fmt) => WriteError::NotADirectory {
            path,
            component,
            kind: kind_of(fmt),
        },
    }
}

/// What would stop a write at `target`, found before anything is written: a symlink or a
/// non-directory on the way, a symlink at the target (unless `link_ok`: the change is a link
/// or a removal), a read-only file system. Creates nothing.
pub fn preflight(host: &Host, target: &Path, link_ok: bool) -> Result<(), WriteError> {
    let name = target
        .file_name()
        .filter(|_| target.is_absolute())
        .ok_or_else(|| WriteError::BadPath(target.display().to_string()))?;
    let mut dir = open_root(host)?;
    let mut walked = std::path::PathBuf::from("/");
    let mut whole = true;
    for comp in target.parent().unwrap_or(Path::new("/")).components() {
        let Component::Normal(c) = comp else {
            if matches!(comp, Component::ParentDir) {
                return Err(WriteError::BadPath(target.display().to_string()));
            }
            continue;
        };
        walked.push(c);
        let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        match openat(dir.as_fd(), c, flags, Mode::empty()) {
            Ok(fd) => dir = fd,
            Err(Errno::ENOENT) => {
                whole = false;
                break;
            }
            Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                return Err(not_a_dir(&dir, c, target, &walked));
            }
            Err(e) => return Err(sys(&walked, "opening the directory")(e)),
        }
    }
    if whole
        && !link_ok
        && let Ok(st) = fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        && st.st_mode & libc::S_IFMT == libc::S_IFLNK
    {
        return Err(WriteError::TargetIsSymlink {
            path: target.display().to_string(),
        });
    }
    // SAFETY: fstatvfs fills the struct we own from a directory fd we hold open.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatvfs(std::os::fd::AsRawFd::as_raw_fd(&dir), &mut vfs) };
    if rc == 0 && vfs.f_flag & libc::ST_RDONLY != 0 {
        let at = if whole {
            walked
        } else {
            walked.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        return Err(WriteError::ReadOnly {
            path: target.display().to_string(),
            at: at.display().to_string(),
        });
    }
    Ok(())
}

/// Opens (creating it, 0600) a lock file without following links on its path.
pub fn open_lock_file(host: &Host, target: &Path) -> Result<std::fs::File, WriteError> {
    let (dir, name) = open_parent(host, target, true)?;
    let fd = openat(
        dir.as_fd(),
        name,
        OFlag::O_CREAT | OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(sys(target, "opening the lock file"))?;
    Ok(std::fs::File::from(fd))
}

/// Reads a file without following symlinks anywhere on its path; None when it does not exist.
/// A symlink at the target itself is reported (its link text as bytes), not followed.
pub fn read_existing(host: &Host, target: &Path) -> Result<Option<Existing>, WriteError> {
    let (dir, name) = match open_parent(host, target, false) {
        Ok(x) => x,
        Err(WriteError::Sys {
            errno: Errno::ENOENT,
            ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = match fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(sys(target, "reading its status")(e)),
    };
    let mode = FileMode {
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode & 0o7777,
    };
    let fmt = st.st_mode & libc::S_IFMT;
    if fmt != libc::S_IFLNK && fmt != libc::S_IFREG {
        // A FIFO would block the read (and the plan); a device never ends.
        return Err(WriteError::NotAFile {
            path: target.display().to_string(),
            kind: kind_of(fmt),
        });
    }
    if fmt == libc::S_IFLNK {
        let link =
            nix::fcntl::readlinkat(dir.as_fd(), name).map_err(sys(target, "reading the link"))?;
        return Ok(Some(Existing {
            bytes: link.as_bytes().to_vec(),
            mode,
            is_symlink: true,
        }));
    }
    let fd = openat(
        dir.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys(target, "opening"))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| WriteError::Sys {
        path: target.display().to_string(),
        what: "reading",
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    Ok(Some(Existing {
        bytes,
        mode,
        is_symlink: false,
    }))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The start of the names of temp files written beside `name`: `.NAME.dpwizard-`. A long
/// name (a 253-character domain in a file name is valid) is shortened with a hash of it, so
/// that the temp name stays within NAME_MAX (255 bytes) whatever follows the prefix.
pub fn temp_prefix(name: &str) -> String {
    const ROOM: usize = 160;
    if name.len() <= ROOM {
        return format!(".{name}.dpwizard-");
    }
    let mut cut = 100;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = super::journal::sha256(name.as_bytes());
    format!(".{}~{}.dpwizard-", &name[..cut], &hash[..16])
}

/// Atomically replaces (or creates) `target` with `bytes`, owned and moded as asked.
/// A symlink at the target is refused; parent directories are created (0755) if missing.
pub fn write_atomic(
    host: &Host,
    target: &Path,
    bytes: &[u8],
    mode: FileMode,
) -> Result<(), WriteError> {
    let (dir, name) = open_parent(host, target, true)?;
    match fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
            return Err(WriteError::TargetIsSymlink {
                path: target.display().to_string(),
            });
        }
        _ => {}
    }
    let tmp = format!(
        "{}{}-{}",
        temp_prefix(&name.to_string_lossy()),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let fd = openat(
        dir.as_fd(),
        tmp.as_str(),
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(sys(target, "creating a temporary file beside it"))?;
    let result = (|| {
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes).map_err(|e| WriteError::Sys {
            path: target.display().to_string(),
            what: "writing",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        if nix::unistd::geteuid().is_root() {
            fchown(
                &file,
                Some(Uid::from_raw(mode.uid)),
                Some(Gid::from_raw(mode.gid)),
            )
            .map_err(sys(target, "setting the owner"))?;
        }
        fchmod(&file, Mode::from_bits_truncate(mode.mode))
            .map_err(sys(target, "setting the mode"))?;
        fsync(&file).map_err(sys(target, "syncing"))?;
        renameat(dir.as_fd(), tmp.as_str(), dir.as_fd(), name)
            .map_err(sys(target, "renaming into place"))?;
        fsync(&dir).map_err(sys(target, "syncing the directory"))
    })();
    if result.is_err() {
        let _ = unlinkat(dir.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    result
}

/// Removes a file (not following symlinks on the way) and syncs its directory.
pub fn remove(host: &Host, target: &Path) -> Result<(), WriteError> {
    let (dir, name) = open_parent(host, target, false)?;
    match unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(sys(target, "removing")(e)),
    }
    fsync(&dir).map_err(sys(target, "syncing the directory"))
}

/// Removes an empty directory (not following symlinks on the way). Ok(false) when it is not
/// empty or not there: a directory someone has put files in since is theirs.
pub fn remove_empty_dir(host: &Host, target: &Path) -> Result<bool, WriteError> {
    let (dir, name) = match open_parent(host, target, false) {
        Ok(x) => x,
        Err(WriteError::Sys {
            errno: Errno::ENOENT,
            ..
        }) => return Ok(false),
        Err(e) => return Err(e),
    };
    match unlinkat(dir.as_fd(), name, UnlinkatFlags::RemoveDir) {
        Ok(()) => {}
        Err(Errno::ENOENT | Errno::ENOTEMPTY | Errno::EEXIST | Errno::ENOTDIR) => return Ok(false),
        Err(e) => return Err(sys(target, "removing the directory")(e)),
    }
    fsync(&dir).map_err(sys(target, "syncing the directory"))?;
    Ok(true)
}

/// Creates (or replaces) a symlink atomically: a temp link renamed over the target.
pub fn symlink_atomic(host: &Host, target: &Path, points_to: &str) -> Result<(), WriteError> {
    let (dir, name) = open_parent(host, target, true)?;
    let tmp = format!(
        "{}link-{}",
        temp_prefix(&name.to_string_lossy()),
        std::process::id()
    );
    let _ = unlinkat(dir.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    nix::unistd::symlinkat(points_to, dir.as_fd(), tmp.as_str())
        .map_err(sys(target, "creating the link"))?;
    renameat(dir.as_fd(), tmp.as_str(), dir.as_fd(), name)
        .map_err(sys(target, "renaming the link"))?;
    fsync(&dir).map_err(sys(target, "syncing the directory"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Clock;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn host(dir: &Path) -> Host {
        Host::new(dir, Duration::from_secs(1), Clock::System)
    }

    #[test]
    fn writes_atomically_with_mode_and_creates_parents() {
        let d = tempfile::tempdir().unwrap();
        let h = host(d.path());
        let key = Path::new("/etc/ssl/dpw/key.pem");
        write_atomic(&h, key, b"secret", FileMode::SECRET).unwrap();
        let p = d.path().join("etc/ssl/dpw/key.pem");
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        write_atomic(&h, key, b"new", FileMode::CONFIG).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        // No temporary files left.
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        let e = read_existing(&h, key).unwrap().unwrap();
        assert_eq!((e.bytes.as_slice(), e.mode.mode), (&b"new"[..], 0o644));
        assert_eq!(read_existing(&h, Path::new("/etc/ssl/none")).unwrap(), None);
        assert_eq!(read_existing(&h, Path::new("/nope/x")).unwrap(), None);
    }

    #[test]
    fn a_fifo_at_a_target_path_is_refused_not_read() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        nix::unistd::mkfifo(
            &d.path().join("etc/x.conf"),
            Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let e = read_existing(&host(d.path()), Path::new("/etc/x.conf")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "refusing to touch /etc/x.conf: it is a FIFO (named pipe), not a regular file"
        );
    }

    #[test]
    fn a_file_where_a_directory_should_be_is_named_for_what_it_is() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/systemd/system")).unwrap();
        std::fs::write(d.path().join("etc/systemd/system/dp.service.d"), "").unwrap();
        let h = host(d.path());
        let e = write_atomic(
            &h,
            Path::new("/etc/systemd/system/dp.service.d/zz.conf"),
            b"x",
            FileMode::CONFIG,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "refusing to write /etc/systemd/system/dp.service.d/zz.conf: \
             /etc/systemd/system/dp.service.d is a regular file, not a directory"
        );
    }

    #[test]
    fn planted_symlinks_are_refused_and_nothing_is_written() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("etc/nginx")).unwrap();
        let h = host(d.path());
        let e = write_atomic(
            &h,
            Path::new("/etc/nginx/sites-available/x"),
            b"x",
            FileMode::CONFIG,
        )
        .unwrap_err();
        assert!(matches!(e, WriteError::SymlinkInPath { .. }), "{e}");
        assert!(
            e.to_string().contains("/etc/nginx is a symbolic link"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

        std::fs::create_dir_all(d.path().join("etc/x")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", d.path().join("etc/x/target")).unwrap();
        let e = write_atomic(&h, Path::new("/etc/x/target"), b"x", FileMode::CONFIG).unwrap_err();
        assert!(matches!(e, WriteError::TargetIsSymlink { .. }), "{e}");
        assert_eq!(
            std::fs::read_link(d.path().join("etc/x/target")).unwrap(),
            Path::new("/etc/shadow")
        );
    }

    #[test]
    fn symlinks_and_removal() {
        let d = tempfile::tempdir().unwrap();
        let h = host(d.path());
        symlink_atomic(
            &h,
            Path::new("/etc/nginx/sites-enabled/x"),
            "../sites-available/x",
        )
        .unwrap();
        let e = read_existing(&h, Path::new("/etc/nginx/sites-enabled/x"))
            .unwrap()
            .unwrap();
        assert!(e.is_symlink);
        assert_eq!(e.bytes, b"../sites-available/x");
        remove(&h, Path::new("/etc/nginx/sites-enabled/x")).unwrap();
        assert_eq!(
            read_existing(&h, Path::new("/etc/nginx/sites-enabled/x")).unwrap(),
            None
        );
    }
}
