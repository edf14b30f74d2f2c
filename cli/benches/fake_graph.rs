//! An in-process fake Graph for the broadcast benchmarks, enforcing Meta's limits the way
//! Meta reports them:
//!
//! - throughput: more than `limit` accepted messages per phone number in any trailing
//!   one-second window → error 130429;
//! - pair rate: per recipient, a burst of 5 then one message per 6 s → error 131056;
//! - latency: a one-way network delay of 30 ± 5 ms before Meta counts the message, then
//!   40–100 ms of processing before the answer, like Graph from a nearby region.
//!
//! It records what it accepted: counts, duplicates (by Switchboard's message id), the
//! busiest one-second window, and when each message was accepted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchboard_core::ids::PhoneNumberId;
use switchboard_core::secrets::SecretString;
use switchboard_core::whatsapp::{
    GraphError, MediaInfo, OutboundMessage, PhoneNumberInfo, WhatsAppApi,
};

impl FakeGraph {
    /// A fake enforcing `limit` messages per second.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            state: Arc::new(Mutex::new(FakeState::default())),
        }
    }
}

#[derive(Default)]
pub struct FakeState {
    pub accepted: VecDeque<Instant>,
    pub pairs: HashMap<String, (Instant, u32)>,
    pub seen: HashSet<String>,
    pub sent: u64,
    pub duplicates: u64,
    pub throughput_errors: u64,
    pub pair_errors: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
    pub max_in_window: usize,
    /// When Meta accepted each message, by Switchboard's message id (callback data).
    pub accepted_at: HashMap<String, Instant>,
    /// Accepted messages whose `sent` status Meta has not reported yet: (wamid, callback
    /// data, recipient).
    pub unreported: Vec<(String, String, String)>,
}

#[derive(Clone)]
pub struct FakeGraph {
    pub limit: usize,
    pub state: Arc<Mutex<FakeState>>,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeGraph")
    }
}

fn api_error(code: i64) -> GraphError {
    GraphError::Api {
        http_status: 400,
        code,
        subcode: None,
        message: format!("limit {code}"),
        details: None,
    }
}

#[async_trait]
impl WhatsAppApi for FakeGraph {
    async fn phone_number(
        &self,
        _t: &SecretString,
        _p: &PhoneNumberId,
    ) -> Result<PhoneNumberInfo, GraphError> {
        Ok(PhoneNumberInfo::default())
    }

    async fn send_message(
        &self,
        _t: &SecretString,
        msg: &OutboundMessage<'_>,
    ) -> Result<String, GraphError> {
        let r = uuid::Uuid::new_v4().as_u128();
        let (network, processing) = (25 + (r % 11) as u64, 40 + ((r >> 8) % 61) as u64);
        tokio::time::sleep(Duration::from_millis(network)).await;
        let result = {
            let mut s = self.state.lock().unwrap();
            let now = Instant::now();
            while s
                .accepted
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
            {
                s.accepted.pop_front();
            }
            // Pair rate: a burst of 5, then one per 6 s (a token bucket).
            let to = msg.to.to_string();
            let (since, used) = s.pairs.get(&to).copied().unwrap_or((now, 0));
            let refilled = (now.duration_since(since).as_secs() / 6) as u32;
            let used = used.saturating_sub(refilled);
            if s.accepted.len() >= self.limit {
                s.throughput_errors += 1;
                Err(api_error(130429))
            } else if used >= 5 {
                s.pair_errors += 1;
                Err(api_error(131056))
            } else {
                s.pairs.insert(to, (now, used + 1));
                s.accepted.push_back(now);
                s.max_in_window = s.max_in_window.max(s.accepted.len());
                s.sent += 1;
                s.first.get_or_insert(now);
                s.last = Some(now);
                if let Some(id) = msg.callback_data {
                    if !s.seen.insert(id.to_owned()) {
                        s.duplicates += 1;
                    }
                    s.accepted_at.insert(id.to_owned(), now);
                }
                let wamid = format!("wamid.sim.{}", uuid::Uuid::now_v7().simple());
                if let Some(id) = msg.callback_data {
                    s.unreported
                        .push((wamid.clone(), id.to_owned(), msg.to.to_string()));
                }
                Ok(wamid)
            }
        };
        tokio::time::sleep(Duration::from_millis(processing)).await;
        result
    }

    async fn mark_read(
        &self,
        _t: &SecretString,
        _p: &PhoneNumberId,
        _w: &str,
    ) -> Result<(), GraphError> {
        Ok(())
    }

    async fn media_info(&self, _t: &SecretString, _m: &str) -> Result<MediaInfo, GraphError> {
        Err(api_error(100))
    }

    async fn download(
        &self,
        _t: &SecretString,
        _u: &str,
        _m: usize,
    ) -> Result<Vec<u8>, GraphError> {
        Err(api_error(100))
    }
}
