//! Delivering platform events to the orgs' endpoints ([`WebhookHttp`]) safely: an org
//! names the URL, so Switchboard must not become a way into its own network.
//!
//! - The URL must be `https`. The host's addresses are resolved at delivery time by our
//!   own resolver, and the request fails before connecting if any of them is loopback,
//!   private (RFC 1918, unique-local), link-local (which holds the cloud metadata service
//!   at 169.254.169.254 and fd00:ec2::254), carrier-grade NAT, unspecified, multicast or
//!   reserved — checking the very addresses the connection will use, so a DNS name that
//!   resolves (or re-resolves) to an inside address is refused too. An IP literal is
//!   checked the same way.
//! - Redirects are never followed: a 3xx is the endpoint's answer (a failed attempt).
//! - With `allow_loopback` (development and tests only: `WEBHOOKS_ALLOW_LOOPBACK`), plain
//!   `http` to 127.0.0.1 / ::1 / `localhost` is allowed; nothing else is relaxed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchboard_core::webhook_http::{
    WebhookHttp, WebhookOutcome, WebhookRequest, check_url, refused_reason,
};

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Resolves a host name to addresses (the system resolver, or a fixed table in tests).
pub type Lookup = Arc<dyn Fn(String) -> BoxFuture<std::io::Result<Vec<IpAddr>>> + Send + Sync>;

#[derive(Debug)]
struct Blocked(&'static str);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "address refused: {}", self.0)
    }
}

impl std::error::Error for Blocked {}

struct GuardedResolver {
    lookup: Lookup,
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = lookup(host).await?;
            if ips.is_empty() {
                return Err(std::io::Error::other("no address").into());
            }
            if let Some(reason) = ips
                .iter()
                .find_map(|ip| refused_reason(*ip, allow_loopback))
            {
                return Err(Box::new(Blocked(reason)) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The system resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    })
}

/// The webhook client.
#[derive(Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient")
            .field("allow_loopback", &self.allow_loopback)
            .finish()
    }
}

impl WebhookClient {
    /// A client on the system resolver.
    pub fn new(allow_loopback: bool) -> Self {
        Self::with_lookup(allow_loopback, system_lookup())
    }

    /// A client on a given resolver (tests map names to private addresses).
    pub fn with_lookup(allow_loopback: bool, lookup: Lookup) -> Self {
        let client = reqwest::Client::builder()
            .user_agent("Switchboard-Webhooks/1")
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            // A fan-out may post to every endpoint of an org at once, and endpoints often
            // share a host (one receiver, a path per tenant): keep those connections.
            .dns_resolver(Arc::new(GuardedResolver {
                lookup,
                allow_loopback,
            }))
            .pool_max_idle_per_host(switchboard_core::usecases::webhooks_out::MAX_ENDPOINTS)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            client,
            allow_loopback,
        }
    }
}

fn error_code(e: &reqwest::Error) -> (&'static str, Option<&'static str>) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return ("refused", Some(b.0));
        }
        source = s.source();
    }
    if e.is_timeout() {
        ("timeout", None)
    } else if e.is_connect() {
        ("connect", None)
    } else {
        ("io", None)
    }
}

#[async_trait]
impl WebhookHttp for WebhookClient {
    async fn post(&self, request: WebhookRequest) -> WebhookOutcome {
        if let Err(reason) = check_url(&request.url, self.allow_loopback) {
            return WebhookOutcome::Refused {
                reason: reason.to_owned(),
            };
        }
        let mut builder = self
            .client
            .post(&request.url)
            .timeout(request.timeout)
            .header("content-type", "application/json");
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let started = Instant::now();
        let sent = builder.body(request.body).send().await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match sent {
            Ok(resp) => WebhookOutcome::Answered {
                status: resp.status().as_u16(),
                latency_ms,
            },
            Err(e) => match error_code(&e) {
                (_, Some(reason)) => WebhookOutcome::Refused {
                    reason: reason.to_owned(),
                },
                (code, None) => WebhookOutcome::Failed {
                    error: code.to_owned(),
                    latency_ms,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn request(url: String) -> WebhookRequest {
        WebhookRequest {
            url,
            headers: vec![("webhook-id".into(), "evt_1".into())],
            body: r#"{"a":1}"#.into(),
            timeout: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn posts_the_body_and_headers_and_reports_the_status() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hook"))
            .and(header("webhook-id", "evt_1"))
            .and(header("content-type", "application/json"))
            .and(body_string(r#"{"a":1}"#))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let client = WebhookClient::new(true);
        let out = client.post(request(format!("{}/hook", server.uri()))).await;
        assert!(
            matches!(out, WebhookOutcome::Answered { status: 204, .. }),
            "{out:?}"
        );
        assert!(out.is_success());
    }

    #[tokio::test]
    async fn redirects_are_answers_not_followed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/inside", server.uri())),
            )
            .mount(&server)
            .await;
        Mock::given(path("/inside"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let out = WebhookClient::new(true)
            .post(request(format!("{}/hook", server.uri())))
            .await;
        assert!(
            matches!(out, WebhookOutcome::Answered { status: 302, .. }),
            "{out:?}"
        );
        assert!(!out.is_success());
    }

    #[tokio::test]
    async fn a_name_resolving_inside_is_refused_before_connecting() {
        let table: HashMap<&str, &str> = [
            ("internal.example", "10.0.0.7"),
            ("metadata.example", "169.254.169.254"),
            ("mixed.example", "93.184.216.34"),
        ]
        .into_iter()
        .collect();
        let table = Arc::new(table);
        let lookup: Lookup = Arc::new(move |host: String| {
            let table = table.clone();
            Box::pin(async move {
                let mut out = vec![ip(table.get(host.as_str()).copied().unwrap_or("127.0.0.1"))];
                if host == "mixed.example" {
                    out.push(ip("192.168.0.1"));
                }
                Ok(out)
            })
        });
        let client = WebhookClient::with_lookup(false, lookup);
        for (host, reason) in [
            ("internal.example", "private_address"),
            ("metadata.example", "link_local"),
            ("mixed.example", "private_address"),
        ] {
            let out = client.post(request(format!("https://{host}/hook"))).await;
            assert_eq!(
                out,
                WebhookOutcome::Refused {
                    reason: reason.into()
                },
                "{host}"
            );
        }
    }

    #[tokio::test]
    async fn a_slow_endpoint_times_out() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
            .mount(&server)
            .await;
        let mut req = request(format!("{}/hook", server.uri()));
        req.timeout = Duration::from_millis(300);
        let out = WebhookClient::new(true).post(req).await;
        assert!(
            matches!(&out, WebhookOutcome::Failed { error, .. } if error == "timeout"),
            "{out:?}"
        );
    }
}
