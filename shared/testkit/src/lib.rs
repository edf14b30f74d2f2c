//! Test support shared by every crate's tests: the contract suites each port must pass
//! on both backends, a moto_server harness, payload fixtures and signing helpers.
//!
//! Contract suites are plain async functions taking a port; the `*_contract!` macros
//! stamp one `#[tokio::test]` per case for a backend factory, so a failure names the
//! case and the backend.

pub mod backends;
pub mod contract;
pub mod fixtures;
pub mod llm;
pub mod moto;
pub mod scan;
pub mod sendgrid;
pub mod smtp_sink;

/// The workspace root (where `template.yaml` lives).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("testkit sits two levels below the workspace root")
        .to_path_buf()
}
