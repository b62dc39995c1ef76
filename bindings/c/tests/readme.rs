//! The README's C example is the one CI compiles and runs under valgrind: `examples/verify.c`.

#[test]
fn readme_c_example_is_verify_c() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let example =
        std::fs::read_to_string(format!("{root}/bindings/c/examples/verify.c")).expect("verify.c");
    let block = readme
        .split("```c\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```c block in README.md");
    assert!(
        example.contains(block),
        "README.md's C example differs from bindings/c/examples/verify.c"
    );
}
