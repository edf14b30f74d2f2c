//! The item store contract. Every case runs on SQLite and on DynamoDB (moto).

use std::sync::Arc;

use serde_json::json;
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::store::{
    Condition, Index, IndexKey, Item, ItemStore, Query, SortKey, StoreError, Write,
};

fn item(pk: &str, sk: &str, n: i64) -> Item {
    Item::new(pk, sk, json!({"n": n, "text": "héllo \"quoted\" ✓"}))
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.sk.clone()).collect()
}

/// A put item reads back identically, including index keys and TTL.
pub async fn put_get_round_trip(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) {
    let future = clock.now().timestamp() + 3600;
    let it = item("P#1", "S#1", 1)
        .with_gsi1(IndexKey::new("G1", "a"))
        .with_gsi2(IndexKey::new("G2", "b"))
        .with_ttl(future)
        .with_version(7);
    store.put(it.clone(), Condition::Always).await.unwrap();
    let got = store.get("P#1", "S#1").await.unwrap().expect("stored");
    assert_eq!(got, it);
    assert!(store.get("P#1", "S#2").await.unwrap().is_none());
    assert!(store.get("P#2", "S#1").await.unwrap().is_none());
}

/// NotExists / Exists / Version conditions hold or fail as documented.
pub async fn conditions(store: Arc<dyn ItemStore>) {
    store
        .put(item("P", "S", 1), Condition::NotExists)
        .await
        .unwrap();
    let err = store
        .put(item("P", "S", 2), Condition::NotExists)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
    let err = store
        .put(item("P", "T", 2), Condition::Exists)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");

    store
        .put(item("P", "S", 2).with_version(2), Condition::Version(1))
        .await
        .unwrap();
    let err = store
        .put(item("P", "S", 3).with_version(2), Condition::Version(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
    let got = store.get("P", "S").await.unwrap().unwrap();
    assert_eq!((got.version, got.data["n"].as_i64()), (2, Some(2)));
    // A version condition on a missing item fails.
    let err = store
        .put(item("P", "U", 1), Condition::Version(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
}

/// Deletes honour conditions; deleting nothing unconditionally succeeds.
pub async fn deletes(store: Arc<dyn ItemStore>) {
    store
        .delete("P", "missing", Condition::Always)
        .await
        .unwrap();
    store
        .put(item("P", "S", 1).with_version(3), Condition::Always)
        .await
        .unwrap();
    let err = store
        .delete("P", "S", Condition::Version(2))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
    assert!(store.get("P", "S").await.unwrap().is_some());
    store.delete("P", "S", Condition::Version(3)).await.unwrap();
    assert!(store.get("P", "S").await.unwrap().is_none());
    let err = store.delete("P", "S", Condition::Exists).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
}

/// Table queries: sort-key conditions and both directions.
pub async fn query_sort_conditions(store: Arc<dyn ItemStore>) {
    for (i, sk) in ["A#1", "A#2", "A#3", "B#1", "B#2", "C%_#1"]
        .iter()
        .enumerate()
    {
        store
            .put(item("Q", sk, i as i64), Condition::Always)
            .await
            .unwrap();
    }
    store
        .put(item("Q2", "A#9", 0), Condition::Always)
        .await
        .unwrap();
    let all = store.query(Query::table("Q")).await.unwrap();
    assert_eq!(
        sks(&all.items),
        ["A#1", "A#2", "A#3", "B#1", "B#2", "C%_#1"]
    );
    assert!(all.next.is_none());
    let a = store
        .query(Query::table("Q").sort(SortKey::BeginsWith("A#".into())))
        .await
        .unwrap();
    assert_eq!(sks(&a.items), ["A#1", "A#2", "A#3"]);
    let special = store
        .query(Query::table("Q").sort(SortKey::BeginsWith("C%_".into())))
        .await
        .unwrap();
    assert_eq!(sks(&special.items), ["C%_#1"]);
    let none = store
        .query(Query::table("Q").sort(SortKey::BeginsWith("A%".into())))
        .await
        .unwrap();
    assert!(none.items.is_empty());
    // Every sort key begins with the empty prefix.
    let empty = store
        .query(Query::table("Q").sort(SortKey::BeginsWith(String::new())))
        .await
        .unwrap();
    assert_eq!(sks(&empty.items), sks(&all.items));
    let between = store
        .query(Query::table("Q").sort(SortKey::Between("A#2".into(), "B#1".into())))
        .await
        .unwrap();
    assert_eq!(sks(&between.items), ["A#2", "A#3", "B#1"]);
    let at_least = store
        .query(Query::table("Q").sort(SortKey::AtLeast("B".into())))
        .await
        .unwrap();
    assert_eq!(sks(&at_least.items), ["B#1", "B#2", "C%_#1"]);
    let at_most = store
        .query(
            Query::table("Q")
                .sort(SortKey::AtMost("A#2".into()))
                .descending(),
        )
        .await
        .unwrap();
    assert_eq!(sks(&at_most.items), ["A#2", "A#1"]);
}

/// Paging with a small limit visits every item exactly once, in order, both ways.
pub async fn query_pagination(store: Arc<dyn ItemStore>) {
    for i in 0..7 {
        store
            .put(item("PG", &format!("K#{i:02}"), i), Condition::Always)
            .await
            .unwrap();
    }
    for forward in [true, false] {
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let mut q = Query::table("PG").limit(3).after(after.clone());
            if !forward {
                q = q.descending();
            }
            let page = store.query(q).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 3);
            seen.extend(sks(&page.items));
            match page.next {
                Some(p) => after = Some(p),
                None => break,
            }
            assert!(pages < 10, "pagination does not terminate");
        }
        let mut expected: Vec<String> = (0..7).map(|i| format!("K#{i:02}")).collect();
        if !forward {
            expected.reverse();
        }
        assert_eq!(seen, expected, "forward={forward}");
    }
}

/// Index queries order by the index sort key, page, and only see indexed items.
pub async fn index_queries(store: Arc<dyn ItemStore>) {
    let keys = [
        ("X#3", "2026-01-03"),
        ("X#1", "2026-01-01"),
        ("X#2", "2026-01-02"),
        ("X#4", "2026-01-04"),
    ];
    for (pk, isk) in keys {
        store
            .put(
                item(pk, "R", 0).with_gsi1(IndexKey::new("LIST", format!("{isk}#{pk}"))),
                Condition::Always,
            )
            .await
            .unwrap();
    }
    store
        .put(item("X#5", "R", 0), Condition::Always)
        .await
        .unwrap();
    store
        .put(
            item("X#6", "R", 0).with_gsi2(IndexKey::new("LIST", "2026-01-05")),
            Condition::Always,
        )
        .await
        .unwrap();
    let page = store
        .query(Query::index(Index::Gsi1, "LIST").descending().limit(3))
        .await
        .unwrap();
    let pks: Vec<&str> = page.items.iter().map(|i| i.pk.as_str()).collect();
    assert_eq!(pks, ["X#4", "X#3", "X#2"]);
    let next = page.next.expect("a full page has a position");
    let rest = store
        .query(
            Query::index(Index::Gsi1, "LIST")
                .descending()
                .limit(3)
                .after(Some(next)),
        )
        .await
        .unwrap();
    let pks: Vec<&str> = rest.items.iter().map(|i| i.pk.as_str()).collect();
    assert_eq!(pks, ["X#1"]);
    assert!(rest.next.is_none());
    let prefixed = store
        .query(
            Query::index(Index::Gsi1, "LIST")
                .sort(SortKey::BeginsWith("2026-01-0".into()))
                .limit(2),
        )
        .await
        .unwrap();
    let pks: Vec<&str> = prefixed.items.iter().map(|i| i.pk.as_str()).collect();
    assert_eq!(pks, ["X#1", "X#2"]);
    // Rewriting an item without its index key removes it from the index.
    store
        .put(item("X#4", "R", 1), Condition::Always)
        .await
        .unwrap();
    let page = store
        .query(Query::index(Index::Gsi1, "LIST"))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    let g2 = store
        .query(Query::index(Index::Gsi2, "LIST"))
        .await
        .unwrap();
    assert_eq!(g2.items.len(), 1);
    assert_eq!(g2.items[0].pk, "X#6");
}

/// A transaction applies all writes or none, and names the failing write.
pub async fn transactions(store: Arc<dyn ItemStore>) {
    store
        .put(item("T", "existing", 0), Condition::Always)
        .await
        .unwrap();
    store
        .put(item("T", "doomed", 0), Condition::Always)
        .await
        .unwrap();
    let err = store
        .transact(vec![
            Write::put(item("T", "new", 1), Condition::NotExists),
            Write::put(item("T", "existing", 1), Condition::NotExists),
            Write::delete("T", "doomed", Condition::Always),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 1 }),
        "{err:?}"
    );
    assert!(
        store.get("T", "new").await.unwrap().is_none(),
        "nothing written"
    );
    assert!(
        store.get("T", "doomed").await.unwrap().is_some(),
        "nothing deleted"
    );

    store
        .transact(vec![
            Write::put(item("T", "new", 1), Condition::NotExists),
            Write::put(
                item("T", "existing", 2).with_version(2),
                Condition::Version(1),
            ),
            Write::delete("T", "doomed", Condition::Exists),
            Write::Check {
                pk: "T".into(),
                sk: "new2".into(),
                condition: Condition::NotExists,
            },
        ])
        .await
        .unwrap();
    assert!(store.get("T", "new").await.unwrap().is_some());
    assert_eq!(
        store.get("T", "existing").await.unwrap().unwrap().version,
        2
    );
    assert!(store.get("T", "doomed").await.unwrap().is_none());

    let err = store
        .transact(vec![
            Write::Check {
                pk: "T".into(),
                sk: "new".into(),
                condition: Condition::NotExists,
            },
            Write::put(item("T", "other", 1), Condition::Always),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
    assert!(store.get("T", "other").await.unwrap().is_none());

    let err = store
        .transact(vec![
            Write::put(item("T", "dup", 1), Condition::Always),
            Write::delete("T", "dup", Condition::Always),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

/// Increments create the counter, return each new value, and carry a TTL. With
/// `concurrently`, twenty increments race and must still see distinct values.
///
/// moto_server does not serialise concurrent `UpdateItem ADD` calls (DynamoDB does), so
/// the racing variant runs on the embedded backend only; moto checks the same values
/// issued one after another.
pub async fn atomic_increment(
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    concurrently: bool,
) {
    let ttl = clock.now().timestamp() + 60;
    let mut results: Vec<i64> = if concurrently {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s = store.clone();
                tokio::spawn(async move { s.increment("CNT", "c", 1, Some(ttl)).await.unwrap() })
            })
            .collect();
        futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    } else {
        let mut out = Vec::new();
        for _ in 0..20 {
            out.push(store.increment("CNT", "c", 1, Some(ttl)).await.unwrap());
        }
        out
    };
    results.sort_unstable();
    assert_eq!(
        results,
        (1..=20).collect::<Vec<_>>(),
        "each increment saw a distinct value"
    );
    assert_eq!(store.increment("CNT", "c", -5, None).await.unwrap(), 15);
    let item = store.get("CNT", "c").await.unwrap().expect("counter item");
    assert_eq!(item.n, Some(15));
    assert_eq!(item.ttl, Some(ttl));
}

/// Expired items read as absent, because TTL deletion is lazy.
pub async fn expired_items_are_hidden(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) {
    let past = clock.now().timestamp() - 1;
    store
        .put(
            item("E", "old", 0)
                .with_ttl(past)
                .with_gsi1(IndexKey::new("EL", "1")),
            Condition::Always,
        )
        .await
        .unwrap();
    store
        .put(item("E", "new", 0), Condition::Always)
        .await
        .unwrap();
    assert!(store.get("E", "old").await.unwrap().is_none());
    assert_eq!(
        sks(&store.query(Query::table("E")).await.unwrap().items),
        ["new"]
    );
    assert!(
        store
            .query(Query::index(Index::Gsi1, "EL"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// An expired item is absent for conditions too, not only for reads: DynamoDB deletes
/// expired items lazily and SQLite keeps them until the next open, so each backend
/// compares the TTL with its clock.
pub async fn expired_items_are_absent_for_conditions(
    store: Arc<dyn ItemStore>,
    clock: Arc<FixedClock>,
) {
    let now = clock.now().timestamp();
    // Put with a past TTL, then put-if-absent succeeds.
    store
        .put(item("X", "past", 1).with_ttl(now - 1), Condition::Always)
        .await
        .unwrap();
    store
        .put(item("X", "past", 2), Condition::NotExists)
        .await
        .expect("an expired item does not block a create");
    assert_eq!(store.get("X", "past").await.unwrap().unwrap().data["n"], 2);

    // An item that expires by the clock moving on.
    store
        .put(
            item("X", "idle", 1).with_ttl(now + 3600).with_version(4),
            Condition::NotExists,
        )
        .await
        .unwrap();
    let err = store
        .put(item("X", "idle", 2), Condition::NotExists)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
    clock.advance(chrono::Duration::hours(2));

    // A version condition against an expired item fails as against a missing one...
    let err = store
        .put(item("X", "idle", 3).with_version(5), Condition::Version(4))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
    let err = store
        .put(
            item("X", "nothing", 3).with_version(5),
            Condition::Version(4),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
    // ...so does "exists" and a conditional delete...
    let err = store
        .put(item("X", "idle", 3), Condition::Exists)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
    let err = store
        .delete("X", "idle", Condition::Version(4))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}");
    // ...and "must not exist" passes, in a transaction as well.
    store
        .transact(vec![
            Write::put(item("X", "idle", 9), Condition::NotExists),
            Write::Check {
                pk: "X".into(),
                sk: "past".into(),
                condition: Condition::Exists,
            },
        ])
        .await
        .expect("an expired item is absent inside a transaction");
    let got = store.get("X", "idle").await.unwrap().unwrap();
    assert_eq!((got.data["n"].as_i64(), got.ttl), (Some(9), None));
}

/// An expired counter starts again from zero; `take` never goes below zero and
/// ignores expired counters.
pub async fn counters_expire_and_never_go_negative(
    store: Arc<dyn ItemStore>,
    clock: Arc<FixedClock>,
) {
    let now = clock.now().timestamp();
    assert_eq!(
        store.increment("C", "n", 5, Some(now + 60)).await.unwrap(),
        5
    );
    assert_eq!(store.take("C", "n", 2).await.unwrap(), Some(3));
    assert_eq!(store.take("C", "n", 4).await.unwrap(), None, "only 3 left");
    assert_eq!(store.take("C", "n", 3).await.unwrap(), Some(0));
    assert_eq!(
        store.take("C", "n", 1).await.unwrap(),
        None,
        "never below zero"
    );
    assert_eq!(store.take("C", "missing", 1).await.unwrap(), None);
    assert_eq!(store.get("C", "n").await.unwrap().unwrap().n, Some(0));

    assert_eq!(
        store.increment("C", "n", 7, Some(now + 60)).await.unwrap(),
        7
    );
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(store.take("C", "n", 1).await.unwrap(), None, "expired");
    assert_eq!(
        store.increment("C", "n", 1, Some(now + 600)).await.unwrap(),
        1,
        "an expired counter restarts"
    );
    let got = store.get("C", "n").await.unwrap().expect("live again");
    assert_eq!((got.n, got.ttl), (Some(1), Some(now + 600)));
    assert_eq!(store.increment("C", "n", 1, None).await.unwrap(), 2);
}

/// Items over 400 KB are refused before reaching the backend.
pub async fn item_size_limit(store: Arc<dyn ItemStore>) {
    let big = Item::new("BIG", "x", json!({"blob": "x".repeat(401 * 1024)}));
    let err = store.put(big, Condition::Always).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge(_)), "{err:?}");
    let ok = Item::new("BIG", "y", json!({"blob": "x".repeat(300 * 1024)}));
    store.put(ok, Condition::Always).await.unwrap();
}

/// A query continues after the position of an item deleted since its page was read (an
/// erasure deletes what it lists and goes on from there), on the table and on an index.
pub async fn paging_past_deleted_items(store: Arc<dyn ItemStore>) {
    for i in 0..5 {
        store
            .put(
                item("P", &format!("S#{i}"), i).with_gsi1(IndexKey::new("G", format!("k{i}"))),
                Condition::Always,
            )
            .await
            .unwrap();
    }
    for index in [Index::Table, Index::Gsi1] {
        let query = || match index {
            Index::Table => Query::table("P"),
            _ => Query::index(index, "G"),
        };
        let first = store.query(query().limit(2)).await.unwrap();
        assert_eq!(first.items.len(), 2, "{index:?}");
        for it in &first.items {
            store
                .delete(&it.pk, &it.sk, Condition::Always)
                .await
                .unwrap();
        }
        let rest = store
            .query(query().limit(10).after(first.next.clone()))
            .await
            .unwrap();
        let expect: Vec<String> = match index {
            Index::Table => vec!["S#2".into(), "S#3".into(), "S#4".into()],
            _ => vec!["S#4".into()],
        };
        assert_eq!(sks(&rest.items), expect, "{index:?}");
        assert!(rest.next.is_none(), "{index:?}");
    }
}

/// Stamps one test per store contract case for a backend factory
/// (`async fn(Arc<dyn Clock>) -> Arc<dyn ItemStore>`); `concurrent_increments` says
/// whether the backend is trusted with racing increments (see [`atomic_increment`]).
#[macro_export]
macro_rules! store_contract {
    ($factory:path, concurrent_increments = $concurrent:expr) => {
        async fn __store() -> (
            std::sync::Arc<dyn switchboard_core::store::ItemStore>,
            std::sync::Arc<dyn switchboard_core::clock::Clock>,
        ) {
            let (store, clock) = __store_fixed().await;
            (store, clock)
        }
        async fn __store_fixed() -> (
            std::sync::Arc<dyn switchboard_core::store::ItemStore>,
            std::sync::Arc<switchboard_core::clock::FixedClock>,
        ) {
            let clock = $crate::backends::fixed_clock();
            ($factory(clock.clone()).await, clock)
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn put_get_round_trip() {
            let (s, c) = __store().await;
            $crate::contract::store::put_get_round_trip(s, c).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conditions() {
            $crate::contract::store::conditions(__store().await.0).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn deletes() {
            $crate::contract::store::deletes(__store().await.0).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn query_sort_conditions() {
            $crate::contract::store::query_sort_conditions(__store().await.0).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn query_pagination() {
            $crate::contract::store::query_pagination(__store().await.0).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn index_queries() {
            $crate::contract::store::index_queries(__store().await.0).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn transactions() {
            $crate::contract::store::transactions(__store().await.0).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn atomic_increment() {
            let (s, c) = __store().await;
            $crate::contract::store::atomic_increment(s, c, $concurrent).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn expired_items_are_hidden() {
            let (s, c) = __store().await;
            $crate::contract::store::expired_items_are_hidden(s, c).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn expired_items_are_absent_for_conditions() {
            let (s, c) = __store_fixed().await;
            $crate::contract::store::expired_items_are_absent_for_conditions(s, c).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn counters_expire_and_never_go_negative() {
            let (s, c) = __store_fixed().await;
            $crate::contract::store::counters_expire_and_never_go_negative(s, c).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn paging_past_deleted_items() {
            $crate::contract::store::paging_past_deleted_items(__store().await.0).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn item_size_limit() {
            $crate::contract::store::item_size_limit(__store().await.0).await;
        }
    };
}
