//! Generates the `voicetrace.v1` gRPC code (`proto/voicetrace/v1/call_log.proto`) for the
//! receiver's `CallLogService`, with the `protoc` vendored by `protoc-bin-vendored`: building
//! the crate needs no system protoc.
//!
//! Only the `receiver` feature uses the generated code, so an agent-side build
//! (`--no-default-features --features instrument`) runs no protoc at all.

use std::error::Error;
use std::path::Path;

/// The schema, relative to the crate root.
const PROTO: &str = "proto/voicetrace/v1/call_log.proto";
/// Where `import "..."` paths of our own files resolve.
const PROTO_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_RECEIVER").is_none() {
        return Ok(());
    }

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // prost-build runs the protoc named by PROTOC. Edition 2021: `set_var` is safe, and the
    // build script is single-threaded at this point.
    std::env::set_var("PROTOC", &protoc);
    // google/protobuf/struct.proto comes with the vendored protoc; its messages map to
    // `prost_types` in the generated code.
    let well_known = protoc_bin_vendored::include_path()?;

    tonic_prost_build::configure()
        .build_server(true)
        // The client serves tests and Rust consumers of the service.
        .build_client(true)
        .compile_protos(&[Path::new(PROTO)], &[Path::new(PROTO_ROOT), &well_known])?;
    Ok(())
}
