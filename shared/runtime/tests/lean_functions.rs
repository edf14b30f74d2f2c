//! Every Lambda function links only what it runs on AWS: no embedded backend (SQLite,
//! `.env`), no template parser, no second HTTP stack. A dependency slipping back in (a
//! feature enabled by default, a helper moved into the wrong crate) fails here rather
//! than in the package size measured months later.

use std::path::Path;
use std::process::Command;

/// Crates no deployed function may link, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("switchboard-local", "the embedded backend"),
    ("rusqlite", "SQLite"),
    ("libsqlite3-sys", "SQLite"),
    ("dotenvy", ".env files"),
    ("switchboard-bootstrap", "template parsing"),
    ("yaml_serde", "YAML"),
    ("serde_yaml", "YAML"),
    ("pem", "PEM parsing (jsonwebtoken's use_pem)"),
    ("h2", "HTTP/2"),
    ("aws-smithy-http-client", "the SDK's own hyper client"),
    (
        "rustls-native-certs",
        "reading the system's certificate files at start",
    ),
    (
        "native-tls",
        "a second TLS stack (error tracking's default transport)",
    ),
    ("openssl-sys", "OpenSSL"),
];

#[test]
fn no_function_links_the_embedded_backend_yaml_or_a_second_http_stack() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args: Vec<String> = ["tree", "--offline", "-e", "normal", "--prefix", "none"]
        .map(String::from)
        .to_vec();
    let mut functions = 0;
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        let path = entry.unwrap().path();
        if path.join("Cargo.toml").exists() {
            args.push("-p".into());
            args.push(path.file_name().unwrap().to_string_lossy().into_owned());
            functions += 1;
        }
    }
    assert!(functions > 0, "no functions found under {}", root.display());
    // One resolution for all functions together, as `cargo lambda build` does it.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(&args)
        .current_dir(&root)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let linked: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for (name, what) in FORBIDDEN {
        assert!(
            !linked.contains(name),
            "a Lambda function links {name} ({what}); see docs/operations.md#running-a-function-locally"
        );
    }
    // The guard is only meaningful if the tree is the real one.
    assert!(linked.contains(&"switchboard-runtime"));
    assert!(linked.contains(&"aws-sdk-dynamodb"));
}
