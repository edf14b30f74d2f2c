//! The object storage contract: what every backend of [`ObjectStore`] does — round
//! trips with content types, replacing, absent keys, deletes, refused keys — and that
//! its presigned URLs work with a plain HTTP client within their lifetime.

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::objects::{ObjectError, ObjectStore};

fn key(name: &str) -> String {
    format!("media/acme/{}/{name}", uuid::Uuid::new_v4().simple())
}

/// Put, get, head, replace, delete.
pub async fn round_trip(o: Arc<dyn ObjectStore>) {
    let k = key("photo.jpg");
    assert!(o.get(&k).await.unwrap().is_none());
    assert!(o.head(&k).await.unwrap().is_none());
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    o.put(&k, body.clone(), "image/jpeg").await.unwrap();
    let got = o.get(&k).await.unwrap().expect("stored");
    assert_eq!(got.body, body);
    assert_eq!(got.content_type, "image/jpeg");
    let info = o.head(&k).await.unwrap().expect("stored");
    assert_eq!(info.size, 200_000);
    assert_eq!(info.content_type, "image/jpeg");
    o.put(&k, b"%PDF-1.7".to_vec(), "application/pdf")
        .await
        .unwrap();
    let got = o.get(&k).await.unwrap().expect("replaced");
    assert_eq!(got.body, b"%PDF-1.7");
    assert_eq!(got.content_type, "application/pdf");
    o.delete(&k).await.unwrap();
    assert!(o.get(&k).await.unwrap().is_none());
    // Deleting what is not there is fine.
    o.delete(&k).await.unwrap();
}

/// Keys Switchboard never writes are refused before anything is touched.
pub async fn refuses_bad_keys(o: Arc<dyn ObjectStore>) {
    for bad in ["", "../etc/passwd", "/abs", "a//b", "a b"] {
        assert!(
            matches!(
                o.put(bad, b"x".to_vec(), "text/plain").await,
                Err(ObjectError::InvalidKey)
            ),
            "{bad}"
        );
        assert!(
            matches!(o.get(bad).await, Err(ObjectError::InvalidKey)),
            "{bad}"
        );
    }
}

/// A presigned PUT stores a body a plain client sends with the signed content type; a
/// presigned GET reads it back; a tampered URL is refused.
pub async fn presigned_urls(o: Arc<dyn ObjectStore>) {
    let k = key("upload.pdf");
    let now = chrono::Utc::now();
    let put = o
        .presign_put(&k, "application/pdf", Duration::from_secs(300), now)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let r = http
        .put(&put)
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.7 uploaded".to_vec())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let info = o.head(&k).await.unwrap().expect("uploaded");
    assert_eq!(info.size, 17);
    let get = o
        .presign_get(&k, Duration::from_secs(300), now)
        .await
        .unwrap();
    let r = http.get(&get).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.7 uploaded");
    let tampered = get.replace(&k, &key("other.pdf"));
    let r = http.get(&tampered).send().await.unwrap();
    assert!(!r.status().is_success(), "a URL signed for another key");
}

/// Stamps one test per object storage contract case for a factory.
#[macro_export]
macro_rules! objects_contract {
    ($factory:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn round_trip() {
            $crate::contract::objects::round_trip($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn refuses_bad_keys() {
            $crate::contract::objects::refuses_bad_keys($factory().await).await;
        }
    };
}
