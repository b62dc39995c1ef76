//! Directories that only the issuer's own user may open: the data directory and the rotated
//! signing keys in it.

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
