//! The CLI's commands besides `serve`: minting dev tokens, dead letters, stored
//! events, signing sample payloads, and creating AWS resources from the template.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchboard_core::ids::{OrgId, Role};
use switchboard_core::model::Provider;
use switchboard_core::queue::QueueName;
use switchboard_core::usecases::events;
use switchboard_runtime::App;
use switchboard_runtime::auth::{DevKey, dev_claims};
use switchboard_runtime::config::{Config, ConfigError, DEV_KEY_FILE};

/// Options every command shares.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// `--data-dir` (else `SWITCHBOARD_DATA_DIR`, else `.switchboard`).
    pub data_dir: Option<PathBuf>,
    /// `--backend` (else `SWITCHBOARD_BACKEND`, else local).
    pub backend: Option<String>,
}

/// Reads the configuration with command-line overrides. The dev server and the CLI
/// always trust the dev key in the data dir (that is what `switchboard token` signs).
pub fn config(common: &Common) -> Result<Config, ConfigError> {
    let data_dir = common.data_dir.clone();
    let backend = common.backend.clone();
    let dev_key = std::env::var("SWITCHBOARD_DEV_KEY_FILE").ok().or_else(|| {
        let dir = data_dir
            .clone()
            .or_else(|| {
                std::env::var("SWITCHBOARD_DATA_DIR")
                    .ok()
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(".switchboard"));
        Some(dir.join(DEV_KEY_FILE).display().to_string())
    });
    Config::from_lookup(|k| match k {
        "SWITCHBOARD_DATA_DIR" => data_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .or_else(|| std::env::var(k).ok()),
        "SWITCHBOARD_BACKEND" => backend.clone().or_else(|| std::env::var(k).ok()),
        "SWITCHBOARD_DEV_KEY_FILE" => dev_key.clone(),
        _ => std::env::var(k).ok(),
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
    let org = OrgId::parse(org).map_err(|e| format!("--org: {e}"))?;
    let role = Role::parse(role)
        .ok_or_else(|| format!("--role `{role}`: use owner, admin, agent or viewer"))?;
    let path = cfg
        .auth
        .dev_key_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join(DEV_KEY_FILE));
    let key = DevKey::open_or_create(&path)
        .map_err(|e| format!("dev signing key {}: {e}", path.display()))?;
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
    App::build(cfg).await.map_err(|e| e.to_string())
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
    let template = switchboard_aws::bootstrap::Template::parse(&text).map_err(|e| e.to_string())?;
    let sdk = switchboard_aws::config::load().await;
    let clients = switchboard_aws::Clients::new(&sdk);
    let deployment = switchboard_aws::bootstrap::create(&clients, &template, prefix)
        .await
        .map_err(|e| e.to_string())?;
    let key = switchboard_aws::bootstrap::create_key(&clients, "switchboard dev")
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = vec![
        "export SWITCHBOARD_BACKEND=aws".to_owned(),
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
}
