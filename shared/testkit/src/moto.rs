//! A moto_server for the AWS contract tests: one per test process, on a free loopback
//! port, stopped when the process exits. The test command installs moto; when the
//! environment names a running server (`SWITCHBOARD_TEST_MOTO_URL`), that one is used.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use switchboard_aws::Clients;
use switchboard_bootstrap::{self as bootstrap, Deployment, Template};

static URL: OnceLock<String> = OnceLock::new();
static WATCHDOG: OnceLock<std::sync::Mutex<std::process::Child>> = OnceLock::new();

/// The moto endpoint, starting a server on first use. Panics with instructions when
/// moto is not installed: the AWS contract tests must not pass silently without it.
pub fn endpoint() -> &'static str {
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("SWITCHBOARD_TEST_MOTO_URL")
            && !url.is_empty()
        {
            return url;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let me = std::process::id();
        // A watchdog shell stops the server when this test process ends.
        let script = format!(
            "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null"
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh");
        // Keep the handle for the life of the process.
        WATCHDOG.get_or_init(|| std::sync::Mutex::new(child));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}; install it with `pip install 'moto[server]'` \
                 (the README's test command does this)"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        url
    })
}

/// SDK config pointing at moto with dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "testkit");
    aws_config::defaults(switchboard_aws::config::behavior_version())
        .http_client(switchboard_aws::config::http_client())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await
}

/// Clients pointing at moto.
pub async fn clients() -> Clients {
    Clients::new(&sdk_config().await)
}

/// The repository's template.
pub fn template() -> Template {
    let path = crate::workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Template::parse(&text).expect("template.yaml parses")
}

/// Creates a fresh table and queues (from template.yaml) under a unique prefix, so
/// tests run in parallel on one server without interfering.
pub async fn deploy(clients: &Clients) -> Deployment {
    let prefix = format!(
        "t{}",
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..12)
            .unwrap_or("x")
    );
    bootstrap::create(clients, &template(), &prefix)
        .await
        .expect("bootstrap from template.yaml")
}
