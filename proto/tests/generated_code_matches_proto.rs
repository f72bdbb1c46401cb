//! Fails when `src/appsignal.v1.rs` no longer matches `appsignal.proto`.
//! Regenerate with: `APPSIGNAL_REGENERATE_PROTO=1 cargo test -p appsignal-proto --test generated_code_matches_proto`

use std::path::PathBuf;

fn generate() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let descriptors =
        protox::compile(["appsignal.proto"], [&root]).expect("appsignal.proto compiles");
    let out = tempfile::tempdir().expect("temp dir");
    prost_build::Config::new()
        .out_dir(out.path())
        .btree_map(["."])
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        .message_attribute(".", "#[serde(default)]")
        .compile_fds(descriptors)
        .expect("prost-build generates code");
    std::fs::read_to_string(out.path().join("appsignal.v1.rs")).expect("generated file")
}

#[test]
fn checked_in_code_matches_the_proto_file() {
    let generated = generate();
    let checked_in_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/appsignal.v1.rs");
    if std::env::var_os("APPSIGNAL_REGENERATE_PROTO").is_some() {
        std::fs::write(&checked_in_path, &generated).expect("write generated code");
    }
    let checked_in = std::fs::read_to_string(&checked_in_path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "proto/src/appsignal.v1.rs is out of date with proto/appsignal.proto; regenerate with \
         APPSIGNAL_REGENERATE_PROTO=1 cargo test -p appsignal-proto --test generated_code_matches_proto"
    );
}
