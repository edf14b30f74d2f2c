//! The item store on DynamoDB: one table (`pk`/`sk`), GSIs `gsi1` and `gsi2`, the
//! record as a JSON string attribute `data`, `version` for optimistic concurrency,
//! `n` for atomic counters and `ttl` for expiry.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem,
};
use switchboard_core::clock::Clock;
use switchboard_core::store::{
    Condition, Index, IndexKey, Item, ItemStore, MAX_TRANSACTION_ITEMS, Page, Position, Query,
    SortKey, StoreError, Write,
};

use crate::lazy::SdkClient;

type Attrs = HashMap<String, AttributeValue>;

/// The DynamoDB item store.
#[derive(Clone)]
pub struct DynamoStore {
    client: SdkClient<Client>,
    table: Arc<str>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DynamoStore({})", self.table)
    }
}

impl DynamoStore {
    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// A store on `table`.
    pub fn new(
        client: impl Into<SdkClient<Client>>,
        table: impl Into<Arc<str>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            client: client.into(),
            table: table.into(),
            clock,
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: &str, sk: &str) -> Attrs {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// The attributes of an item whose document was encoded by [`Item::encode`].
fn to_attrs(item: &Item, data: String) -> Attrs {
    let mut m = key(&item.pk, &item.sk);
    if let Some(k) = &item.gsi1 {
        m.insert("gsi1pk".into(), s(&k.pk));
        m.insert("gsi1sk".into(), s(&k.sk));
    }
    if let Some(k) = &item.gsi2 {
        m.insert("gsi2pk".into(), s(&k.pk));
        m.insert("gsi2sk".into(), s(&k.sk));
    }
    m.insert("version".into(), n(item.version));
    if let Some(t) = item.ttl {
        m.insert("ttl".into(), n(t));
    }
    if let Some(v) = item.n {
        m.insert("n".into(), n(v));
    }
    m.insert("data".into(), s(data));
    m
}

fn get_s(m: &Attrs, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(m: &Attrs, k: &str) -> Option<i64> {
    m.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|t| t.parse().ok())
}

fn from_attrs(m: &Attrs) -> Result<Item, StoreError> {
    let index = |p: &str, q: &str| match (get_s(m, p), get_s(m, q)) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    };
    let pk = get_s(m, "pk").ok_or_else(|| StoreError::Corrupt("item without pk".into()))?;
    let sk = get_s(m, "sk").ok_or_else(|| StoreError::Corrupt("item without sk".into()))?;
    let data = match get_s(m, "data") {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("item {pk}/{sk}: {e}")))?,
        None => serde_json::Value::Null,
    };
    Ok(Item {
        gsi1: index("gsi1pk", "gsi1sk"),
        gsi2: index("gsi2pk", "gsi2sk"),
        version: get_n(m, "version").unwrap_or(0) as u64,
        ttl: get_n(m, "ttl"),
        n: get_n(m, "n"),
        data,
        pk,
        sk,
    })
}

/// Attaches a write condition (evaluated at `now`, Unix seconds) to a DynamoDB request
/// or transaction-item builder (they share the three setters but no trait).
macro_rules! with_condition {
    ($builder:expr, $condition:expr, $now:expr) => {{
        let mut b = $builder;
        if let Some((expr, names, values)) = condition_expr($condition, $now) {
            b = b
                .condition_expression(expr)
                .set_expression_attribute_names(Some(names));
            if !values.is_empty() {
                b = b.set_expression_attribute_values(Some(values));
            }
        }
        b
    }};
}

/// Holds when the item is live: no `ttl`, or a `ttl` still in the future. DynamoDB
/// deletes expired items lazily (often days late), so every condition that asks for an
/// item's presence also asks that it has not expired, and "must not exist" passes over
/// an expired one.
const LIVE: &str = "(attribute_not_exists(#ttl) OR #ttl > :now)";

/// A condition as (expression, names, values); `None` for [`Condition::Always`].
fn condition_expr(c: Condition, now: i64) -> Option<(String, HashMap<String, String>, Attrs)> {
    let names = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<HashMap<_, _>>()
    };
    let now_value = || (":now".to_owned(), n(now));
    match c {
        Condition::Always => None,
        Condition::NotExists => Some((
            "attribute_not_exists(#pk) OR #ttl <= :now".into(),
            names(&[("#pk", "pk"), ("#ttl", "ttl")]),
            HashMap::from([now_value()]),
        )),
        Condition::Exists => Some((
            format!("attribute_exists(#pk) AND {LIVE}"),
            names(&[("#pk", "pk"), ("#ttl", "ttl")]),
            HashMap::from([now_value()]),
        )),
        Condition::Version(v) => Some((
            format!("#version = :expected_version AND {LIVE}"),
            names(&[("#version", "version"), ("#ttl", "ttl")]),
            HashMap::from([(":expected_version".to_owned(), n(v)), now_value()]),
        )),
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    match err.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { index: 0 },
        Some("ProvisionedThroughputExceededException")
        | Some("RequestLimitExceeded")
        | Some("ThrottlingException") => StoreError::Throttled,
        Some("TransactionConflictException") | Some("TransactionInProgressException") => {
            StoreError::Conflict
        }
        Some("ValidationException") => {
            StoreError::Invalid(err.message().unwrap_or("validation failed").to_owned())
        }
        Some("ItemCollectionSizeLimitExceededException") => StoreError::TooLarge(
            err.message()
                .unwrap_or("item collection too large")
                .to_owned(),
        ),
        _ => StoreError::Unavailable(format!(
            "{}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&err)
        )),
    }
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let now = self.clock.now().timestamp();
        match out.item() {
            Some(m) => Ok(Some(from_attrs(m)?).filter(|i| !i.is_expired(now))),
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let data = item.encode()?;
        let req = with_condition!(
            self.client
                .put_item()
                .table_name(&*self.table)
                .set_item(Some(to_attrs(&item, data))),
            condition,
            self.now()
        );
        req.send().await.map_err(classify)?;
        Ok(())
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let req = with_condition!(
            self.client
                .delete_item()
                .table_name(&*self.table)
                .set_key(Some(key(pk, sk))),
            condition,
            self.now()
        );
        req.send().await.map_err(classify)?;
        Ok(())
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if query.limit == 0 {
            return Err(StoreError::Invalid("query limit must be at least 1".into()));
        }
        let (index_name, pk_attr, sk_attr) = match query.index {
            Index::Table => (None, "pk", "sk"),
            Index::Gsi1 => (Some("gsi1"), "gsi1pk", "gsi1sk"),
            Index::Gsi2 => (Some("gsi2"), "gsi2pk", "gsi2sk"),
        };
        let mut names = HashMap::from([("#p".to_owned(), pk_attr.to_owned())]);
        let mut values: Attrs = HashMap::from([(":p".to_owned(), s(&query.pk))]);
        let mut expr = "#p = :p".to_owned();
        let mut sort = |cond: &str, vals: &[(&str, &String)]| {
            names.insert("#s".into(), sk_attr.into());
            expr.push_str(" AND ");
            expr.push_str(cond);
            for (k, v) in vals {
                values.insert((*k).to_owned(), s(*v));
            }
        };
        match &query.sort {
            SortKey::Any => {}
            // Every sort key begins with "" (and DynamoDB refuses an empty value).
            SortKey::BeginsWith(p) if p.is_empty() => {}
            SortKey::BeginsWith(p) => sort("begins_with(#s, :a)", &[(":a", p)]),
            SortKey::Between(a, b) => sort("#s BETWEEN :a AND :b", &[(":a", a), (":b", b)]),
            SortKey::AtLeast(a) => sort("#s >= :a", &[(":a", a)]),
            SortKey::AtMost(b) => sort("#s <= :b", &[(":b", b)]),
        }
        let start = match &query.after {
            None => None,
            Some(pos) => {
                let mut k = key(&pos.pk, &pos.sk);
                match query.index {
                    Index::Table => {
                        if pos.pk != query.pk {
                            return Err(StoreError::Invalid(
                                "position is from another partition".into(),
                            ));
                        }
                    }
                    Index::Gsi1 | Index::Gsi2 => {
                        let Some(isk) = &pos.index_sk else {
                            return Err(StoreError::Invalid(
                                "index position lacks its sort key".into(),
                            ));
                        };
                        k.insert(pk_attr.to_owned(), s(&query.pk));
                        k.insert(sk_attr.to_owned(), s(isk));
                    }
                }
                Some(k)
            }
        };
        let out = self
            .client
            .query()
            .table_name(&*self.table)
            .set_index_name(index_name.map(str::to_owned))
            .key_condition_expression(expr)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(query.forward)
            .consistent_read(query.consistent && query.index == Index::Table)
            .limit(query.limit.min(i32::MAX as usize) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let now = self.clock.now().timestamp();
        let mut items = Vec::with_capacity(out.items().len());
        for m in out.items() {
            let item = from_attrs(m)?;
            if !item.is_expired(now) {
                items.push(item);
            }
        }
        let next = match out.last_evaluated_key() {
            Some(k) => Some(Position {
                pk: get_s(k, "pk").unwrap_or_default(),
                sk: get_s(k, "sk").unwrap_or_default(),
                index_sk: match query.index {
                    Index::Table => None,
                    _ => get_s(k, sk_attr),
                },
            }),
            None => None,
        };
        Ok(Page { items, next })
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        if writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooLarge(format!(
                "{} writes in one transaction; the limit is {MAX_TRANSACTION_ITEMS}",
                writes.len()
            )));
        }
        let now = self.now();
        let mut items = Vec::with_capacity(writes.len());
        let mut keys = std::collections::HashSet::new();
        for w in &writes {
            let twi = match w {
                Write::Put { item, condition } => {
                    let data = item.encode()?;
                    keys.insert((item.pk.clone(), item.sk.clone()));
                    let put = with_condition!(
                        Put::builder()
                            .table_name(&*self.table)
                            .set_item(Some(to_attrs(item, data))),
                        *condition,
                        now
                    );
                    TransactWriteItem::builder()
                        .put(put.build().map_err(build_err)?)
                        .build()
                }
                Write::Delete { pk, sk, condition } => {
                    keys.insert((pk.clone(), sk.clone()));
                    let delete = with_condition!(
                        Delete::builder()
                            .table_name(&*self.table)
                            .set_key(Some(key(pk, sk))),
                        *condition,
                        now
                    );
                    TransactWriteItem::builder()
                        .delete(delete.build().map_err(build_err)?)
                        .build()
                }
                Write::Check { pk, sk, condition } => {
                    keys.insert((pk.clone(), sk.clone()));
                    // A check needs an expression; "always" is expressed as a tautology.
                    let (expr, names, values) = condition_expr(*condition, now).unwrap_or((
                        "attribute_not_exists(#pk) OR attribute_exists(#pk)".into(),
                        HashMap::from([("#pk".to_owned(), "pk".to_owned())]),
                        HashMap::new(),
                    ));
                    let mut b = ConditionCheck::builder()
                        .table_name(&*self.table)
                        .set_key(Some(key(pk, sk)))
                        .condition_expression(expr)
                        .set_expression_attribute_names(Some(names));
                    if !values.is_empty() {
                        b = b.set_expression_attribute_values(Some(values));
                    }
                    TransactWriteItem::builder()
                        .condition_check(b.build().map_err(build_err)?)
                        .build()
                }
            };
            items.push(twi);
        }
        if keys.len() != writes.len() {
            return Err(StoreError::Invalid(
                "a transaction may touch each key only once".into(),
            ));
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                let service = err.as_service_error();
                if let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc)) = service {
                    let reasons = tc.cancellation_reasons();
                    if let Some(index) = reasons
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        return Err(StoreError::ConditionFailed { index });
                    }
                    if reasons.iter().any(|r| {
                        matches!(r.code(), Some("TransactionConflict"))
                    }) {
                        return Err(StoreError::Conflict);
                    }
                    if reasons.iter().any(|r| {
                        matches!(r.code(), Some("ThrottlingError") | Some("ProvisionedThroughputExceeded"))
                    }) {
                        return Err(StoreError::Throttled);
                    }
                    return Err(StoreError::Conflict);
                }
                Err(classify(err))
            }
        }
    }

    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        // ADD on an expired item would continue its old count; the condition refuses
        // that, and the counter is then restarted with a put conditioned on it still
        // being expired (a concurrent restart wins and this increment goes again).
        for _ in 0..4 {
            let now = self.now();
            let mut names = HashMap::from([
                ("#n".to_owned(), "n".to_owned()),
                ("#version".to_owned(), "version".to_owned()),
                ("#data".to_owned(), "data".to_owned()),
                ("#ttl".to_owned(), "ttl".to_owned()),
            ]);
            let mut values: Attrs = HashMap::from([
                (":d".to_owned(), n(delta)),
                (":one".to_owned(), n(1)),
                (":null".to_owned(), s("null")),
                (":now".to_owned(), n(now)),
            ]);
            // ADD creates the attribute at 0 if absent; version/data get defaults so the
            // counter item decodes like any other.
            let mut expr = "ADD #n :d SET #version = if_not_exists(#version, :one), #data = if_not_exists(#data, :null)".to_owned();
            if let Some(t) = ttl {
                values.insert(":ttl".into(), n(t));
                expr.push_str(", #ttl = :ttl");
            }
            let result = self
                .client
                .update_item()
                .table_name(&*self.table)
                .set_key(Some(key(pk, sk)))
                .update_expression(expr)
                .condition_expression(LIVE)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await
                .map_err(classify);
            match result {
                Ok(out) => {
                    return out
                        .attributes()
                        .and_then(|a| get_n(a, "n"))
                        .ok_or_else(|| StoreError::Corrupt("increment returned no value".into()));
                }
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e),
            }
            let mut fresh = Item::new(pk, sk, serde_json::Value::Null);
            fresh.n = Some(delta);
            fresh.ttl = ttl;
            names.retain(|k, _| k == "#ttl");
            let restarted = self
                .client
                .put_item()
                .table_name(&*self.table)
                .set_item(Some(to_attrs(&fresh, "null".into())))
                .condition_expression("#ttl <= :now")
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(HashMap::from([(":now".to_owned(), n(now))])))
                .send()
                .await
                .map_err(classify);
            match restarted {
                Ok(_) => return Ok(delta),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn take(&self, pk: &str, sk: &str, amount: i64) -> Result<Option<i64>, StoreError> {
        if amount < 0 {
            return Err(StoreError::Invalid(
                "take needs a non-negative amount".into(),
            ));
        }
        let result = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression("ADD #n :neg")
            .condition_expression(format!("#n >= :amount AND {LIVE}"))
            .set_expression_attribute_names(Some(HashMap::from([
                ("#n".to_owned(), "n".to_owned()),
                ("#ttl".to_owned(), "ttl".to_owned()),
            ])))
            .set_expression_attribute_values(Some(HashMap::from([
                (":neg".to_owned(), n(-amount)),
                (":amount".to_owned(), n(amount)),
                (":now".to_owned(), n(self.now())),
            ])))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(out) => Ok(out.attributes().and_then(|a| get_n(a, "n"))),
            Err(StoreError::ConditionFailed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
