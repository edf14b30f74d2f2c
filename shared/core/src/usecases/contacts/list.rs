//! `GET /v1/contacts` with filters: `tag` (repeatable, all must match), `status`,
//! `opted_out` and `q` (a prefix of the name, case-insensitive, or of the number's
//! digits).
//!
//! Every filter is a query, never a scan ([`super::index`] has the layout). With several
//! filters one of them is the query — `q` first (a prefix names few contacts), then the
//! first `tag`, then `opted_out=true`, then `status`, else the plain list — and the others
//! are checked on each contact. Such a page may hold fewer than `limit` contacts (at most
//! [`MAX_EXAMINED`] candidates are read per request) and still carry a `next_cursor`:
//! follow it until it is `null`. Every filter, the queried one included, is checked on
//! the record, so an index item a moment out of date never shows a contact that does
//! not match.
//!
//! Order: newest first, except with `q`, which lists by name (or number).

use futures::StreamExt;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::model::{Contact, ContactStatus, org_scope};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::Versioned;
use crate::services::Services;
use crate::store::{Index, Item, Position, Query, SortKey};

use super::fields::normalise_tag;
use super::index::{self, IndexEntry, name_key, name_key_prefix};

/// Most candidates one request reads from an index when other filters are checked on
/// the records (each costs a read); past it the page is answered short, with a cursor.
pub const MAX_EXAMINED: usize = 300;
/// Contacts read at once while resolving index items.
const CONCURRENT_READS: usize = 16;
/// Longest `q`, in characters.
pub const MAX_Q_CHARS: usize = 100;

/// What `q` searches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// A prefix of the name's key ([`index::name_key`]).
    Name(String),
    /// A prefix of the number's digits.
    Phone(String),
}

/// The filters of a contact list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    /// Tags the contact must all carry (normalised).
    pub tags: Vec<String>,
    /// Status the contact must have.
    pub status: Option<ContactStatus>,
    /// Opt-out the contact must have.
    pub opted_out: Option<bool>,
    /// Name or number prefix.
    pub q: Option<Search>,
}

impl ContactFilter {
    /// Parses the query parameters; 422 naming the parameter for a bad value.
    pub fn parse(
        tags: &[String],
        status: Option<&str>,
        opted_out: Option<&str>,
        q: Option<&str>,
    ) -> Result<Self> {
        let mut filter = ContactFilter::default();
        for t in tags {
            let tag = normalise_tag(t).ok_or_else(|| {
                Error::validation(
                    "tag",
                    "invalid_tag",
                    "a tag is 1-64 letters, digits, '-', '_' or ':'",
                )
            })?;
            if !filter.tags.contains(&tag) {
                filter.tags.push(tag);
            }
        }
        if filter.tags.len() > super::fields::MAX_TAGS {
            return Err(Error::validation(
                "tag",
                "too_many_tags",
                "at most 50 tags may be given",
            ));
        }
        filter.status = match status {
            None | Some("") => None,
            Some(s) => Some(ContactStatus::parse(s).ok_or_else(|| {
                Error::validation(
                    "status",
                    "invalid_status",
                    "status must be lead, prospect, customer or inactive",
                )
            })?),
        };
        filter.opted_out = match opted_out {
            None | Some("") => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(Error::validation(
                    "opted_out",
                    "invalid_opted_out",
                    "opted_out must be true or false",
                ));
            }
        };
        filter.q = match q.map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                if text.chars().count() > MAX_Q_CHARS || text.chars().any(char::is_control) {
                    return Err(Error::validation(
                        "q",
                        "invalid_q",
                        format!(
                            "q is at most {MAX_Q_CHARS} characters, without control characters"
                        ),
                    ));
                }
                // A number as people type it: "+1 (650) 555-12" searches the digits.
                let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                let number_like = !digits.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
                Some(if number_like {
                    Search::Phone(digits)
                } else {
                    Search::Name(name_key(text))
                })
            }
        };
        Ok(filter)
    }

    /// Whether no filter is set (the plain list).
    pub fn is_empty(&self) -> bool {
        *self == ContactFilter::default()
    }

    /// Whether a contact passes every filter.
    pub fn matches(&self, c: &Contact) -> bool {
        self.tags.iter().all(|t| c.tags.contains(t))
            && self.status.is_none_or(|s| c.status == Some(s))
            && self.opted_out.is_none_or(|o| c.opted_out == o)
            && match &self.q {
                None => true,
                Some(Search::Phone(d)) => c.wa_id.as_str().starts_with(d.as_str()),
                Some(Search::Name(p)) => c
                    .name
                    .as_deref()
                    .is_some_and(|n| name_key(n).starts_with(p.as_str())),
            }
    }

    /// The query that lists the candidates, and whether its items are index items
    /// (pointing at contacts) rather than contacts.
    pub(crate) fn source(&self, org: &OrgId) -> (Query, bool) {
        match &self.q {
            Some(Search::Phone(d)) => {
                let first = d.chars().next().unwrap_or('0');
                return (
                    Query::table(index::phone_pk(org, first)).sort(SortKey::BeginsWith(d.clone())),
                    true,
                );
            }
            Some(Search::Name(n)) => {
                let prefix = name_key_prefix(n);
                let first = prefix.chars().next().unwrap_or(' ');
                return (
                    Query::table(index::name_pk(org, first)).sort(SortKey::BeginsWith(prefix)),
                    true,
                );
            }
            None => {}
        }
        if let Some(tag) = self.tags.first() {
            return (Query::table(index::tag_pk(org, tag)).descending(), true);
        }
        if self.opted_out == Some(true) {
            return (Query::table(index::opted_out_pk(org)).descending(), true);
        }
        if let Some(status) = self.status {
            return (
                Query::index(Index::Gsi2, Contact::status_pk(org, status)).descending(),
                false,
            );
        }
        // No filter, or only opted_out=false, which nearly every contact passes.
        (
            Query::index(Index::Gsi1, Contact::list_pk(org)).descending(),
            false,
        )
    }
}

/// The view of a contact with its version (also its `ETag`).
pub fn view(c: &Versioned<Contact>) -> Value {
    let mut v = c.record.view();
    v["version"] = Value::from(c.version);
    v
}

/// The position a query continues after, once `item` was the last one read.
fn position_of(item: &Item, index: Index) -> Position {
    Position {
        pk: item.pk.clone(),
        sk: item.sk.clone(),
        index_sk: match index {
            Index::Table => None,
            Index::Gsi1 => item.gsi1.as_ref().map(|k| k.sk.clone()),
            Index::Gsi2 => item.gsi2.as_ref().map(|k| k.sk.clone()),
        },
    }
}

/// The contacts index items point at, in order (`None` for an item whose contact is
/// gone: an erasure in progress).
pub(crate) async fn resolve(
    svc: &Services,
    org: &OrgId,
    items: &[Item],
) -> Result<Vec<Option<Versioned<Contact>>>> {
    // Futures of a named function collected first: a closure here makes the handler's
    // future fail the dev server's `Send` bound (a higher-ranked lifetime).
    let reads: Vec<_> = items.iter().map(|it| read_one(svc, org, it)).collect();
    let found: Vec<_> = futures::stream::iter(reads)
        .buffered(CONCURRENT_READS)
        .collect()
        .await;
    found.into_iter().collect()
}

async fn read_one(svc: &Services, org: &OrgId, it: &Item) -> Result<Option<Versioned<Contact>>> {
    let Ok(entry) = it.decode::<IndexEntry>() else {
        return Ok(None);
    };
    let (pk, sk) = Contact::key_of(org, &entry.contact_id);
    Ok(crate::record::load::<Contact>(&*svc.store, &pk, &sk).await?)
}

/// Lists the org's contacts that pass `filter`.
pub async fn list(
    svc: &Services,
    org: &OrgId,
    filter: &ContactFilter,
    page: PageRequest,
) -> Result<Paged<Value>> {
    let limit = page.limit;
    let (source, pointers) = filter.source(org);
    let index = source.index;
    let mut query = page.apply_to(source, &org_scope(org))?;
    let plain = filter.is_empty();
    let mut out: Vec<Value> = Vec::with_capacity(limit);
    let mut examined = 0;
    loop {
        let result = svc.store.query(query.clone()).await?;
        let records: Vec<Option<Versioned<Contact>>> = if pointers {
            resolve(svc, org, &result.items).await?
        } else {
            result
                .items
                .iter()
                .map(|it| {
                    it.decode::<Contact>().map(|record| {
                        Some(Versioned {
                            record,
                            version: it.version,
                        })
                    })
                })
                .collect::<Result<_, _>>()?
        };
        for (it, record) in result.items.iter().zip(records) {
            examined += 1;
            if let Some(c) = record
                && (plain || filter.matches(&c.record))
            {
                out.push(view(&c));
                if out.len() == limit {
                    // Like the store: a full page carries a position even if nothing
                    // follows.
                    let next = Some(position_of(it, index));
                    return Ok(Paged {
                        items: out,
                        next_cursor: next.as_ref().map(encode_cursor),
                    });
                }
            }
        }
        match result.next {
            Some(pos) if examined < MAX_EXAMINED && !plain => {
                query = query.after(Some(pos));
            }
            next => {
                return Ok(Paged {
                    items: out,
                    next_cursor: next.as_ref().map(encode_cursor),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::WaId;

    fn parse(
        tags: &[&str],
        status: Option<&str>,
        opted: Option<&str>,
        q: Option<&str>,
    ) -> Result<ContactFilter> {
        let tags: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
        ContactFilter::parse(&tags, status, opted, q)
    }

    fn field(r: Result<ContactFilter>) -> String {
        match r {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parameters() {
        let f = parse(
            &["VIP", "vip", "b2b"],
            Some("lead"),
            Some("true"),
            Some("  Sheena  N "),
        )
        .unwrap();
        assert_eq!(f.tags, ["vip", "b2b"]);
        assert_eq!(f.status, Some(ContactStatus::Lead));
        assert_eq!(f.opted_out, Some(true));
        assert_eq!(f.q, Some(Search::Name("sheena n".into())));
        assert_eq!(
            parse(&[], None, None, Some("+1 (650) 555")).unwrap().q,
            Some(Search::Phone("1650555".into()))
        );
        assert_eq!(
            parse(&[], None, None, Some("7-Eleven")).unwrap().q,
            Some(Search::Name("7-eleven".into()))
        );
        assert!(
            parse(&[], Some(""), Some(""), Some(" "))
                .unwrap()
                .is_empty()
        );
        assert_eq!(field(parse(&["a b"], None, None, None)), "tag");
        assert_eq!(field(parse(&[], Some("won"), None, None)), "status");
        assert_eq!(field(parse(&[], None, Some("yes"), None)), "opted_out");
        assert_eq!(field(parse(&[], None, None, Some(&"x".repeat(101)))), "q");
    }

    #[test]
    fn matching_checks_every_filter() {
        let org = OrgId::parse("acme").unwrap();
        let mut c = Contact::new(
            &org,
            &WaId::parse("16505551234").unwrap(),
            chrono::Utc::now(),
        );
        c.see_profile_name("Sheena Nelson");
        c.tags = vec!["vip".into(), "b2b".into()];
        c.status = Some(ContactStatus::Customer);
        let yes = [
            parse(&["vip"], None, None, None),
            parse(
                &["b2b", "vip"],
                Some("customer"),
                Some("false"),
                Some("SHEENA n"),
            ),
            parse(&[], None, None, Some("1650")),
        ];
        for f in yes {
            assert!(f.as_ref().unwrap().matches(&c), "{f:?}");
        }
        let no = [
            parse(&["vip", "other"], None, None, None),
            parse(&[], Some("lead"), None, None),
            parse(&[], None, Some("true"), None),
            parse(&[], None, None, Some("nelson")),
            parse(&[], None, None, Some("650")),
        ];
        for f in no {
            assert!(!f.as_ref().unwrap().matches(&c), "{f:?}");
        }
    }

    #[test]
    fn the_most_selective_filter_is_the_query() {
        let org = OrgId::parse("acme").unwrap();
        let src = |f: ContactFilter| {
            let (q, pointers) = f.source(&org);
            (q.index, q.pk, pointers)
        };
        let all = parse(&["vip"], Some("lead"), Some("true"), Some("she")).unwrap();
        assert_eq!(
            src(all),
            (Index::Table, "ORG#acme#CONTACTS#NAME#s".into(), true)
        );
        let tags = parse(&["vip", "b2b"], Some("lead"), Some("true"), None).unwrap();
        assert_eq!(
            src(tags),
            (Index::Table, "ORG#acme#CONTACTS#TAG#vip".into(), true)
        );
        let out = parse(&[], Some("lead"), Some("true"), None).unwrap();
        assert_eq!(
            src(out),
            (Index::Table, "ORG#acme#CONTACTS#OPTED_OUT".into(), true)
        );
        let status = parse(&[], Some("lead"), Some("false"), None).unwrap();
        assert_eq!(
            src(status),
            (Index::Gsi2, "ORG#acme#CONTACTS#STATUS#lead".into(), false)
        );
        let plain = parse(&[], None, Some("false"), None).unwrap();
        assert_eq!(src(plain), (Index::Gsi1, "ORG#acme#CONTACTS".into(), false));
    }
}
