//! The CLI's commands besides `serve`: minting dev tokens, dead letters, stored
//! events, signing sample payloads, and creating AWS resources from the template.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::clock::Clock;
use switchboard_core::ids::{OrgId, Role};
use switchboard_core::model::Provider;
use switchboard_core::queue::QueueName;
use switchboard_core::usecases::events;
use switchboard_runtime::App;
use switchboard_runtime::app::{StartupError, StoragePorts};
use switchboard_runtime::auth::{dev_claims, load_dev_key};
use switchboard_runtime::config::{Backend, Config, ConfigError};

/// Options every command shares.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// `--data-dir` (else `SWITCHBOARD_DATA_DIR`, else `.switchboard`).
    pub data_dir: Option<PathBuf>,
    /// `--backend` (else `SWITCHBOARD_BACKEND`, else local).
    pub backend: Option<String>,
}

/// Reads the configuration from the environment with command-line overrides.
pub fn config(common: &Common) -> Result<Config, ConfigError> {
    config_from(common, |k| std::env::var(k).ok())
}

/// Reads the configuration through `env` with command-line overrides (tests pass a map).
///
/// Which dev key is trusted is the configuration's decision alone, the same as for a
/// Lambda: the data dir key on the embedded backend, and on AWS only with
/// `SWITCHBOARD_TRUST_DEV_KEY` for a non-production `SWITCHBOARD_STAGE`. The CLI adds
/// no trust of its own, so `serve --backend aws` is no softer than the deployed stack.
pub fn config_from(
    common: &Common,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    Config::from_lookup(|k| match k {
        "SWITCHBOARD_DATA_DIR" => common
            .data_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .or_else(|| env(k)),
        "SWITCHBOARD_BACKEND" => common.backend.clone().or_else(|| env(k)),
        _ => env(k),
    })
}

/// Parses `90s`, `30m`, `12h`, `7d` or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30m, 12h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use s, m, h or d)")),
    };
    if secs == 0 {
        return Err("a token lifetime must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Mints a development token. Prints nothing but the token.
pub fn token(
    common: &Common,
    org: &str,
    role: &str,
    user: &str,
    ttl: Duration,
) -> Result<String, String> {
    let cfg = config(common).map_err(|e| e.to_string())?;
    token_with(&cfg, org, role, user, ttl)
}

/// Mints a development token with the dev key `cfg` trusts — the same key, loaded the
/// same way, as the server built from `cfg` — and refuses when it trusts none.
pub fn token_with(
    cfg: &Config,
    org: &str,
    role: &str,
    user: &str,
    ttl: Duration,
) -> Result<String, String> {
    let org = OrgId::parse(org).map_err(|e| format!("--org: {e}"))?;
    let role = Role::parse(role)
        .ok_or_else(|| format!("--role `{role}`: use owner, admin, agent or viewer"))?;
    let key = load_dev_key(&cfg.auth)
        .map_err(|e| format!("configuration: {e}"))?
        .ok_or_else(|| match cfg.backend {
            Backend::Aws => "the AWS backend trusts no dev key: tokens come from the identity \
                 provider (AUTH_JWKS_URL), or set SWITCHBOARD_TRUST_DEV_KEY=true with a \
                 non-production SWITCHBOARD_STAGE"
                .to_owned(),
            Backend::Local => "SWITCHBOARD_TRUST_DEV_KEY=false: no dev key is trusted".to_owned(),
        })?;
    let claims = dev_claims(
        &cfg.auth,
        &org,
        role,
        user,
        chrono::Utc::now().timestamp(),
        ttl,
    );
    key.sign(&claims).map_err(|e| format!("signing: {e}"))
}

/// Builds the app for a command.
pub async fn app(common: &Common) -> Result<App, String> {
    let cfg = config(common).map_err(|e| e.to_string())?;
    build_app(cfg).await.map_err(|e| e.to_string())
}

/// Builds the app for `config`, on the AWS backend or on the embedded one, which the CLI
/// links and hands to the runtime (Lambda functions do not link it).
pub async fn build_app(config: Config) -> Result<App, StartupError> {
    App::build_with(config, Some(open_embedded)).await
}

/// Opens the embedded backend: [`switchboard_local::open`] in the runtime's terms.
pub fn open_embedded(
    data_dir: &Path,
    dotenv: Option<&Path>,
    clock: Arc<dyn Clock>,
) -> Result<StoragePorts, Box<dyn std::error::Error + Send + Sync>> {
    Ok(switchboard_local::open(data_dir, dotenv, clock)?)
}

/// Parses a queue name argument.
pub fn queue_name(s: &str) -> Result<QueueName, String> {
    QueueName::parse(s).ok_or_else(|| {
        let names: Vec<&str> = QueueName::ALL.iter().map(|q| q.as_str()).collect();
        format!("unknown queue `{s}`; expected one of {}", names.join(", "))
    })
}

/// Lists dead letters as JSON lines.
pub async fn dlq_list(app: &App, queue: QueueName, limit: usize) -> Result<Vec<String>, String> {
    let dead = app
        .services()
        .queue
        .dead_letters(queue, limit)
        .await
        .map_err(|e| e.to_string())?;
    Ok(dead
        .iter()
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .collect())
}

/// Redrives dead letters; returns how many moved.
pub async fn dlq_redrive(app: &App, queue: QueueName, limit: usize) -> Result<usize, String> {
    app.services()
        .queue
        .redrive(queue, limit)
        .await
        .map_err(|e| e.to_string())
}

/// Parses a provider argument.
pub fn provider(s: &str) -> Result<Provider, String> {
    Provider::parse(s).ok_or_else(|| format!("unknown provider `{s}`; expected whatsapp or stripe"))
}

/// Lists unroutable or pending events as JSON lines (without payloads).
pub async fn events_list(
    app: &App,
    provider: Provider,
    pending: bool,
    limit: usize,
) -> Result<Vec<String>, String> {
    let list = if pending {
        events::pending(app.services(), provider, limit).await
    } else {
        events::unroutable(app.services(), provider, limit).await
    }
    .map_err(|e| e.to_string())?;
    Ok(list
        .iter()
        .map(|e| {
            serde_json::json!({
                "key": e.key, "kind": e.kind, "phone_number_id": e.phone_number_id,
                "status": e.status, "note": e.note,
                "received_at": switchboard_core::clock::fmt_time(e.received_at),
            })
            .to_string()
        })
        .collect())
}

/// Queues unroutable (or pending) events again.
pub async fn events_requeue(
    app: &App,
    provider: Provider,
    pending: bool,
    limit: usize,
) -> Result<usize, String> {
    if pending {
        events::requeue_pending(app.services(), provider, limit).await
    } else {
        events::redrive_unroutable(app.services(), provider, limit).await
    }
    .map_err(|e| e.to_string())
}

/// Lists sends stored but not yet handed to the outbound queue, as JSON lines (ids and
/// times only, no content).
pub async fn messages_pending(
    app: &App,
    older_than: Duration,
    limit: usize,
) -> Result<Vec<String>, String> {
    let list =
        switchboard_core::usecases::outbound::pending_sends(app.services(), older_than, limit)
            .await
            .map_err(|e| e.to_string())?;
    Ok(list
        .iter()
        .map(|m| {
            serde_json::to_string(&switchboard_core::usecases::outbound::PendingSend::from(m))
                .unwrap_or_default()
        })
        .collect())
}

/// Writes the filtered inbox's list entries of every conversation of `org`; returns how
/// many conversations were indexed.
pub async fn conversations_reindex(app: &App, org: &str) -> Result<usize, String> {
    let org = OrgId::parse(org).map_err(|e| format!("--org: {e}"))?;
    switchboard_core::usecases::triage::reindex_conversations(app.services(), &org)
        .await
        .map_err(|e| e.to_string())
}

/// Hands sends stored but never queued to the outbound queue.
pub async fn messages_requeue(
    app: &App,
    older_than: Duration,
    limit: usize,
) -> Result<usize, String> {
    switchboard_core::usecases::outbound::requeue_pending(app.services(), older_than, limit)
        .await
        .map_err(|e| e.to_string())
}

/// Signs a payload file as Meta would; returns the header value.
pub fn sign_whatsapp(secret: &str, file: &Path) -> Result<String, String> {
    let body = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(switchboard_webhooks::meta::sign(secret.as_bytes(), &body))
}

/// Creates the template's table, queues and a KMS key on the configured AWS endpoint;
/// returns `export` lines for `serve --backend aws`.
pub async fn aws_bootstrap(template: &Path, prefix: &str) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(template).map_err(|e| format!("{}: {e}", template.display()))?;
    let template = switchboard_bootstrap::Template::parse(&text).map_err(|e| e.to_string())?;
    let sdk = switchboard_aws::config::load().await;
    let clients = switchboard_aws::Clients::new(&sdk);
    aws_bootstrap_with(&clients, &template, prefix).await
}

/// [`aws_bootstrap`] with ready clients (tests pass moto's).
///
/// The key is found again by its alias `alias/<prefix>-tokens` on a second run, so what
/// was encrypted under it still decrypts, and `KMS_KEY_ID` is that alias: a name known
/// before the key exists, which is how `events/env.json` (for `sam local invoke`) can
/// name it.
pub async fn aws_bootstrap_with(
    clients: &switchboard_aws::Clients,
    template: &switchboard_bootstrap::Template,
    prefix: &str,
) -> Result<Vec<String>, String> {
    let deployment = switchboard_bootstrap::create(clients, template, prefix)
        .await
        .map_err(|e| e.to_string())?;
    let key = format!("alias/{prefix}-tokens");
    if clients
        .kms
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .is_err()
    {
        let id = switchboard_bootstrap::create_key(clients, "switchboard dev")
            .await
            .map_err(|e| e.to_string())?;
        clients
            .kms
            .create_alias()
            .alias_name(&key)
            .target_key_id(&id)
            .send()
            .await
            .map_err(|e| format!("creating {key}: {}", error_chain(&e)))?;
    }
    let mut lines = vec![
        "export SWITCHBOARD_BACKEND=aws".to_owned(),
        // A dev stack (moto or a sandbox account): `serve --backend aws` and `token` use
        // the data dir's dev key, which the AWS backend trusts only on this explicit,
        // non-production opt-in; Meta is real (the sandbox is for the embedded backend).
        "export SWITCHBOARD_STAGE=${SWITCHBOARD_STAGE:-dev} SWITCHBOARD_TRUST_DEV_KEY=true"
            .to_owned(),
        "export WHATSAPP_GRAPH_URL=${WHATSAPP_GRAPH_URL:-https://graph.facebook.com/v23.0}"
            .to_owned(),
        format!("export TABLE_NAME={}", deployment.table),
        format!("export KMS_KEY_ID={key}"),
        format!("export SECRETS_PREFIX={prefix}/"),
    ];
    for q in QueueName::ALL {
        if let Some(urls) = deployment.queues.get(&q) {
            lines.push(format!("export {}={}", q.url_env(), urls.url));
            lines.push(format!("export {}={}", q.dlq_url_env(), urls.dlq_url));
        }
    }
    Ok(lines)
}

/// An error and its sources, `: `-separated (SDK errors keep the service's message in
/// a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("0").is_err());
    }

    /// The environment of a complete AWS configuration plus `extra`, with `--backend aws`
    /// and `--data-dir dir` as the command line would give them.
    fn aws_config(dir: &Path, extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: std::collections::HashMap<String, String> = QueueName::ALL
            .iter()
            .flat_map(|q| {
                [
                    (q.url_env().to_owned(), "http://q".to_owned()),
                    (q.dlq_url_env().to_owned(), "http://d".to_owned()),
                ]
            })
            .collect();
        for (k, v) in [
            ("TABLE_NAME", "t"),
            ("KMS_KEY_ID", "k"),
            ("WHATSAPP_GRAPH_URL", "https://graph.facebook.com/v23.0"),
        ]
        .iter()
        .chain(extra)
        {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let common = Common {
            data_dir: Some(dir.to_owned()),
            backend: Some("aws".into()),
        };
        config_from(&common, |k| env.get(k).cloned())
    }

    #[tokio::test]
    async fn the_aws_backend_does_not_trust_the_data_dir_key_by_default() {
        let dir = tempfile::tempdir().unwrap();
        // No identity provider and no opt-in: nothing could verify a token.
        assert_eq!(
            aws_config(dir.path(), &[]).unwrap_err(),
            ConfigError::Missing("AUTH_JWKS_URL")
        );
        let jwks = [
            ("AUTH_JWKS_URL", "https://idp.example.com/jwks.json"),
            ("AUTH_ISSUER", "https://idp.example.com"),
            ("AUTH_AUDIENCE", "crm"),
        ];
        let cfg = aws_config(dir.path(), &jwks).unwrap();
        assert_eq!(cfg.auth.dev_key_file, None);
        assert_eq!(cfg.auth.dev_key_base64, None);
        let refused = token_with(&cfg, "acme", "owner", "u", Duration::from_secs(60));
        assert!(refused.unwrap_err().contains("SWITCHBOARD_TRUST_DEV_KEY"));
        assert!(
            !dir.path().join("dev-signing-key.pk8").exists(),
            "no key is even created"
        );

        // With the opt-in on a dev stage, `token` signs what the server trusts.
        let opted_in = [
            ("SWITCHBOARD_TRUST_DEV_KEY", "true"),
            ("SWITCHBOARD_STAGE", "dev"),
        ];
        let cfg = aws_config(dir.path(), &[&jwks[..], &opted_in[..]].concat()).unwrap();
        let token = token_with(&cfg, "acme", "owner", "u", Duration::from_secs(60)).unwrap();
        let auth =
            switchboard_runtime::auth::Authenticator::new(cfg.auth.clone(), reqwest::Client::new())
                .unwrap();
        let caller = auth
            .authenticate(Some(&format!("Bearer {token}")))
            .await
            .unwrap();
        assert_eq!((caller.org.as_str(), caller.role), ("acme", Role::Owner));
    }

    #[test]
    fn the_committed_test_key_is_refused_on_aws_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let test_key = switchboard_testkit::workspace_root().join("events/test-signing-key.pk8");
        let test_key = test_key.display().to_string();
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            std::fs::read(&test_key).unwrap(),
        );
        let opted_in = [
            ("SWITCHBOARD_TRUST_DEV_KEY", "true"),
            ("SWITCHBOARD_STAGE", "dev"),
        ];
        for (var, value) in [
            ("SWITCHBOARD_DEV_KEY_FILE", test_key.as_str()),
            ("SWITCHBOARD_DEV_KEY", b64.as_str()),
        ] {
            let cfg = aws_config(dir.path(), &[&opted_in[..], &[(var, value)]].concat()).unwrap();
            let minted = token_with(&cfg, "acme", "owner", "u", Duration::from_secs(60));
            assert!(minted.unwrap_err().contains(var));
            // The server refuses to start on it: a configuration error naming the variable.
            let err = switchboard_runtime::auth::Authenticator::new(
                cfg.auth.clone(),
                reqwest::Client::new(),
            )
            .unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { var: v, .. } if *v == var),
                "{err}"
            );
            let startup = switchboard_runtime::app::StartupError::from(err).to_string();
            assert!(
                startup.starts_with(&format!("configuration: {var} is invalid")),
                "{startup}"
            );
        }
        // Without the opt-in the key is refused before it is even read.
        assert!(matches!(
            aws_config(
                dir.path(),
                &[("SWITCHBOARD_DEV_KEY_FILE", test_key.as_str())]
            ),
            Err(ConfigError::Invalid {
                var: "SWITCHBOARD_DEV_KEY_FILE",
                ..
            })
        ));
        // The embedded backend still trusts it (the sample events are signed with it).
        let local = config_from(
            &Common {
                data_dir: Some(dir.path().to_owned()),
                backend: None,
            },
            |k| (k == "SWITCHBOARD_DEV_KEY_FILE").then(|| test_key.clone()),
        )
        .unwrap();
        assert!(token_with(&local, "acme", "viewer", "u", Duration::from_secs(60)).is_ok());
    }
}
