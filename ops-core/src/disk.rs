//! The file system under a path: how much is free, and how big it is (statvfs). For the
//! catalog's space: ops-status exports it, pgdump-run warns before a night that will not
//! fit.

use std::path::Path;

/// Free space (for an unprivileged user: what a dump may use) and size, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub avail_bytes: u64,
    pub size_bytes: u64,
}

/// The file system holding `path` (`None`: it cannot be asked, e.g. the path is gone).
pub fn space(path: &Path) -> Option<Space> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data, valid all zero; statvfs() fills it in from a
    // NUL-terminated path and touches nothing else.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let unit = st.f_frsize as u64;
    Some(Space {
        avail_bytes: st.f_bavail as u64 * unit,
        size_bytes: st.f_blocks as u64 * unit,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_temporary_directory_has_a_size() {
        let s = super::space(&std::env::temp_dir()).unwrap();
        assert!(s.size_bytes > 0 && s.avail_bytes <= s.size_bytes);
        assert!(super::space(std::path::Path::new("/no/such/dir")).is_none());
    }
}
