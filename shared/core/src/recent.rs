//! What a process read or did lately, kept in memory for a while so that requests skip
//! the store (an org's plan for its rate limits, an API key's last-use write). Bounded:
//! past [`ENTRIES`] the memory starts over, which only costs a read or a write.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before starting over.
pub const ENTRIES: usize = 10_000;

/// Values remembered with the time they were put.
#[derive(Debug)]
pub struct Recent<K, V>(Mutex<HashMap<K, (V, Instant)>>);

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    /// The value put for `key` less than `max_age` ago.
    pub fn get(&self, key: &K, max_age: Duration) -> Option<V> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(_, at)| at.elapsed() < max_age)
            .map(|(v, _)| v.clone())
    }

    /// Remembers `value` for `key` as of now.
    pub fn put(&self, key: K, value: V) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= ENTRIES && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, (value, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_for_their_age_and_the_memory_is_bounded() {
        let r: Recent<u32, &str> = Recent::default();
        assert_eq!(r.get(&1, Duration::from_secs(60)), None);
        r.put(1, "a");
        assert_eq!(r.get(&1, Duration::from_secs(60)), Some("a"));
        assert_eq!(r.get(&1, Duration::ZERO), None, "older than asked for");
        for k in 0..ENTRIES as u32 + 1 {
            r.put(k, "b");
        }
        assert!(r.0.lock().unwrap().len() <= ENTRIES);
    }
}
