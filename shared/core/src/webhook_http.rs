//! The port that delivers platform events to the orgs' own webhook endpoints: one HTTPS
//! POST, at most a timeout long, that never follows a redirect and never reaches a
//! loopback, private, link-local or cloud-metadata address (checked on the addresses the
//! name resolves to at delivery time, so a DNS name cannot point it inside).

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The endpoint's URL.
    pub url: String,
    /// Headers besides `content-type: application/json` (the signature headers).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
    /// The longest the attempt may take (connect, send, answer).
    pub timeout: Duration,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The endpoint answered (any status; a 3xx is not followed).
    Answered {
        /// Status code.
        status: u16,
        /// Milliseconds from the request to the answer's status line.
        latency_ms: u64,
    },
    /// The URL is not allowed (scheme, address): nothing was sent.
    Refused {
        /// Why (`private_address`, `loopback`, `scheme`, …; no address in it).
        reason: String,
    },
    /// No answer: timeout, DNS, connection or TLS failure.
    Failed {
        /// A short code (`timeout`, `dns`, `connect`, `tls`, `io`).
        error: String,
        /// Milliseconds spent.
        latency_ms: u64,
    },
}

impl WebhookOutcome {
    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        matches!(self, WebhookOutcome::Answered { status, .. } if (200..300).contains(status))
    }
}

/// Delivers webhooks.
#[async_trait]
pub trait WebhookHttp: Send + Sync + std::fmt::Debug {
    /// Makes one attempt.
    async fn post(&self, request: WebhookRequest) -> WebhookOutcome;
}

/// Why an address is refused, or `None` when it is a public unicast address.
pub fn refused_reason(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    if ip.is_loopback() {
        return (!allow_loopback).then_some("loopback");
    }
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_private() {
                Some("private_address")
            } else if v4.is_link_local() {
                Some("link_local")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("shared_address")
            } else if o[0] == 0
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] >= 240
                || (o[0], o[1], o[2]) == (192, 0, 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
            {
                // This network, broadcast, multicast, reserved, IETF protocol
                // assignments, benchmarking.
                Some("reserved_address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_unspecified() || v6.is_multicast() {
                Some("reserved_address")
            } else if (first & 0xfe00) == 0xfc00 {
                Some("private_address")
            } else if (first & 0xffc0) == 0xfe80 {
                Some("link_local")
            } else if first == 0x64 && v6.segments()[1] == 0xff9b {
                // NAT64 maps IPv4 inside IPv6; its embedded address could be anything.
                Some("reserved_address")
            } else {
                None
            }
        }
    }
}

/// Checks a URL before any connection: scheme and IP literals (names are checked by
/// the resolver). Also used when an endpoint is created, so an obviously inside URL
/// is a 422 rather than a failing endpoint.
pub fn check_url(url: &str, allow_loopback: bool) -> Result<(), &'static str> {
    let u = url::Url::parse(url).map_err(|_| "invalid_url")?;
    let host = u.host().ok_or("invalid_url")?;
    let loopback_host = match &host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match u.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback_host => {}
        _ => return Err("scheme"),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials_in_url");
    }
    let literal = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    if let Some(ip) = literal
        && let Some(reason) = refused_reason(ip, allow_loopback)
    {
        return Err(reason);
    }
    if !allow_loopback && loopback_host {
        return Err("loopback");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn inside_addresses_are_refused() {
        for (addr, reason) in [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private_address"),
            ("172.16.0.1", "private_address"),
            ("192.168.1.1", "private_address"),
            ("169.254.169.254", "link_local"),
            ("fd00:ec2::254", "private_address"),
            ("fe80::1", "link_local"),
            ("100.64.0.1", "shared_address"),
            ("0.0.0.0", "reserved_address"),
            ("::ffff:10.0.0.1", "private_address"),
            ("::ffff:127.0.0.1", "loopback"),
            ("224.0.0.1", "reserved_address"),
        ] {
            assert_eq!(refused_reason(ip(addr), false), Some(reason), "{addr}");
        }
        for addr in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert_eq!(refused_reason(ip(addr), false), None, "{addr}");
        }
        assert_eq!(refused_reason(ip("127.0.0.1"), true), None);
        assert_eq!(
            refused_reason(ip("10.0.0.1"), true),
            Some("private_address")
        );
    }

    #[test]
    fn urls_must_be_https_to_a_public_host() {
        assert_eq!(check_url("https://hooks.example.com/x", false), Ok(()));
        assert_eq!(
            check_url("http://hooks.example.com/x", false),
            Err("scheme")
        );
        assert_eq!(check_url("http://hooks.example.com/x", true), Err("scheme"));
        assert_eq!(check_url("https://127.0.0.1/x", false), Err("loopback"));
        assert_eq!(check_url("https://localhost/x", false), Err("loopback"));
        assert_eq!(check_url("http://127.0.0.1:9/x", true), Ok(()));
        assert_eq!(
            check_url("https://169.254.169.254/latest/meta-data", true),
            Err("link_local")
        );
        assert_eq!(
            check_url("https://[::ffff:a00:1]/", true),
            Err("private_address")
        );
        assert_eq!(
            check_url("https://u:p@hooks.example.com/", false),
            Err("credentials_in_url")
        );
        assert_eq!(check_url("ftp://hooks.example.com/", false), Err("scheme"));
        assert_eq!(check_url("not a url", false), Err("invalid_url"));
    }
}
