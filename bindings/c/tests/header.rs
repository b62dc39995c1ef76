//! The committed `include/tessera.h` is exactly what cbindgen generates from the source, so the header
//! C programs compile against never drifts from the library they link.
//!
//! After changing the API, rewrite it with `TESSERA_BLESS=1 cargo test -p tessera-ffi --test header`
//! and review the diff.

use std::path::Path;

#[test]
fn committed_header_matches_the_source() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("UTF-8 header");

    let path = crate_dir.join("include/tessera.h");
    if std::env::var_os("TESSERA_BLESS").is_some_and(|value| value == "1") {
        std::fs::write(&path, &fresh).expect("write include/tessera.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} differs from what cbindgen generates from the source; after a deliberate API change rerun \
         with TESSERA_BLESS=1 and review the diff",
        path.display()
    );
}
