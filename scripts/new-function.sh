#!/usr/bin/env bash
# Creates the boilerplate of a function crate: functions/<name>/{Cargo.toml,src/main.rs}.
# Usage: scripts/new-function.sh <name> <http|queue:<QueueName>|cron>
# The handler itself (src/lib.rs) is written by hand; template.yaml needs its entry too.
set -euo pipefail
name="$1"; kind="$2"
crate="${name//-/_}"
dir="functions/$name"
mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$name"
version.workspace = true
edition.workspace = true
rust-version.workspace = true
license.workspace = true
publish.workspace = true

[lib]
doctest = false

[[bin]]
name = "$name"
path = "src/main.rs"
test = false

[features]
# Runs this function on the embedded backend (SQLite) under \`cargo lambda watch\`; deployed
# builds leave it off, so the package carries no SQLite (docs/operations.md).
embedded = ["switchboard-runtime/embedded"]

[dependencies]
switchboard-core.workspace = true
switchboard-runtime.workspace = true
serde_json.workspace = true
tokio.workspace = true
tracing.workspace = true
TOML
case "$kind" in
  http)
    cat > "$dir/src/main.rs" <<RS
//! Lambda entry point: wires [\`$crate::handle\`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http($crate::FUNCTION, |app, req| async move {
        $crate::handle(&app, req).await
    })
    .await
}
RS
    ;;
  queue:*)
    queue="${kind#queue:}"
    cat > "$dir/src/main.rs" <<RS
//! Lambda entry point: wires [\`$crate::handle\`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        $crate::FUNCTION,
        switchboard_core::queue::QueueName::$queue,
        |app, batch| async move { $crate::handle(&app, batch).await },
    )
    .await
}
RS
    ;;
  cron)
    cat > "$dir/src/main.rs" <<RS
//! Lambda entry point: wires [\`$crate::handle\`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron($crate::FUNCTION, |app, now| async move {
        $crate::handle(&app, now).await
    })
    .await
}
RS
    ;;
  *) echo "unknown kind $kind" >&2; exit 2 ;;
esac
echo "created $dir"
