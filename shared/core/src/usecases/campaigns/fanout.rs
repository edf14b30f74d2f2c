//! The fan-out of a running campaign, one chunk per `campaign`-queue message.
//!
//! A chunk acts only if it is the campaign's current one (same run, same chunk number)
//! and the campaign is running; it does its work, then moves the campaign's position
//! with a versioned write and queues the next chunk. Every piece of work is idempotent,
//! so a chunk repeated after a crash or delivered twice changes nothing twice:
//!
//! - collecting writes each recipient only if absent;
//! - sending stores a recipient's message (an id derived from campaign and contact) only
//!   if absent, in the transaction that marks the recipient `queued`.
//!
//! Sending feeds the number at its rate: a chunk is about a second of the number's
//! throughput, and the next one is queued with a delay that matches it, longer while the
//! number's schedule is already booked ahead (agent replies and notifications go first,
//! see [`crate::usecases::outbound::deliver`]).

use std::time::Duration;

use futures::StreamExt;
use tracing::{debug, info, warn};

use crate::billing::BillingConfig;
use crate::error::{Error, Result};
use crate::model::Message;
use crate::model::{Account, AccountStatus, Channel, Contact, MessageOrigin};
use crate::queue::QueueName;
use crate::record::{Versioned, item, load};
use crate::services::Services;
use crate::store::{Condition, Index, Query, SortKey, StoreError, Write};
use crate::usecases::automated::{self, Automated, Claim, Sent, template_content};
use crate::usecases::contacts::index as contact_index;

use serde::{Deserialize, Serialize};

use crate::ids::OrgId;

use super::{
    Audience, Campaign, CampaignStatus, ChunkRef, Phase, Recipient, RecipientStatus, TIER_LIMIT,
    advance, count, message_id, pause_for, tier,
};

/// Contacts read per collecting chunk.
const COLLECT_CHUNK: usize = 200;
/// Writes and reads a chunk keeps in flight.
const CONCURRENCY: usize = 16;
/// The longest delay SQS gives one message; longer waits re-queue.
const MAX_DELAY: Duration = Duration::from_secs(900);

/// What a chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not the campaign's current chunk, or the campaign is not running.
    Stale,
    /// Recipients added from the audience.
    Collected {
        /// New recipients.
        recipients: usize,
    },
    /// Recipients handled.
    Sent {
        /// Messages queued.
        queued: usize,
        /// Recipients skipped.
        skipped: usize,
    },
    /// Waiting (quiet hours).
    Waiting,
    /// Paused by Switchboard for this reason.
    Paused(String),
    /// Every recipient was handled.
    Completed,
}

/// Queues the campaign's current chunk.
pub async fn enqueue(svc: &Services, c: &Campaign, delay: Option<Duration>) -> Result<()> {
    let r = ChunkRef {
        org_id: c.org_id.clone(),
        campaign_id: c.id.clone(),
        generation: c.generation,
        chunk: c.chunk,
    };
    svc.queue
        .send(
            QueueName::Campaign,
            vec![r.message(delay.map(|d| d.min(MAX_DELAY)))],
        )
        .await?;
    Ok(())
}

/// Processes one chunk (the queue body of a [`ChunkRef`]).
pub async fn process(svc: &Services, billing: &BillingConfig, body: &str) -> Result<Outcome> {
    let r: ChunkRef = serde_json::from_str(body)
        .map_err(|e| Error::Internal(format!("queue body is not a campaign chunk: {e}")))?;
    let (pk, sk) = Campaign::key_of(&r.org_id, &r.campaign_id);
    let Some(c) = load::<Campaign>(&*svc.store, &pk, &sk).await? else {
        return Ok(Outcome::Stale);
    };
    if c.record.status == CampaignStatus::Completed
        && c.record.generation == r.generation
        && c.record.chunk == r.chunk + 1
    {
        // This chunk completed the campaign and comes back: its event may be what
        // failed, so it is told again (the same event).
        publish_completed(svc, &c.record).await?;
        return Ok(Outcome::Stale);
    }
    if c.record.generation != r.generation
        || c.record.chunk != r.chunk
        || c.record.status != CampaignStatus::Running
    {
        debug!(campaign_id = %r.campaign_id, "stale campaign chunk dropped");
        return Ok(Outcome::Stale);
    }
    tracing::Span::current().record("org_id", r.org_id.as_str());
    match c.record.phase.clone() {
        Phase::Collect(at) => collect(svc, c, at).await,
        Phase::Send { after } => send(svc, billing, c, after).await,
        Phase::Done => finish(svc, c).await,
    }
}

/// Moves the campaign on (versioned: a person's pause or a duplicate chunk that moved it
/// first wins) and queues its next chunk while it runs.
async fn advance_campaign(
    svc: &Services,
    mut c: Versioned<Campaign>,
    delay: Duration,
    change: impl FnOnce(&mut Campaign),
) -> Result<bool> {
    let now = svc.clock.now();
    change(&mut c.record);
    c.record.chunk += 1;
    c.record.updated_at = now;
    if c.record.status == CampaignStatus::Running {
        c.record.next_chunk_at = chrono::Duration::from_std(delay).ok().map(|d| now + d);
    }
    match svc.store.put(c.next_item()?, c.condition()).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    if c.record.status == CampaignStatus::Running {
        enqueue(svc, &c.record, (!delay.is_zero()).then_some(delay)).await?;
    }
    Ok(true)
}

// ------------------------------------------------------------------- collect

/// Where the audience is read from.
enum Source {
    /// The named contacts.
    Ids,
    /// A query: of index items pointing at contacts, or of contacts.
    Query(Query, bool),
}

fn sources(org: &OrgId, a: &Audience) -> Vec<Source> {
    if !a.contact_ids.is_empty() {
        return vec![Source::Ids];
    }
    if a.tags_all.is_empty() && !a.tags_any.is_empty() {
        return a
            .tags_any
            .iter()
            .map(|t| Source::Query(Query::table(contact_index::tag_pk(org, t)), true))
            .collect();
    }
    // All tags and a status: the contact list's own choice of index.
    let filter = crate::usecases::contacts::ContactFilter {
        tags: a.tags_all.clone(),
        status: a.status,
        ..Default::default()
    };
    let (query, pointers) = filter.source(org);
    vec![Source::Query(query, pointers)]
}

/// Where a reading of an audience stands: which source, and where in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudienceAt {
    /// Which source.
    pub source: usize,
    /// Where a query source stopped.
    #[serde(default)]
    pub after: Option<crate::store::Position>,
    /// Offset into `contact_ids`.
    #[serde(default)]
    pub offset: usize,
}

/// Reads up to `limit` candidates of an audience from `at`: the contacts among them
/// that belong, and where to continue (`None`: the audience is read).
pub async fn read_audience(
    svc: &Services,
    org: &OrgId,
    audience: &Audience,
    at: AudienceAt,
    limit: usize,
) -> Result<(Vec<Contact>, Option<AudienceAt>)> {
    let all = sources(org, audience);
    let AudienceAt {
        source,
        after,
        offset,
    } = at;
    let (contacts, next): (Vec<Contact>, Option<AudienceAt>) = match all.get(source) {
        None => (Vec::new(), None),
        Some(Source::Ids) => {
            let ids = &audience.contact_ids;
            let end = (offset + limit).min(ids.len());
            let reads: Vec<_> = ids[offset.min(end)..end]
                .iter()
                .map(|id| crate::usecases::contacts::get(svc, org, id))
                .collect();
            let found: Vec<Result<Versioned<Contact>>> = futures::stream::iter(reads)
                .buffered(CONCURRENCY)
                .collect()
                .await;
            let mut contacts = Vec::new();
            for f in found {
                match f {
                    Ok(v) => contacts.push(v.record),
                    // A named contact that is gone is simply not in the audience.
                    Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let next = (end < ids.len()).then_some(AudienceAt {
                source,
                after: None,
                offset: end,
            });
            (contacts, next)
        }
        Some(Source::Query(q, pointers)) => {
            let page = svc.store.query(q.clone().limit(limit).after(after)).await?;
            let contacts: Vec<Contact> = if *pointers {
                crate::usecases::contacts::list::resolve(svc, org, &page.items)
                    .await?
                    .into_iter()
                    .flatten()
                    .map(|v| v.record)
                    .collect()
            } else {
                page.items
                    .iter()
                    .filter_map(|it| it.decode::<Contact>().ok())
                    .collect()
            };
            let next = page.next.map(|p| AudienceAt {
                source,
                after: Some(p),
                offset: 0,
            });
            (contacts, next)
        }
    };
    let next = match next {
        Some(n) => Some(n),
        None if source + 1 < all.len() => Some(AudienceAt {
            source: source + 1,
            after: None,
            offset: 0,
        }),
        None => None,
    };
    Ok((
        contacts
            .into_iter()
            .filter(|c| audience.matches(c))
            .collect(),
        next,
    ))
}

async fn collect(svc: &Services, c: Versioned<Campaign>, at: AudienceAt) -> Result<Outcome> {
    let org = c.record.org_id.clone();
    let (contacts, next) = read_audience(svc, &org, &c.record.audience, at, COLLECT_CHUNK).await?;
    let now = svc.clock.now();
    let writes: Vec<_> = contacts
        .iter()
        .map(|contact| {
            let r = Recipient {
                org_id: org.clone(),
                campaign_id: c.record.id.clone(),
                contact_id: contact.id.clone(),
                status: RecipientStatus::Pending,
                reason: None,
                message_id: None,
                updated_at: now,
            };
            async move {
                match svc.store.put(item(&r, 1)?, Condition::NotExists).await {
                    Ok(()) => Ok(1usize),
                    Err(StoreError::ConditionFailed { .. }) => Ok(0),
                    Err(e) => Err(Error::from(e)),
                }
            }
        })
        .collect();
    let results: Vec<Result<usize>> = futures::stream::iter(writes)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut added = 0;
    for r in results {
        added += r?;
    }
    if added > 0 {
        count(svc, &org, &c.record.id, &["audience_size"], added as i64).await;
    }
    let phase = match next {
        Some(at) => Phase::Collect(at),
        None => Phase::Send { after: None },
    };
    advance_campaign(svc, c, Duration::ZERO, |c| c.phase = phase).await?;
    Ok(Outcome::Collected { recipients: added })
}

// ------------------------------------------------------------------- send

/// What happened to one recipient.
enum One {
    Queued,
    Skipped,
    Already,
    Pause(&'static str),
}

async fn send(
    svc: &Services,
    billing: &BillingConfig,
    c: Versioned<Campaign>,
    after: Option<String>,
) -> Result<Outcome> {
    let now = svc.clock.now();
    let campaign = c.record.clone();
    if let Some(q) = &campaign.quiet_hours
        && let Some(end) = q.ends_after(now)
    {
        let wait = (end - now).to_std().unwrap_or(Duration::ZERO);
        info!(campaign_id = %campaign.id, wait_secs = wait.as_secs(), "campaign holds for its quiet hours");
        advance_campaign(svc, c, wait.min(MAX_DELAY), |_| {}).await?;
        return Ok(Outcome::Waiting);
    }
    let (a_pk, a_sk) = Account::key_of(&campaign.org_id, &campaign.account_id);
    let account = match load::<Account>(&*svc.store, &a_pk, &a_sk).await? {
        Some(a) if a.record.status == AccountStatus::ReauthRequired => {
            return paused(svc, &campaign, "reauth_required").await;
        }
        Some(a) => a.record,
        None => return paused(svc, &campaign, "number_not_connected").await,
    };
    match crate::usecases::templates::check_sendable(
        svc,
        &campaign.org_id,
        account.waba_id.as_ref(),
        &campaign.template.name,
        &campaign.template.language,
    )
    .await
    {
        Ok(_) => {}
        Err(Error::Validation { .. }) => {
            return paused(svc, &campaign, "template_not_approved").await;
        }
        Err(e) => return Err(e),
    }
    let mps = account.messages_per_second.unwrap_or(80).max(1) as usize;
    let mut size = mps.clamp(10, 200);
    if let Some(limit) = account.health.daily_unique_limit() {
        let used = tier::used(svc, &account.phone_number_id, now).await?;
        let room = limit.saturating_sub(used) as usize;
        if room == 0 {
            return paused(svc, &campaign, TIER_LIMIT).await;
        }
        size = size.min(room);
    }
    // Fed no faster than the number takes it: while more than a chunk of this campaign's
    // messages still wait for the sender (its lane yields to agents and notifications),
    // the next chunk waits, so the queue never holds more than a few seconds of it.
    let waiting = in_flight(svc, &campaign).await?;
    if waiting >= size as i64 {
        let wait = Duration::from_secs_f64((waiting as f64 / mps as f64).max(1.0));
        debug!(campaign_id = %campaign.id, waiting, "campaign waits for the sender");
        advance_campaign(svc, c, wait, |_| {}).await?;
        return Ok(Outcome::Waiting);
    }
    let page = svc
        .store
        .query(
            Query::table(Campaign::recipients_pk(&campaign.org_id, &campaign.id))
                .sort(match &after {
                    // Sort keys are contact ids: the next one after `a` is `a` plus
                    // the lowest character.
                    Some(a) => SortKey::AtLeast(format!("{a}\u{0}")),
                    None => SortKey::Any,
                })
                .limit(size)
                .consistent(),
        )
        .await?;
    let recipients: Vec<Recipient> = page
        .items
        .iter()
        .filter_map(|it| it.decode::<Recipient>().ok())
        .collect();
    let last = page.items.last().map(|it| it.sk.clone());
    let work: Vec<_> = recipients
        .iter()
        .map(|r| send_one(svc, billing, &campaign, &account, r))
        .collect();
    let results: Vec<Result<One>> = futures::stream::iter(work)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let (mut queued, mut skipped, mut pause) = (0, 0, None);
    let mut failure = None;
    for r in results {
        match r {
            Ok(One::Queued) => queued += 1,
            Ok(One::Skipped) => skipped += 1,
            Ok(One::Already) => {}
            Ok(One::Pause(reason)) => pause = Some(reason),
            Err(e) => failure = Some(e),
        }
    }
    if let Some(e) = failure {
        // The chunk is repeated; what it did stands and is found done.
        return Err(e);
    }
    if let Some(reason) = pause {
        // The position stays: a resume finds this chunk's queued recipients done.
        return paused(svc, &campaign, reason).await;
    }
    if page.next.is_none() {
        let completed = advance_campaign(svc, c, Duration::ZERO, |c| {
            c.phase = Phase::Done;
            c.status = CampaignStatus::Completed;
            c.next_chunk_at = None;
            c.finished_at = Some(now);
        })
        .await?;
        info!(campaign_id = %campaign.id, "campaign completed");
        if completed {
            publish_completed(svc, &campaign).await?;
        }
        return Ok(Outcome::Completed);
    }
    // About a second of the number's throughput per chunk.
    let delay = Duration::from_secs_f64(queued as f64 / mps as f64);
    advance_campaign(svc, c, delay, |c| c.phase = Phase::Send { after: last }).await?;
    Ok(Outcome::Sent { queued, skipped })
}

/// The campaign's messages handed to the sender and not yet sent or failed.
async fn in_flight(svc: &Services, c: &Campaign) -> Result<i64> {
    let page = svc
        .store
        .query(Query::table(Campaign::counters_pk(&c.org_id, &c.id)).consistent())
        .await?;
    let n = |k: &str| {
        page.items
            .iter()
            .find(|i| i.sk == k)
            .and_then(|i| i.n)
            .unwrap_or(0)
    };
    Ok((n("queued") - n("sent") - n("failed")).max(0))
}

async fn paused(svc: &Services, c: &Campaign, reason: &str) -> Result<Outcome> {
    pause_for(svc, c, reason).await?;
    Ok(Outcome::Paused(reason.to_owned()))
}

async fn finish(svc: &Services, c: Versioned<Campaign>) -> Result<Outcome> {
    let now = svc.clock.now();
    let campaign = c.record.clone();
    if advance_campaign(svc, c, Duration::ZERO, |c| {
        c.status = CampaignStatus::Completed;
        c.next_chunk_at = None;
        c.finished_at = Some(now);
    })
    .await?
    {
        publish_completed(svc, &campaign).await?;
    }
    Ok(Outcome::Completed)
}

/// Publishes `campaign.completed` with the campaign's progress counters as they stand
/// (messages still on their way count as queued). One event per campaign.
async fn publish_completed(svc: &Services, c: &Campaign) -> Result<()> {
    let counts = super::progress(svc, c).await?;
    crate::usecases::platform_events::publish(
        svc,
        &c.org_id,
        crate::usecases::platform_events::EventType::CampaignCompleted,
        &[c.id.as_str()],
        serde_json::json!({"campaign_id": c.id, "counts": counts}),
    )
    .await?;
    Ok(())
}

async fn skip(svc: &Services, c: &Campaign, r: &Recipient, reason: &str) -> Result<One> {
    advance(
        svc,
        &c.org_id,
        &c.id,
        &r.contact_id,
        RecipientStatus::Skipped,
        Some(reason),
    )
    .await?;
    Ok(One::Skipped)
}

/// Sends one recipient: checks, then one transaction storing the message and marking
/// the recipient queued, then the queue.
async fn send_one(
    svc: &Services,
    billing_cfg: &BillingConfig,
    c: &Campaign,
    account: &Account,
    r: &Recipient,
) -> Result<One> {
    if r.status != RecipientStatus::Pending {
        return Ok(One::Already);
    }
    let org = &c.org_id;
    let (ct_pk, ct_sk) = Contact::key_of(org, &r.contact_id);
    let Some(contact) = load::<Contact>(&*svc.store, &ct_pk, &ct_sk).await? else {
        return skip(svc, c, r, "contact_deleted").await;
    };
    let contact = contact.record;
    if contact.opted_out {
        return skip(svc, c, r, "opted_out").await;
    }
    if contact.channel != Channel::Whatsapp {
        return skip(svc, c, r, "no_whatsapp").await;
    }
    let content = match template_content(&c.template, &contact) {
        Ok(content) => content,
        Err(reason) => return skip(svc, c, r, &reason).await,
    };
    let id = message_id(org, &c.id, &r.contact_id);
    let (m_pk, m_sk) = Message::key_of(org, &id);
    if svc.store.get(&m_pk, &m_sk).await?.is_some() {
        return Ok(One::Already);
    }
    // Counted against the tier before the send: a repeat after a crash finds the
    // customer already counted in the window.
    tier::reach(
        svc,
        &account.phone_number_id,
        &r.contact_id,
        svc.clock.now(),
    )
    .await?;
    let sent = automated::send(
        svc,
        billing_cfg,
        Automated {
            account,
            contact: &contact,
            id: &id,
            content,
            reserved: None,
            lane: c.lane(),
            origin: MessageOrigin::Campaign {
                campaign_id: c.id.clone(),
            },
        },
        &RecipientClaim {
            org,
            campaign: &c.id,
            contact: &r.contact_id,
        },
    )
    .await?;
    Ok(match sent {
        Sent::Queued => {
            count(svc, org, &c.id, &["queued"], 1).await;
            One::Queued
        }
        Sent::Declined => One::Already,
        Sent::PlanLimit => One::Pause("plan_limit"),
    })
}

/// A campaign recipient as the tracking record of its message.
struct RecipientClaim<'a> {
    org: &'a crate::ids::OrgId,
    campaign: &'a crate::ids::CampaignId,
    contact: &'a crate::ids::ContactId,
}

#[async_trait::async_trait]
impl Claim for RecipientClaim<'_> {
    async fn claim(
        &self,
        svc: &Services,
        message: &crate::ids::MessageId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Write>> {
        let (pk, sk) = Recipient::key_of(self.org, self.campaign, self.contact);
        let Some(mut r) = load::<Recipient>(&*svc.store, &pk, &sk).await? else {
            return Ok(None);
        };
        if r.record.status != RecipientStatus::Pending {
            return Ok(None);
        }
        r.record.status = RecipientStatus::Queued;
        r.record.message_id = Some(message.clone());
        r.record.updated_at = now;
        Ok(Some(Write::put(r.next_item()?, r.condition())))
    }
}

// ------------------------------------------------------------------- schedule

/// What one run of the campaign schedule did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tick {
    /// Scheduled campaigns started.
    pub started: usize,
    /// Campaigns resumed after their number's tier freed capacity.
    pub resumed: usize,
    /// Running campaigns whose chunk was overdue and queued again.
    pub requeued: usize,
}

/// How late a running campaign's chunk may be before the schedule queues it again (a
/// chunk lost between a campaign update and its enqueue).
const OVERDUE: chrono::Duration = chrono::Duration::minutes(5);

/// The campaign schedule (`cron-campaigns`, every minute): starts scheduled campaigns
/// that are due, resumes campaigns paused at the tier limit once their number has room,
/// and re-queues running campaigns whose next chunk is overdue.
pub async fn tick(svc: &Services) -> Result<Tick> {
    let mut out = Tick::default();
    if !super::enabled(svc) {
        return Ok(out);
    }
    let now = svc.clock.now();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi2, super::WATCHED_PK)
                    .limit(100)
                    .after(after),
            )
            .await?;
        for listed in crate::record::decode_all::<Campaign>(&page.items)? {
            let (pk, sk) = Campaign::key_of(&listed.org_id, &listed.id);
            let Some(c) = load::<Campaign>(&*svc.store, &pk, &sk).await? else {
                continue;
            };
            match c.record.status {
                CampaignStatus::Scheduled
                    if c.record.send_at.is_none_or(|t| t <= now)
                        && resume(svc, c.clone(), false).await? =>
                {
                    out.started += 1;
                }
                CampaignStatus::Paused
                    if c.record.paused_reason.as_deref() == Some(TIER_LIMIT)
                        && has_room(svc, &c.record).await?
                        && resume(svc, c.clone(), true).await? =>
                {
                    out.resumed += 1;
                }
                CampaignStatus::Running
                    if c.record.next_chunk_at.is_none_or(|t| t + OVERDUE < now) =>
                {
                    warn!(campaign_id = %c.record.id, "campaign chunk overdue; queueing it again");
                    enqueue(svc, &c.record, None).await?;
                    out.requeued += 1;
                }
                _ => {}
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => return Ok(out),
        }
    }
}

async fn has_room(svc: &Services, c: &Campaign) -> Result<bool> {
    let (pk, sk) = Account::key_of(&c.org_id, &c.account_id);
    let Some(account) = load::<Account>(&*svc.store, &pk, &sk).await? else {
        return Ok(false);
    };
    let Some(limit) = account.record.health.daily_unique_limit() else {
        return Ok(true);
    };
    let used = tier::used(svc, &account.record.phone_number_id, svc.clock.now()).await?;
    Ok(used < limit)
}

/// Sets a campaign running (a new run when `new_run`) and queues its chunk.
async fn resume(svc: &Services, mut c: Versioned<Campaign>, new_run: bool) -> Result<bool> {
    let now = svc.clock.now();
    if new_run {
        c.record.generation += 1;
        c.record.chunk = 0;
    }
    c.record.status = CampaignStatus::Running;
    c.record.paused_reason = None;
    c.record.next_chunk_at = Some(now);
    c.record.updated_at = now;
    match svc.store.put(c.next_item()?, c.condition()).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    info!(campaign_id = %c.record.id, "campaign running");
    enqueue(svc, &c.record, None).await?;
    Ok(true)
}
