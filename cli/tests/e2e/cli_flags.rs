//! The `switchboard` binary as an operator types it: global flags in any position.

use std::process::Command;

fn switchboard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("SWITCHBOARD_BACKEND")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .output()
        .expect("run switchboard")
}

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for args in [
        vec!["--data-dir", d, "dlq", "list", "inbound"],
        vec!["dlq", "list", "inbound", "--data-dir", d],
        vec!["--data-dir", d, "messages", "pending", "--requeue"],
        vec!["events", "--data-dir", d, "pending"],
    ] {
        let out = switchboard(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // `--backend` before the subcommand reaches the configuration (which then names the
    // missing AWS setting) instead of being refused by the argument parser.
    for args in [
        vec!["--backend", "aws", "dlq", "list", "inbound"],
        vec!["dlq", "list", "inbound", "--backend", "aws"],
    ] {
        let out = switchboard(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("_URL must be set") || err.contains("must be set"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    }
}
