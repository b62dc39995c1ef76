//! Files and directories that only the issuer's own user may open: the data directory, the rotated
//! signing keys in it, and the key-encryption key file.

use std::path::Path;

/// Creates `path` and its missing parents with mode 0700 (on Unix), from the start, so that there
/// is no moment when another user can list it. A directory that exists already is left as it is.
pub(crate) fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// The permission bits of `path` if group or others may use it, `None` if it is private (or the
/// system has no such bits).
pub(crate) fn open_to_others(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Ok(Some(mode));
        }
    }
    #[cfg(not(unix))]
    std::fs::metadata(path)?;
    Ok(None)
}
