//! The realtime inbox: an org's open WebSocket connections (API Gateway's WebSocket API on
//! AWS, `GET /v1/realtime` on the dev server) and the fan-out of its platform events to
//! them (`worker-realtime`).
//!
//! A connection is recorded twice, in one transaction: in the org's partition
//! (`ORG#<org>#CONNS` / `CONN#<id>`: who opened it, with what role, when), which the
//! fan-out lists, and in a global look-up (`RTCONN#<id>` / `RTCONN`) naming its org,
//! because `$disconnect` knows only the connection id. Both expire
//! [`CONNECTION_TTL_SECS`] after the connect: API Gateway closes every WebSocket after two
//! hours, and a `$disconnect` that never arrives (it is best-effort) must not leave a
//! record that is pushed to forever. The store treats an expired item as absent, so an
//! expired connection is neither listed nor pushed to, on either backend.
//!
//! The fan-out ([`deliver`]) pushes an event to every connection of its org at once and
//! drops the connections that answer Gone. It fails (and the queue retries the event)
//! only when the store does: listing or dropping connections. A push that fails for
//! another reason (throttled, a 5xx, a timeout) is logged and skipped, not retried: a
//! retry would push the event again to every connection that already has it, and the
//! inbox treats events as hints to refresh what it shows, re-reading through the API on
//! reconnect (docs/api.md, "Realtime"), so one missed hint costs little.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339_millis;
use crate::error::{Error, Result};
use crate::ids::{OrgId, Role};
use crate::realtime::{PushOutcome, valid_connection_id};
use crate::record::{Record, decode_all, item, load};
use crate::services::Services;
use crate::store::{Condition, Query, SortKey, Write};
use crate::usecases::platform_events::EventMessage;

/// How long a connection record lives: API Gateway's maximum connection duration.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600;

/// How many pushes of one event run at once.
pub const PUSH_CONCURRENCY: usize = 32;

const SK_PREFIX: &str = "CONN#";

fn conns_pk(org: &OrgId) -> String {
    format!("ORG#{org}#CONNS")
}

fn lookup_pk(connection_id: &str) -> String {
    format!("RTCONN#{connection_id}")
}

const LOOKUP_SK: &str = "RTCONN";

/// An open realtime connection of an org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// The connection id (API Gateway's, or the dev server's `conn_…`).
    pub connection_id: String,
    /// Owner.
    pub org_id: OrgId,
    /// Who opened it: the token's subject, or `key:<id>` for an API key.
    #[serde(default)]
    pub who: Option<String>,
    /// The caller's role when it connected.
    pub role: Role,
    /// When it connected.
    #[serde(with = "rfc3339_millis")]
    pub connected_at: DateTime<Utc>,
    /// When the record expires (Unix seconds).
    pub expires_at: i64,
}

impl Record for Connection {
    fn key(&self) -> (String, String) {
        (
            conns_pk(&self.org_id),
            format!("{SK_PREFIX}{}", self.connection_id),
        )
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// The global look-up of a connection's org (for `$disconnect`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ConnectionRoute {
    connection_id: String,
    org_id: OrgId,
    expires_at: i64,
}

impl Record for ConnectionRoute {
    fn key(&self) -> (String, String) {
        (lookup_pk(&self.connection_id), LOOKUP_SK.to_owned())
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

fn check_id(connection_id: &str) -> Result<()> {
    if valid_connection_id(connection_id) {
        Ok(())
    } else {
        Err(Error::validation(
            "connection_id",
            "invalid_connection_id",
            "not a connection id",
        ))
    }
}

/// Records a connection the caller (already authenticated) opened for `org`.
pub async fn connect(
    svc: &Services,
    org: &OrgId,
    connection_id: &str,
    who: Option<&str>,
    role: Role,
) -> Result<Connection> {
    check_id(connection_id)?;
    let now = svc.clock.now();
    let expires_at = now.timestamp() + CONNECTION_TTL_SECS;
    let conn = Connection {
        connection_id: connection_id.to_owned(),
        org_id: org.clone(),
        who: who.map(str::to_owned),
        role,
        connected_at: now,
        expires_at,
    };
    let route = ConnectionRoute {
        connection_id: connection_id.to_owned(),
        org_id: org.clone(),
        expires_at,
    };
    svc.store
        .transact(vec![
            Write::put(item(&conn, 1)?, Condition::Always),
            Write::put(item(&route, 1)?, Condition::Always),
        ])
        .await?;
    tracing::info!(org_id = %org, connection_id, role = %role.as_str(), "realtime connection opened");
    Ok(conn)
}

/// Forgets a connection (its `$disconnect`, or a closed dev-server socket). Returns the
/// org it belonged to; `None` when it was unknown or had expired (nothing to do).
pub async fn disconnect(svc: &Services, connection_id: &str) -> Result<Option<OrgId>> {
    if !valid_connection_id(connection_id) {
        return Ok(None);
    }
    let Some(route) =
        load::<ConnectionRoute>(&*svc.store, &lookup_pk(connection_id), LOOKUP_SK).await?
    else {
        return Ok(None);
    };
    let org = route.record.org_id;
    drop_connection(svc, &org, connection_id).await?;
    tracing::info!(org_id = %org, connection_id, "realtime connection closed");
    Ok(Some(org))
}

/// Deletes both items of a connection (absent items are fine).
async fn drop_connection(svc: &Services, org: &OrgId, connection_id: &str) -> Result<()> {
    svc.store
        .transact(vec![
            Write::delete(
                conns_pk(org),
                format!("{SK_PREFIX}{connection_id}"),
                Condition::Always,
            ),
            Write::delete(lookup_pk(connection_id), LOOKUP_SK, Condition::Always),
        ])
        .await?;
    Ok(())
}

/// The org's open connections (expired ones are absent).
pub async fn connections(svc: &Services, org: &OrgId) -> Result<Vec<Connection>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::table(conns_pk(org))
                    .sort(SortKey::BeginsWith(SK_PREFIX.to_owned()))
                    .limit(100)
                    .after(after)
                    .consistent(),
            )
            .await?;
        out.extend(decode_all::<Connection>(&page.items)?);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// What a fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Connections that took the event.
    pub delivered: usize,
    /// Connections that were gone (their records are deleted).
    pub gone: usize,
    /// Connections whose push failed otherwise (logged, skipped, not retried).
    pub failed: usize,
}

/// Pushes one queued event (`EventMessage` JSON from `platform_events::publish`) to every
/// open connection of its org, as the `{id, type, timestamp, data}` envelope webhooks
/// carry, and deletes the connections that are gone. Fails only when the message is not
/// an event (not retryable) or the store fails (retryable).
pub async fn deliver(svc: &Services, body: &str) -> Result<Delivery> {
    let message: EventMessage = serde_json::from_str(body).map_err(|e| {
        Error::validation(
            "body",
            "invalid_event_message",
            format!("not an event message: {e}"),
        )
    })?;
    let org = &message.org_id;
    let payload = serde_json::to_string(&message.event)
        .map_err(|e| Error::Internal(format!("event does not serialise: {e}")))?;
    let conns = connections(svc, org).await?;
    let outcomes: Vec<(String, PushOutcome)> = futures::stream::iter(conns)
        .map(|c| {
            let payload = payload.as_str();
            async move {
                let outcome = svc.realtime.push(&c.connection_id, payload).await;
                (c.connection_id, outcome)
            }
        })
        .buffer_unordered(PUSH_CONCURRENCY)
        .collect()
        .await;
    let mut summary = Delivery::default();
    for (connection_id, outcome) in outcomes {
        match outcome {
            PushOutcome::Delivered => summary.delivered += 1,
            PushOutcome::Gone => {
                summary.gone += 1;
                drop_connection(svc, org, &connection_id).await?;
            }
            PushOutcome::Failed(code) => {
                summary.failed += 1;
                tracing::warn!(
                    org_id = %org,
                    connection_id = %connection_id,
                    event_id = %message.event.id,
                    error = %code,
                    "realtime push failed; skipping this connection"
                );
            }
        }
    }
    tracing::debug!(
        org_id = %org,
        event_id = %message.event.id,
        event_type = %message.event.kind,
        delivered = summary.delivered,
        gone = summary.gone,
        failed = summary.failed,
        "realtime event delivered"
    );
    Ok(summary)
}
