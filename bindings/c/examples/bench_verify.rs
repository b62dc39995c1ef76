//! The Rust side of `scripts/bench-bindings`: the Rust verifier on the reference licence, the same
//! work `bindings/c/bench/verify.c` and the Python and Node benchmarks do through their bindings.
//! `bench_verify N` prints nanoseconds per verify over N verifies after N/10 to warm up.

use std::time::Instant;

use tessera_verifier::{LicenseBuffer, Product, PublicKey, UnixTime, Verifier};

const KEY: &str = "ts1_AQEA2Uevh4x_IgEBAoD2_CiA3YE4H5yFzNQoS4SeF-xdzqY0ITq77_DPtlYLeJj4W4X4GbqwEavEwYKikN_qS4gbN3E0iEfCZIJmfY_x_yslyX8BPA8";
const EDITOR: Product = Product {
    id: 1,
    name: "acme-editor",
    tiers: &["free", "pro", "team"],
    features: &["export", "sync", "cloud", "ai", "plugins"],
};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(1000);
    let trusted = [
        PublicKey::from_text("tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .expect("public key"),
    ];
    let verifier = Verifier::new(&trusted)
        .expect("verifier")
        .for_product(&EDITOR);
    let verify = || {
        let mut buf = LicenseBuffer::new();
        let licence = verifier.verify(std::hint::black_box(KEY), UnixTime(1_798_761_600), &mut buf);
        assert!(licence.is_ok());
    };
    (0..n / 10).for_each(|_| verify());
    let start = Instant::now();
    (0..n).for_each(|_| verify());
    println!("{:.1}", start.elapsed().as_nanos() as f64 / f64::from(n));
}
