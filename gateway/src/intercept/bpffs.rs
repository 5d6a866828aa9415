//! Makes sure the pin directory is on a bpf file system.

use std::{ffi::CString, io, os::unix::ffi::OsStrExt, path::Path};

const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// Mounts bpffs at `/sys/fs/bpf` when it is missing, then checks that `dir`
/// (created if needed) lives on bpffs.
pub fn ensure(dir: &Path) -> io::Result<()> {
    let default_mount = Path::new("/sys/fs/bpf");
    if dir.starts_with(default_mount) && !is_bpffs(default_mount)? {
        tracing::info!("mounting bpffs at /sys/fs/bpf");
        mount_bpffs(default_mount)?;
    }
    std::fs::create_dir_all(dir)?;
    if !is_bpffs(dir)? {
        return Err(io::Error::other(format!(
            "{} is not on a bpf file system (mount -t bpf bpf DIR)",
            dir.display()
        )));
    }
    Ok(())
}

fn is_bpffs(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: c is a valid C string; st is plain old data written by the kernel.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

fn mount_bpffs(target: &Path) -> io::Result<()> {
    let target = CString::new(target.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let fstype = c"bpf";
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
