//! Every port's contract suite, on the embedded backend and on AWS (moto_server).

mod store_sqlite {
    switchboard_testkit::store_contract!(
        switchboard_testkit::backends::local_store,
        concurrent_increments = true
    );
}

mod store_dynamodb {
    switchboard_testkit::store_contract!(
        switchboard_testkit::backends::aws_store,
        concurrent_increments = false
    );
}

mod queue_sqlite {
    switchboard_testkit::queue_contract!(switchboard_testkit::backends::local_queue);

    #[tokio::test]
    async fn dedupe() {
        switchboard_testkit::contract::queue::dedupe(
            switchboard_testkit::backends::local_queue().await,
        )
        .await;
    }
}

mod queue_sqs {
    switchboard_testkit::queue_contract!(switchboard_testkit::backends::aws_queue);
}

mod cipher_local {
    switchboard_testkit::cipher_contract!(switchboard_testkit::backends::local_cipher);

    #[tokio::test]
    async fn master_key_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        use switchboard_core::cipher::{Cipher, EncryptionContext};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = switchboard_local::LocalCipher::open_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let ctx =
            EncryptionContext::new(&switchboard_core::ids::OrgId::parse("acme").unwrap(), "t");
        let text = first.encrypt(b"kept", &ctx).await.unwrap();
        let second = switchboard_local::LocalCipher::open_or_create(&path).unwrap();
        assert_eq!(second.decrypt(&text, &ctx).await.unwrap(), b"kept");
        std::fs::write(&path, b"short").unwrap();
        assert!(switchboard_local::LocalCipher::open_or_create(&path).is_err());
    }
}

mod cipher_kms {
    switchboard_testkit::cipher_contract!(switchboard_testkit::backends::aws_cipher);

    #[tokio::test]
    async fn local_envelopes_are_refused_by_kms() {
        use switchboard_core::cipher::{CipherError, EncryptionContext};
        let local = switchboard_testkit::backends::local_cipher().await;
        let kms = switchboard_testkit::backends::aws_cipher().await;
        let ctx =
            EncryptionContext::new(&switchboard_core::ids::OrgId::parse("acme").unwrap(), "t");
        let text = local.encrypt(b"x", &ctx).await.unwrap();
        assert!(matches!(
            kms.decrypt(&text, &ctx).await,
            Err(CipherError::Format)
        ));
        let text = kms.encrypt(b"x", &ctx).await.unwrap();
        assert!(matches!(
            local.decrypt(&text, &ctx).await,
            Err(CipherError::Format)
        ));
    }
}

mod secrets_env {
    #[tokio::test]
    async fn configured_and_absent() {
        let s = switchboard_testkit::backends::local_secrets("s3cret-env").await;
        switchboard_testkit::contract::secrets::configured_and_absent(s, "s3cret-env").await;
    }
}

mod secrets_manager {
    use std::time::Duration;

    #[tokio::test]
    async fn configured_and_absent() {
        let (s, _) =
            switchboard_testkit::backends::aws_secrets("s3cret-sm", Duration::from_secs(300)).await;
        switchboard_testkit::contract::secrets::configured_and_absent(s, "s3cret-sm").await;
    }

    #[tokio::test]
    async fn values_are_cached_for_the_ttl() {
        use switchboard_core::secrets::SecretName;
        let (s, id) =
            switchboard_testkit::backends::aws_secrets("v1", Duration::from_secs(300)).await;
        assert_eq!(
            s.get(SecretName::WhatsAppAppSecret)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "v1"
        );
        let clients = switchboard_testkit::moto::clients().await;
        clients
            .secrets
            .put_secret_value()
            .secret_id(&id)
            .secret_string("v2")
            .send()
            .await
            .unwrap();
        assert_eq!(
            s.get(SecretName::WhatsAppAppSecret)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "v1",
            "served from cache within the TTL"
        );
        let (fresh, id2) = switchboard_testkit::backends::aws_secrets("w1", Duration::ZERO).await;
        clients
            .secrets
            .put_secret_value()
            .secret_id(&id2)
            .secret_string("w2")
            .send()
            .await
            .unwrap();
        assert_eq!(
            fresh
                .get(SecretName::WhatsAppAppSecret)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "w2"
        );
    }
}

mod dynamodb_reads {
    //! Which reads are strongly consistent is decided by the port (`Query::consistent`);
    //! this checks the adapter puts that on the wire, by looking at the requests the SDK
    //! sends to DynamoDB (moto answers every read consistently, so only the request
    //! shows the difference).

    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
    use switchboard_core::store::{Index, ItemStore, Query};

    #[derive(Debug, Default, Clone)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Intercept for Recorder {
        fn name(&self) -> &'static str {
            "Recorder"
        }
        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
            let body = context
                .request()
                .body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            self.0.lock().unwrap().push(body);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn table_queries_ask_for_consistent_reads_when_the_port_says_so() {
        let clients = switchboard_testkit::moto::clients().await;
        let deployment = switchboard_testkit::moto::deploy(&clients).await;
        let recorder = Recorder::default();
        let sdk = switchboard_testkit::moto::sdk_config().await;
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(recorder.clone())
            .build();
        let store = switchboard_aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            deployment.table,
            switchboard_testkit::backends::fixed_clock(),
        );
        store.query(Query::table("P").consistent()).await.unwrap();
        store.query(Query::table("P")).await.unwrap();
        // Indexes cannot read consistently; asking is ignored rather than refused.
        store
            .query(Query::index(Index::Gsi1, "G").consistent())
            .await
            .unwrap();
        let bodies = recorder.0.lock().unwrap().clone();
        assert_eq!(bodies.len(), 3, "{bodies:?}");
        assert!(
            bodies[0].contains(r#""ConsistentRead":true"#),
            "{}",
            bodies[0]
        );
        assert!(
            !bodies[1].contains(r#""ConsistentRead":true"#),
            "{}",
            bodies[1]
        );
        assert!(
            !bodies[2].contains(r#""ConsistentRead":true"#),
            "{}",
            bodies[2]
        );
    }
}

mod objects_files {
    switchboard_testkit::objects_contract!(switchboard_testkit::backends::file_objects);

    #[tokio::test]
    async fn signed_urls_are_checked_for_method_key_type_and_expiry() {
        use switchboard_core::objects::ObjectStore;
        let o = switchboard_testkit::backends::file_objects_at("http://127.0.0.1:3000");
        let now = chrono::Utc::now();
        let url = ObjectStore::presign_put(
            &*o,
            "uploads/acme/up_1",
            "image/png",
            std::time::Duration::from_secs(60),
            now,
        )
        .await
        .unwrap();
        let q: std::collections::HashMap<String, String> = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let expires: i64 = q["expires"].parse().unwrap();
        let sig = &q["sig"];
        assert!(o.verify_signed("PUT", "uploads/acme/up_1", expires, "image/png", sig, now));
        assert!(!o.verify_signed("PUT", "uploads/acme/up_1", expires, "image/jpeg", sig, now));
        assert!(!o.verify_signed("GET", "uploads/acme/up_1", expires, "", sig, now));
        assert!(!o.verify_signed("PUT", "uploads/acme/up_2", expires, "image/png", sig, now));
        assert!(!o.verify_signed(
            "PUT",
            "uploads/acme/up_1",
            expires + 1,
            "image/png",
            sig,
            now
        ));
        let later = now + chrono::Duration::seconds(61);
        assert!(!o.verify_signed("PUT", "uploads/acme/up_1", expires, "image/png", sig, later));
    }
}

mod objects_s3 {
    switchboard_testkit::objects_contract!(switchboard_testkit::backends::s3_objects);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn presigned_urls() {
        switchboard_testkit::contract::objects::presigned_urls(
            switchboard_testkit::backends::s3_objects().await,
        )
        .await;
    }
}
