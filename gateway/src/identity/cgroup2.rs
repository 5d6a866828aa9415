//! The cgroup2 hierarchy: where it is mounted and how ids map to paths.

use std::{
    io,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::PathBuf,
};

#[derive(Debug, Clone)]
pub struct Cgroup2 {
    mount: PathBuf,
}

impl Cgroup2 {
    pub fn discover() -> io::Result<Self> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        let mount =
            gateway_common::mountinfo::cgroup2_mount_point(&mountinfo).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "no cgroup2 filesystem in /proc/self/mountinfo",
                )
            })?;
        Ok(Self { mount })
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

#[cfg(test)]
mod tests {
    use super::*;

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
