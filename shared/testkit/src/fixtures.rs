//! Payload fixtures in the shapes providers send, and signing helpers.

/// Test app secret used by sample events and tests (documented in the README; never a
/// real secret).
pub const TEST_APP_SECRET: &str = "switchboard-test-app-secret";
