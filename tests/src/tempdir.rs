//! A temporary directory removed on drop (no extra dependency for something this small).

use std::{
    fs,
    path::{Path, PathBuf},
};

pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Creates `$TMPDIR/<prefix>-<pid>-<n>`, mode 0700.
    pub fn new(prefix: &str) -> Self {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let path = base.join(crate::unique_name(prefix));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Self { path, keep: false },
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("creating {}: {e}", path.display()),
            }
        }
        panic!(
            "could not create a temporary directory under {}",
            base.display()
        );
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the directory in place on drop (for looking at logs after a failure).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Gives the directory (not its contents) to a user, e.g. `postgres`.
    pub fn chown(&self, user: &str) {
        let (uid, gid) = user_ids(user);
        let c = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes())
            .expect("path without NUL");
        // SAFETY: c is a valid NUL-terminated path.
        let rc = unsafe { libc::chown(c.as_ptr(), uid, gid) };
        assert_eq!(
            rc,
            0,
            "chown {} {user}: {}",
            self.path.display(),
            std::io::Error::last_os_error()
        );
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep && std::env::var_os("CORDON_KEEP_TEMP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// uid and gid of a local user, from the password database.
pub fn user_ids(user: &str) -> (libc::uid_t, libc::gid_t) {
    let name = std::ffi::CString::new(user).expect("user name without NUL");
    // SAFETY: getpwnam returns NULL or a pointer to static storage; the fields are
    // copied out before any other call could overwrite it. Tests that call this run in
    // parallel threads, so serialise with a lock.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!pw.is_null(), "no user {user} on this machine");
    // SAFETY: pw is non-null and points at a valid passwd entry.
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}
