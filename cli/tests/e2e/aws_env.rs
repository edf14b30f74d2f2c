//! `switchboard aws-env` and `aws-bootstrap` against moto: the first reads a stack
//! CloudFormation deployed, the second creates what `events/env.json` names.
//!
//! moto's CloudFormation cannot expand the SAM transform, so the stack here is the
//! template's own stateful resources (table, key and alias, queues and DLQs) with the
//! template's outputs and parameters, copied out of `template.yaml` into a plain
//! template: the outputs `aws-env` reads are exactly the ones a deployment has.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value as Json, json};
use switchboard_bootstrap::Value;
use switchboard_cli::aws_env::{self, AwsEnvError, OUTPUTS, PARAMETERS};

fn get<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(Value::String(k.into())))
}

/// A template node in CloudFormation's JSON form (`!Ref X` → `{"Ref": "X"}`,
/// `!GetAtt X.Y` → `{"Fn::GetAtt": ["X", "Y"]}`, `!Sub s` → `{"Fn::Sub": s}`).
fn cfn_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Number(n) => n
            .as_i64()
            .map(Json::from)
            .or_else(|| n.as_f64().map(Json::from))
            .unwrap_or(Json::Null),
        Value::String(s) => json!(s),
        Value::Sequence(items) => Json::Array(items.iter().map(cfn_json).collect()),
        Value::Mapping(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), cfn_json(v)))
                .collect(),
        ),
        Value::Tagged(t) => {
            let name = t.tag.to_string().trim_start_matches('!').to_owned();
            let arg = cfn_json(&t.value);
            match (name.as_str(), &arg) {
                ("Ref", _) => json!({ "Ref": arg }),
                ("GetAtt", Json::String(s)) => {
                    let (res, attr) = s.split_once('.').unwrap();
                    json!({ "Fn::GetAtt": [res, attr] })
                }
                _ => json!({ format!("Fn::{name}"): arg }),
            }
        }
    }
}

/// The logical ids a JSON node refers to.
fn references(node: &Json, out: &mut BTreeSet<String>) {
    match node {
        Json::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("Ref", Json::String(id)) => {
                        out.insert(id.clone());
                    }
                    ("Fn::GetAtt", Json::Array(parts)) => {
                        out.insert(parts[0].as_str().unwrap().to_owned());
                    }
                    ("Fn::Sub", Json::String(s)) => {
                        for piece in s.split("${").skip(1) {
                            let name = piece.split('}').next().unwrap();
                            out.insert(name.split('.').next().unwrap().to_owned());
                        }
                    }
                    _ => references(v, out),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

/// The plain template: the outputs `aws-env` reads, the resources they need (with what
/// those refer to, e.g. a queue's DLQ) and the parameters `aws-env` reads.
fn plain_template() -> Json {
    let doc = switchboard_testkit::moto::template().document().clone();
    let resources = get(&doc, "Resources").unwrap();
    let mut outputs = Map::new();
    for (_, key) in OUTPUTS {
        outputs.insert(
            key.to_string(),
            cfn_json(get(get(&doc, "Outputs").unwrap(), key).unwrap()),
        );
    }
    let mut wanted = BTreeSet::new();
    references(&Json::Object(outputs.clone()), &mut wanted);
    let mut copied = Map::new();
    let mut referenced_parameters = BTreeSet::new();
    while let Some(id) = wanted.pop_first() {
        if copied.contains_key(&id) {
            continue;
        }
        let Some(resource) = get(resources, &id) else {
            // A pseudo parameter (AWS::StackName) or a parameter.
            referenced_parameters.insert(id);
            continue;
        };
        let mut resource = cfn_json(resource);
        references(&resource, &mut wanted);
        if resource["Type"] == "AWS::KMS::Key" {
            // moto 5.2 stores a template's KeyPolicy as given and later parses it as JSON
            // text (an object fails every call on the key), so it gets the text.
            let policy = &mut resource["Properties"]["KeyPolicy"];
            *policy = Json::String(policy.to_string());
        }
        copied.insert(id, resource);
    }
    let mut parameters = Map::new();
    let declared = get(&doc, "Parameters").unwrap();
    for key in PARAMETERS
        .iter()
        .map(|(_, k)| k.to_string())
        .chain(referenced_parameters)
    {
        if let Some(p) = get(declared, &key) {
            parameters.insert(key, cfn_json(p));
        }
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": parameters,
        "Resources": copied,
        "Outputs": outputs,
    })
}

/// CloudFormation on moto, without retries: a retried CreateStack would only report
/// that the first attempt's stack exists.
async fn cloudformation() -> aws_sdk_cloudformation::Client {
    let config = aws_sdk_cloudformation::config::Builder::from(
        &switchboard_testkit::moto::sdk_config().await,
    )
    .retry_config(aws_sdk_cloudformation::config::retry::RetryConfig::disabled())
    .build();
    aws_sdk_cloudformation::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_env_exports_what_a_deployed_stack_gives_its_functions() {
    let cf = cloudformation().await;
    let template = plain_template();
    let stack = format!("sb{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    // Parameters without a default are prompted by `sam deploy --guided`.
    let given = [
        ("AuthIssuer", "https://clerk.example.com"),
        ("AuthAudience", "switchboard"),
        (
            "AuthJwksUrl",
            "https://clerk.example.com/.well-known/jwks.json",
        ),
    ];
    let mut req = cf
        .create_stack()
        .stack_name(&stack)
        .template_body(template.to_string());
    for (key, value) in given {
        req = req.parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build(),
        );
    }
    req.send()
        .await
        .expect("moto deploys the template's resources");

    let described = aws_env::describe(&cf, &stack).await.unwrap();
    let vars: HashMap<String, String> = aws_env::variables(&described)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(vars["SWITCHBOARD_BACKEND"], "aws");
    assert_eq!(vars["AWS_REGION"], "us-east-1");
    assert_eq!(vars["SECRETS_PREFIX"], format!("{stack}/"));
    assert_eq!(vars["AUTH_ISSUER"], "https://clerk.example.com");
    assert_eq!(vars["SWITCHBOARD_STAGE"], "prod", "a parameter's default");
    assert_eq!(
        vars["WHATSAPP_GRAPH_URL"],
        "https://graph.facebook.com/v23.0"
    );

    // The names are the deployed resources'.
    let clients = switchboard_testkit::moto::clients().await;
    clients
        .dynamodb
        .describe_table()
        .table_name(&vars["TABLE_NAME"])
        .send()
        .await
        .expect("TABLE_NAME is the table");
    clients
        .kms
        .describe_key()
        .key_id(&vars["KMS_KEY_ID"])
        .send()
        .await
        .expect("KMS_KEY_ID is the key");
    for q in switchboard_core::queue::QueueName::ALL {
        let url = &vars[q.url_env()];
        let dlq_url = &vars[q.dlq_url_env()];
        let suffix = if q.spec().fifo { ".fifo" } else { "" };
        assert!(url.ends_with(&format!("{stack}-{q}{suffix}")), "{url}");
        // Attribute name → value of a queue (moto answers for the URL's queue name).
        let attrs = |u: &str| {
            let sqs = clients.sqs.clone();
            let u = u.to_owned();
            async move {
                let out = sqs
                    .get_queue_attributes()
                    .queue_url(u)
                    .attribute_names("All".into())
                    .send()
                    .await
                    .expect("a queue");
                out.attributes()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect::<HashMap<String, String>>()
            }
        };
        let dlq_arn = attrs(dlq_url).await["QueueArn"].clone();
        let redrive = &attrs(url).await["RedrivePolicy"];
        assert!(
            redrive.contains(&dlq_arn),
            "{q}: its DLQ variable is its DLQ"
        );
    }

    // Everything the CLI's AWS backend needs, nothing from the caller's environment.
    let config =
        switchboard_cli::commands::config_from(&Default::default(), |k| vars.get(k).cloned())
            .expect("a complete configuration");
    assert_eq!(config.backend, switchboard_runtime::config::Backend::Aws);
    assert_eq!(
        config.table_name.as_deref(),
        Some(vars["TABLE_NAME"].as_str())
    );

    let lines = aws_env::export_lines(&aws_env::variables(&described).unwrap());
    assert!(lines.contains(&format!("export TABLE_NAME={}", vars["TABLE_NAME"])));

    let missing = aws_env::describe(&cf, "no-such-stack").await.unwrap_err();
    assert_eq!(missing, AwsEnvError::NotFound("no-such-stack".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_bootstrap_creates_what_events_env_json_names_once() {
    let clients = switchboard_testkit::moto::clients().await;
    let template = switchboard_testkit::moto::template();
    let exports = |lines: Vec<String>| -> HashMap<String, String> {
        lines
            .iter()
            .filter(|l| !l.contains("${"))
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    // The default prefix, which env.json assumes.
    let first = exports(
        switchboard_cli::commands::aws_bootstrap_with(&clients, &template, "switchboard-dev")
            .await
            .unwrap(),
    );
    let root = switchboard_testkit::workspace_root();
    let env: Json =
        serde_json::from_str(&std::fs::read_to_string(root.join("events/env.json")).unwrap())
            .unwrap();
    let env = &env["Parameters"];
    for var in ["TABLE_NAME", "KMS_KEY_ID", "SECRETS_PREFIX"] {
        assert_eq!(env[var].as_str(), Some(first[var].as_str()), "{var}");
    }
    for q in switchboard_core::queue::QueueName::ALL {
        for var in [q.url_env(), q.dlq_url_env()] {
            // Same account and queue; the host is the container's view of moto.
            let tail = |u: &str| u.rsplitn(3, '/').take(2).collect::<Vec<_>>().join("/");
            assert_eq!(tail(env[var].as_str().unwrap()), tail(&first[var]), "{var}");
        }
    }

    // A second run finds the same key through its alias: what was encrypted still decrypts.
    let key_id = |alias: String| {
        let kms = clients.kms.clone();
        async move {
            kms.describe_key()
                .key_id(alias)
                .send()
                .await
                .unwrap()
                .key_metadata()
                .unwrap()
                .key_id()
                .to_owned()
        }
    };
    let before = key_id(first["KMS_KEY_ID"].clone()).await;
    let cipher = switchboard_aws::KmsCipher::new(clients.kms.clone(), first["KMS_KEY_ID"].clone());
    let context = switchboard_core::cipher::EncryptionContext::new(
        &switchboard_core::ids::OrgId::parse("acme").unwrap(),
        "t",
    );
    use switchboard_core::cipher::Cipher;
    let sealed = cipher.encrypt(b"EAAG-token", &context).await.unwrap();
    let second = exports(
        switchboard_cli::commands::aws_bootstrap_with(&clients, &template, "switchboard-dev")
            .await
            .unwrap(),
    );
    assert_eq!(second, first);
    assert_eq!(key_id(second["KMS_KEY_ID"].clone()).await, before);
    let cipher = switchboard_aws::KmsCipher::new(clients.kms.clone(), second["KMS_KEY_ID"].clone());
    assert_eq!(
        cipher.decrypt(&sealed, &context).await.unwrap(),
        b"EAAG-token"
    );
}
