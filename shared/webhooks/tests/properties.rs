//! Property tests: no input, however hostile, panics the webhook path, and a signature
//! only verifies for the exact bytes it was made over.

use proptest::prelude::*;
use switchboard_webhooks::{meta, standard, stripe};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn meta_split_never_panics(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = meta::split(&body);
    }

    #[test]
    fn meta_split_never_panics_on_near_json(body in r#"\{"(object|entry)":\[?\{?"(id|changes|field|value)":.{0,40}"#) {
        let _ = meta::split(body.as_bytes());
    }

    #[test]
    fn meta_verify_never_panics(header in ".{0,100}", body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = meta::verify_signature(b"secret", Some(&header), &body);
    }

    #[test]
    fn meta_signature_binds_every_byte(body in proptest::collection::vec(any::<u8>(), 1..512), idx in any::<usize>(), bit in 0u8..8) {
        let header = meta::sign(b"secret", &body);
        prop_assert!(meta::verify_signature(b"secret", Some(&header), &body).is_ok());
        let mut flipped = body.clone();
        let i = idx % flipped.len();
        flipped[i] ^= 1 << bit;
        prop_assert!(meta::verify_signature(b"secret", Some(&header), &flipped).is_err());
    }

    #[test]
    fn stripe_verify_never_panics(header in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..256), now in any::<i64>()) {
        let _ = stripe::verify_signature(b"whsec_x", Some(&header), &body, now, 300);
    }

    #[test]
    fn standard_verify_never_panics(id in ".{0,20}", ts in ".{0,12}", sig in ".{0,120}", now in any::<i64>()) {
        let h = standard::Headers { id: Some(&id), timestamp: Some(&ts), signature: Some(&sig) };
        let _ = standard::verify_signature("whsec_AAAA", h, b"{}", now, 300);
    }
}

#[test]
fn split_of_the_2kb_fixture() {
    let body = include_bytes!("../fixtures/meta_2kb_delivery.json");
    let changes = meta::split(body).unwrap();
    assert_eq!(changes.len(), 2);
    let value: meta::MessagesValue = serde_json::from_str(&changes[0].value).unwrap();
    assert_eq!(value.messages.len(), 2);
    assert_eq!(value.messages[1].kind, "image");
    let value: meta::MessagesValue = serde_json::from_str(&changes[1].value).unwrap();
    assert_eq!(value.statuses[1].errors[0].code, 131026);
}
