//! SDK clients built on first use.
//!
//! Building a service client (its config, runtime plugins, endpoint resolver) is a good
//! part of a function's init, and most functions use one or two of the four services:
//! `api-list-conversations` never calls SQS, KMS or Secrets Manager. The adapters hold a
//! [`SdkClient`], which builds its client from the shared `SdkConfig` the first time a
//! call needs it, so a cold start pays only for the clients that function uses.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// A service client, built now ([`From`] a client) or on first use ([`SdkClient::lazy`]).
/// Dereferences to the client, so adapters call `self.client.get_item()` either way.
pub struct SdkClient<C>(Arc<Inner<C>>);

struct Inner<C> {
    client: OnceLock<C>,
    make: Option<Box<dyn Fn() -> C + Send + Sync>>,
}

impl<C> SdkClient<C> {
    /// A client that `make` builds the first time it is used.
    pub fn lazy(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self(Arc::new(Inner {
            client: OnceLock::new(),
            make: Some(Box::new(make)),
        }))
    }
}

impl<C> From<C> for SdkClient<C> {
    fn from(client: C) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(client);
        Self(Arc::new(Inner {
            client: cell,
            make: None,
        }))
    }
}

impl<C> Deref for SdkClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.0.client.get_or_init(|| match &self.0.make {
            Some(make) => make(),
            // A client made with `From` is set at construction.
            None => unreachable!("an eager SdkClient holds its client"),
        })
    }
}

impl<C> Clone for SdkClient<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> std::fmt::Debug for SdkClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.client.get().is_some() {
            "built"
        } else {
            "not built yet"
        };
        write!(f, "SdkClient({state})")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn builds_once_on_first_use_and_clones_share_it() {
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        let client = SdkClient::lazy(|| {
            BUILT.fetch_add(1, Ordering::SeqCst);
            String::from("client")
        });
        let copy = client.clone();
        assert_eq!(BUILT.load(Ordering::SeqCst), 0);
        assert_eq!(copy.as_str(), "client");
        assert_eq!(client.len(), 6);
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
        assert_eq!(SdkClient::from(7u8).pow(2), 49);
    }
}
