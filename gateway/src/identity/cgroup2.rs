//! The cgroup2 hierarchy: where it is mounted and how ids map to paths.
//! On a hybrid host it sits beside the v1 controllers (`.../unified`), on a
//! modern one it is the cgroup root; it is always read from mountinfo.

use std::{
    io,
    os::{fd::AsRawFd, unix::ffi::OsStrExt, unix::fs::MetadataExt},
    path::{Path, PathBuf},
};

#[derive(Debug, Clone)]
pub struct Cgroup2 {
    mount: PathBuf,
}

impl Cgroup2 {
    pub fn discover() -> io::Result<Self> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        let mount = cgroup2_mount_point(&mountinfo).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no cgroup2 filesystem in /proc/self/mountinfo",
            )
        })?;
        Ok(Self { mount })
    }

    pub fn at(mount: PathBuf) -> Self {
        Self { mount }
    }

    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// The directory of a cgroup given as a path under the mount ("/a/b").
    pub fn absolute(&self, cgroup: &str) -> PathBuf {
        self.mount.join(cgroup.trim_start_matches('/'))
    }

    /// The id the kernel reports for a cgroup: its directory's inode.
    pub fn id_of(&self, cgroup: &str) -> io::Result<u64> {
        Ok(std::fs::metadata(self.absolute(cgroup))?.ino())
    }

    /// The path ("/a/b") of the cgroup with this id. Opens the directory by
    /// its kernfs file handle (the id) rather than searching the tree.
    pub fn path_of_id(&self, id: u64) -> io::Result<String> {
        let dir = std::fs::File::open(&self.mount)?;
        let fd = open_by_cgroup_id(dir.as_raw_fd(), id)?;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        let relative = link.strip_prefix(&self.mount).map_err(|_| {
            io::Error::other(format!(
                "cgroup {id} resolved outside the cgroup2 mount: {}",
                link.display()
            ))
        })?;
        Ok(format!("/{}", relative.display()))
    }
}

/// `open_by_handle_at` with a kernfs handle: 8 bytes holding the cgroup id.
fn open_by_cgroup_id(mount_fd: i32, id: u64) -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    /// The kernel's `struct file_handle` with room for a kernfs id.
    #[repr(C)]
    struct KernfsHandle {
        handle_bytes: u32,
        handle_type: i32,
        id: u64,
    }
    const FILEID_KERNFS: i32 = 0xfe;
    let handle = KernfsHandle {
        handle_bytes: 8,
        handle_type: FILEID_KERNFS,
        id,
    };
    // SAFETY: the handle is a valid, initialized file_handle of the declared
    // size; the kernel only reads it. The returned fd is owned by the File.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd,
            &handle as *const KernfsHandle,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ESTALE) | Some(libc::ENOENT) => io::Error::new(
                io::ErrorKind::NotFound,
                format!("no cgroup with id {id} (it has exited)"),
            ),
            _ => e,
        });
    }
    // SAFETY: fd is a fresh descriptor the syscall returned to us.
    Ok(unsafe { std::fs::File::from_raw_fd(fd as i32) })
}

/// The mount point of the first cgroup2 filesystem in a mountinfo text.
fn cgroup2_mount_point(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount_fields, fs_fields) = line.split_once(" - ")?;
        if fs_fields.split(' ').next()? != "cgroup2" {
            return None;
        }
        let mount_point = mount_fields.split(' ').nth(4)?;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(
            mount_point,
        ))))
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            out.push(
                ((bytes[i + 1] - b'0') << 6) | ((bytes[i + 2] - b'0') << 3) | (bytes[i + 3] - b'0'),
            );
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_in_hybrid_and_unified_layouts() {
        let hybrid = "25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                      26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n\
                      27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(
            cgroup2_mount_point(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount_point(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(
            cgroup2_mount_point("1 0 0:1 / / rw - ext4 /dev/sda rw\n"),
            None
        );
    }

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(unescape(r"/mnt/my\040cgroups"), b"/mnt/my cgroups");
        assert_eq!(unescape(r"/plain"), b"/plain");
    }

    #[test]
    fn ids_resolve_back_to_paths() {
        let Ok(cgroup2) = Cgroup2::discover() else {
            eprintln!("skipped: no cgroup2 mount on this machine");
            return;
        };
        let id = cgroup2.id_of("/").expect("the root cgroup exists");
        match cgroup2.path_of_id(id) {
            Ok(path) => assert_eq!(path, "/"),
            // Without CAP_DAC_READ_SEARCH the handle cannot be opened.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => eprintln!("skipped: {e}"),
            Err(e) => panic!("resolving the root cgroup id {id}: {e}"),
        }
    }
}
