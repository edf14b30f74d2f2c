//! `template.yaml`, `functions/` and the dev server's route table describe the same
//! system: same functions and binaries, same routes, same queues and queue settings.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use switchboard_bootstrap::Value;
use switchboard_core::queue::QueueName;

fn template() -> switchboard_bootstrap::Template {
    switchboard_testkit::moto::template()
}

fn get<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(Value::String(k.into())))
}

fn str_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Tagged(t)) => format!("{} {}", t.tag, t.value.as_str().unwrap_or("")),
        other => format!("{other:?}"),
    }
}

/// (binary, resource) for every function in the template.
fn template_functions() -> Vec<(String, Value)> {
    let doc = template().document().clone();
    let resources = get(&doc, "Resources")
        .unwrap()
        .as_mapping()
        .unwrap()
        .clone();
    resources
        .into_iter()
        .filter(|(_, r)| str_of(get(r, "Type")) == "AWS::Serverless::Function")
        .map(|(_, r)| {
            let binary = str_of(get(
                get(get(&r, "Metadata").unwrap(), "BuildProperties").unwrap(),
                "Binary",
            ));
            assert_eq!(
                str_of(get(get(&r, "Metadata").unwrap(), "BuildMethod")),
                "rust-cargolambda"
            );
            (binary, r)
        })
        .collect()
}

#[test]
fn functions_folders_packages_binaries_and_template_agree() {
    let root = switchboard_testkit::workspace_root();
    let mut folders = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        let path = entry.unwrap().path();
        let folder = path.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = std::fs::read_to_string(path.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("name = \"{folder}\"")),
            "{folder}: package and bin are named after the folder"
        );
        assert!(
            path.join("src/lib.rs").exists() && path.join("src/main.rs").exists(),
            "{folder}: lib.rs + main.rs"
        );
        folders.insert(folder);
    }
    let in_template: BTreeSet<String> = template_functions().into_iter().map(|(b, _)| b).collect();
    assert_eq!(folders, in_template, "functions/ and template.yaml");
    let mut served: BTreeSet<String> = switchboard_cli::routes::http_routes()
        .iter()
        .map(|r| r.function.to_owned())
        .collect();
    served.extend(
        switchboard_cli::routes::consumers()
            .iter()
            .map(|c| c.function.to_owned()),
    );
    served.extend(
        switchboard_cli::routes::schedules(&switchboard_runtime::config::Config::local("unused"))
            .iter()
            .map(|s| s.function.to_owned()),
    );
    served.extend(
        switchboard_cli::routes::WEBSOCKET_FUNCTIONS
            .iter()
            .map(|f| (*f).to_owned()),
    );
    assert_eq!(folders, served, "functions/ and the dev server's table");
}

#[test]
fn routes_and_event_sources_agree() {
    let mut template_routes = BTreeSet::new();
    let mut template_queues = BTreeSet::new();
    let mut template_schedules = BTreeSet::new();
    for (binary, r) in template_functions() {
        let events = get(get(&r, "Properties").unwrap(), "Events")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        for (_, e) in events {
            let props = get(&e, "Properties").unwrap();
            match str_of(get(&e, "Type")).as_str() {
                "HttpApi" => {
                    template_routes.insert((
                        binary.clone(),
                        str_of(get(props, "Method")),
                        str_of(get(props, "Path")),
                    ));
                }
                "SQS" => {
                    let queue = str_of(get(props, "Queue"));
                    template_queues.insert((binary.clone(), queue));
                    let types = format!("{:?}", get(props, "FunctionResponseTypes"));
                    assert!(
                        types.contains("ReportBatchItemFailures"),
                        "{binary} reports partial batch failures"
                    );
                }
                "Schedule" | "ScheduleV2" => {
                    template_schedules.insert(binary.clone());
                }
                other => panic!("{binary}: unexpected event type {other}"),
            }
        }
    }
    let routes: BTreeSet<(String, String, String)> = switchboard_cli::routes::http_routes()
        .iter()
        .map(|r| {
            (
                r.function.to_owned(),
                r.method.to_string(),
                r.path.to_owned(),
            )
        })
        .collect();
    assert_eq!(template_routes, routes);
    let consumers: BTreeSet<(String, String)> = switchboard_cli::routes::consumers()
        .iter()
        .map(|c| {
            (
                c.function.to_owned(),
                format!("!GetAtt {}.Arn", c.queue.template_id()),
            )
        })
        .collect();
    assert_eq!(template_queues, consumers);
    let schedules: BTreeSet<String> =
        switchboard_cli::routes::schedules(&switchboard_runtime::config::Config::local("unused"))
            .iter()
            .map(|s| s.function.to_owned())
            .collect();
    assert_eq!(template_schedules, schedules);
}

#[test]
fn queue_settings_match_the_embedded_backend() {
    let t = template();
    for q in QueueName::ALL {
        let def = t.queue(q.template_id()).unwrap();
        let spec = q.spec();
        assert_eq!(def.fifo, spec.fifo, "{q}");
        assert_eq!(
            def.visibility_timeout,
            Some(i64::from(spec.visibility_timeout_secs)),
            "{q}"
        );
        let (dlq, max) = def.redrive.clone().expect("every queue has a DLQ");
        assert_eq!(max, i64::from(spec.max_receive_count), "{q}");
        assert_eq!(
            t.queue(&dlq).unwrap().fifo,
            spec.fifo,
            "{q}: a FIFO queue needs a FIFO DLQ"
        );
    }
    let table = t.table().unwrap();
    let indexes: Vec<&str> = table.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(indexes, ["gsi1", "gsi2"]);
    assert_eq!(table.ttl_attribute.as_deref(), Some("ttl"));
}

// ---------------------------------------------------------------- operations
// Logs, alarms, the dashboard, protected state, outputs and the local tooling: what the
// template promises on top of the functions, held to the functions it has.

fn doc() -> Value {
    template().document().clone()
}

/// Logical id → resource.
fn resources() -> BTreeMap<String, Value> {
    get(&doc(), "Resources")
        .and_then(Value::as_mapping)
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

fn resources_of(ty: &str) -> Vec<(String, Value)> {
    resources()
        .into_iter()
        .filter(|(_, r)| str_of(get(r, "Type")) == ty)
        .collect()
}

fn props(r: &Value) -> &Value {
    get(r, "Properties").expect("Properties")
}

/// `(name, argument)` of a short-form intrinsic: `!Ref X` is `("Ref", X)`.
fn intrinsic(v: Option<&Value>) -> Option<(String, &Value)> {
    match v? {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_owned(),
            &t.value,
        )),
        _ => None,
    }
}

/// The target of `!Ref X`.
fn ref_to(v: Option<&Value>) -> Option<String> {
    match intrinsic(v)? {
        (name, Value::String(s)) if name == "Ref" => Some(s.clone()),
        _ => None,
    }
}

/// The text of `!GetAtt X.Y` or `!Sub "…"`.
fn tagged_text(v: Option<&Value>, tag: &str) -> Option<String> {
    match intrinsic(v)? {
        (name, Value::String(s)) if name == tag => Some(s.clone()),
        _ => None,
    }
}

fn seq(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_sequence).cloned().unwrap_or_default()
}

/// A string or a list of strings (IAM `Action`, say).
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn parameter(name: &str) -> Value {
    get(get(&doc(), "Parameters").unwrap(), name)
        .unwrap_or_else(|| panic!("parameter {name}"))
        .clone()
}

/// (logical id, binary, resource) of every function.
fn functions() -> Vec<(String, String, Value)> {
    resources_of("AWS::Serverless::Function")
        .into_iter()
        .map(|(id, r)| {
            let binary = str_of(get(
                get(get(&r, "Metadata").unwrap(), "BuildProperties").unwrap(),
                "Binary",
            ));
            (id, binary, r)
        })
        .collect()
}

/// The Globals environment of every function.
fn globals_env() -> BTreeMap<String, Value> {
    let d = doc();
    let vars = get(
        get(
            get(get(&d, "Globals").unwrap(), "Function").unwrap(),
            "Environment",
        )
        .unwrap(),
        "Variables",
    )
    .and_then(Value::as_mapping)
    .unwrap()
    .clone();
    vars.into_iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
        .collect()
}

/// One metric an alarm reads: namespace, name, dimensions (name → value as written).
#[derive(Debug, Clone)]
struct AlarmMetric {
    namespace: String,
    name: String,
    dimensions: BTreeMap<String, String>,
}

fn dimensions_of(v: Option<&Value>) -> BTreeMap<String, String> {
    seq(v)
        .iter()
        .map(|d| (str_of(get(d, "Name")), str_of(get(d, "Value"))))
        .collect()
}

/// The metrics of an alarm, single-metric or metric math.
fn alarm_metrics(alarm: &Value) -> Vec<AlarmMetric> {
    let p = props(alarm);
    if let Some(name) = get(p, "MetricName") {
        return vec![AlarmMetric {
            namespace: str_of(get(p, "Namespace")),
            name: str_of(Some(name)),
            dimensions: dimensions_of(get(p, "Dimensions")),
        }];
    }
    seq(get(p, "Metrics"))
        .iter()
        .filter_map(|m| get(get(m, "MetricStat")?, "Metric").cloned())
        .map(|m| AlarmMetric {
            namespace: str_of(get(&m, "Namespace")),
            name: str_of(get(&m, "MetricName")),
            dimensions: dimensions_of(get(&m, "Dimensions")),
        })
        .collect()
}

/// The alarms reading `metric` of `namespace` with the dimension `dim` = `value`.
fn alarms_on(namespace: &str, metric: &str, dim: &str, value: &str) -> Vec<(String, Value)> {
    resources_of("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            alarm_metrics(a).iter().any(|m| {
                m.namespace == namespace
                    && m.name == metric
                    && m.dimensions.get(dim).map(String::as_str) == Some(value)
            })
        })
        .collect()
}

/// Every source queue's logical id and its DLQ's.
fn source_queues() -> Vec<(QueueName, String, String)> {
    let t = template();
    QueueName::ALL
        .iter()
        .map(|q| {
            let (dlq, _) = t.queue(q.template_id()).unwrap().redrive.unwrap();
            (*q, q.template_id().to_owned(), dlq)
        })
        .collect()
}

#[test]
fn every_function_logs_json_to_its_own_group_kept_for_the_retention_parameter() {
    let d = doc();
    let globals = get(get(&d, "Globals").unwrap(), "Function").unwrap();
    assert_eq!(
        str_of(get(globals, "Tracing")),
        "Active",
        "X-Ray on every function"
    );
    let logging = get(globals, "LoggingConfig").unwrap();
    assert_eq!(str_of(get(logging, "LogFormat")), "JSON");
    for level in ["ApplicationLogLevel", "SystemLogLevel"] {
        assert_eq!(ref_to(get(logging, level)).as_deref(), Some(level));
    }
    // Lambda files a JSON line without `level` (every EMF document) under INFO: a filter
    // above INFO would drop the metrics.
    for level in seq(get(&parameter("ApplicationLogLevel"), "AllowedValues")) {
        assert!(
            ["TRACE", "DEBUG", "INFO"].contains(&level.as_str().unwrap()),
            "ApplicationLogLevel {level:?} would drop the embedded metrics"
        );
    }
    let retention = parameter("LogRetentionDays");
    assert_eq!(number(get(&retention, "Default")), Some(30.0));

    let all = resources();
    let mut groups = BTreeSet::new();
    // One log group per kind of function, which Lambda splits into streams named after
    // each function.
    let kind_group = |binary: &str| match binary.split('-').next() {
        Some("api") => ("ApiLogGroup", "api"),
        // The realtime WebSocket API's $connect/$disconnect log with the API.
        Some("ws") => ("ApiLogGroup", "api"),
        Some("webhook") => ("WebhookLogGroup", "webhooks"),
        Some("worker") => ("WorkerLogGroup", "workers"),
        Some("cron") => ("CronLogGroup", "crons"),
        _ => panic!("{binary}: a function is an api, ws, webhook, worker or cron"),
    };
    for (id, binary, r) in functions() {
        let p = props(&r);
        let name = tagged_text(get(p, "FunctionName"), "Sub")
            .unwrap_or_else(|| panic!("{id}: FunctionName is set, so its log group can be named"));
        assert_eq!(name, format!("${{AWS::StackName}}-{binary}"), "{id}");
        let config = get(p, "LoggingConfig").unwrap_or_else(|| panic!("{id}: LoggingConfig"));
        for inherited in ["LogFormat", "ApplicationLogLevel", "SystemLogLevel"] {
            assert!(
                get(config, inherited).is_none(),
                "{id} overrides {inherited}"
            );
        }
        let group_id = ref_to(get(config, "LogGroup")).unwrap_or_else(|| panic!("{id}: LogGroup"));
        let (want, area) = kind_group(&binary);
        assert_eq!(group_id, want, "{id}: its kind's log group");
        let group = &all[&group_id];
        assert_eq!(str_of(get(group, "Type")), "AWS::Logs::LogGroup", "{id}");
        assert_eq!(
            tagged_text(get(props(group), "LogGroupName"), "Sub"),
            Some(format!("/aws/lambda/${{AWS::StackName}}-{area}")),
            "{id}: the group Lambda writes to"
        );
        groups.insert(group_id);
    }
    assert_eq!(groups.len(), 4, "{groups:?}");
    for (id, g) in resources_of("AWS::Logs::LogGroup") {
        assert_eq!(
            ref_to(get(props(&g), "RetentionInDays")).as_deref(),
            Some("LogRetentionDays"),
            "{id}"
        );
    }
}

#[test]
fn every_alarm_notifies_the_topic_and_every_function_has_an_errors_alarm() {
    let alarms = resources_of("AWS::CloudWatch::Alarm");
    assert!(!alarms.is_empty());
    for (id, a) in &alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let targets: Vec<Option<String>> = seq(get(props(a), actions))
                .iter()
                .map(|t| ref_to(Some(t)))
                .collect();
            assert_eq!(targets, [Some("AlarmTopic".to_owned())], "{id} {actions}");
        }
        assert!(
            get(props(a), "AlarmDescription").is_some(),
            "{id} says what to do"
        );
    }
    let all = resources();
    let sub = props(&all["AlarmEmailSubscription"]);
    assert_eq!(ref_to(get(sub, "TopicArn")).as_deref(), Some("AlarmTopic"));
    assert_eq!(ref_to(get(sub, "Endpoint")).as_deref(), Some("AlarmEmail"));
    assert_eq!(
        str_of(get(&all["AlarmEmailSubscription"], "Condition")),
        "HasAlarmEmail",
        "no subscription without an address"
    );

    // Every function is in exactly one errors alarm, which sums its errors and throttles
    // with those of at most three others (scripts/function-alarms.py: a metric-math alarm
    // holds at most 10 metrics, and one alarm per function put the stack over
    // CloudFormation's 500 resources).
    for (id, binary, _) in functions() {
        let errors = alarms_on(
            "AWS/Lambda",
            "Errors",
            "FunctionName",
            &format!("!Ref {id}"),
        );
        let throttles = alarms_on(
            "AWS/Lambda",
            "Throttles",
            "FunctionName",
            &format!("!Ref {id}"),
        );
        assert_eq!(errors.len(), 1, "{binary}: one errors alarm");
        assert_eq!(
            errors[0].0,
            throttles.first().map(|t| t.0.clone()).unwrap_or_default(),
            "{binary}: errors and throttles in the same alarm"
        );
        let p = props(&errors[0].1);
        let metrics = seq(get(p, "Metrics"));
        let function_ref = format!("!Ref {id}");
        let id_of = |name: &str| {
            metrics
                .iter()
                .find(|m| {
                    get(m, "MetricStat")
                        .and_then(|ms| get(ms, "Metric"))
                        .is_some_and(|metric| {
                            str_of(get(metric, "MetricName")) == name
                                && dimensions_of(get(metric, "Dimensions")).get("FunctionName")
                                    == Some(&function_ref)
                        })
                })
                .map(|m| str_of(get(m, "Id")))
                .unwrap_or_default()
        };
        let returned: Vec<String> = metrics
            .iter()
            .filter(|m| matches!(get(m, "ReturnData"), Some(Value::Bool(true))))
            .map(|m| str_of(get(m, "Expression")))
            .collect();
        assert_eq!(returned.len(), 1, "{binary}");
        for metric in ["Errors", "Throttles"] {
            let term = format!("FILL({}, 0)", id_of(metric));
            assert!(
                returned[0].contains(&term),
                "{binary}: {term} in {}",
                returned[0]
            );
        }
        assert!(
            metrics
                .iter()
                .filter(|m| get(m, "MetricStat").is_some())
                .count()
                <= 10,
            "{binary}: a metric-math alarm holds at most 10 metrics"
        );
        assert!(
            str_of(get(p, "AlarmDescription")).contains(binary.as_str()),
            "{binary}: the alarm names it"
        );
        assert_eq!(
            ref_to(get(p, "Threshold")).as_deref(),
            Some("FunctionErrorsAlarmThreshold")
        );
    }

    let api = alarms_on("AWS/ApiGateway", "5xx", "ApiId", "!Ref HttpApi");
    assert_eq!(api.len(), 1, "one HTTP API 5xx alarm");
    assert_eq!(
        ref_to(get(props(&api[0].1), "Threshold")).as_deref(),
        Some("Api5xxAlarmThreshold")
    );
}

#[test]
fn every_source_queue_has_an_age_alarm_and_every_other_queue_a_depth_alarm() {
    let mut sources = BTreeSet::new();
    for (q, id, _) in source_queues() {
        let age = alarms_on(
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            "QueueName",
            &format!("!GetAtt {id}.QueueName"),
        );
        assert_eq!(age.len(), 1, "{q}: one age alarm");
        let threshold = ref_to(get(props(&age[0].1), "Threshold")).unwrap();
        assert_eq!(threshold, format!("{id}AgeAlarmSeconds"), "{q}");
        let default = number(get(&parameter(&threshold), "Default")).unwrap();
        // Pacing holds outbound sends back on purpose, and campaign chunks wait for quiet
        // hours in delays of up to 15 minutes; the others should flow.
        // Realtime events are hints to an open inbox: stale within minutes.
        let expected = if matches!(q, QueueName::Outbound | QueueName::Campaign) {
            1800.0
        } else if q == QueueName::Realtime {
            300.0
        } else if q == QueueName::WebhookRetries {
            // Retries wait hidden for up to 10 hours by design: 13 hours means overdue.
            46_800.0
        } else {
            900.0
        };
        assert_eq!(default, expected, "{q}");
        sources.insert(id);
    }
    // Every other queue (the DLQs, failed schedule runs) is read by people: alarm on
    // the first message.
    for (id, _) in resources_of("AWS::SQS::Queue") {
        if sources.contains(&id) {
            continue;
        }
        let depth = alarms_on(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            &format!("!GetAtt {id}.QueueName"),
        );
        assert_eq!(depth.len(), 1, "{id}: one depth alarm");
        let p = props(&depth[0].1);
        assert_eq!(number(get(p, "Threshold")), Some(0.0), "{id}");
        assert_eq!(str_of(get(p, "ComparisonOperator")), "GreaterThanThreshold");
    }
}

#[test]
fn every_schedule_has_an_on_failure_destination() {
    let all = resources();
    let policy = props(&all["ScheduleFailuresQueuePolicy"]);
    let statement = &seq(get(get(policy, "PolicyDocument").unwrap(), "Statement"))[0];
    let allowed_rules: BTreeSet<String> = seq(get(
        get(get(statement, "Condition").unwrap(), "ArnEquals").unwrap(),
        "aws:SourceArn",
    ))
    .iter()
    .map(|a| tagged_text(Some(a), "GetAtt").unwrap())
    .collect();
    let mut scheduled = 0;
    for (id, binary, r) in functions() {
        let p = props(&r);
        let events = get(p, "Events")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        for (name, e) in events {
            if !str_of(get(&e, "Type")).starts_with("Schedule") {
                continue;
            }
            scheduled += 1;
            let on_failure = get(
                get(
                    get(p, "EventInvokeConfig").unwrap_or_else(|| panic!("{binary}")),
                    "DestinationConfig",
                )
                .unwrap(),
                "OnFailure",
            )
            .unwrap();
            assert_eq!(str_of(get(on_failure, "Type")), "SQS", "{binary}");
            let queue = tagged_text(get(on_failure, "Destination"), "GetAtt").unwrap();
            assert_eq!(queue, "ScheduleFailuresQueue.Arn", "{binary}");
            let dlq = get(get(&e, "Properties").unwrap(), "DeadLetterConfig")
                .unwrap_or_else(|| panic!("{binary}: a rule that cannot start it dead-letters"));
            assert_eq!(
                tagged_text(get(dlq, "Arn"), "GetAtt").as_deref(),
                Some(queue.as_str())
            );
            // SAM names the rule <function id><event name>; the queue lets exactly it in.
            let rule = format!("{id}{}.Arn", name.as_str().unwrap());
            assert!(
                allowed_rules.contains(&rule),
                "{binary}: {rule} may dead-letter"
            );
        }
    }
    assert_eq!(scheduled, allowed_rules.len());
    assert!(scheduled > 0);
    // Lambda destinations and rule DLQs take standard queues only.
    assert!(!template().queue("ScheduleFailuresQueue").unwrap().fifo);
}

#[test]
fn state_is_retained_the_table_protected_and_every_secret_declared() {
    for ty in [
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
    ] {
        for (id, r) in resources_of(ty) {
            for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
                assert_eq!(str_of(get(&r, policy)), "Retain", "{id} {policy}");
            }
        }
    }
    for (id, r) in resources_of("AWS::Logs::LogGroup") {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(
                str_of(get(&r, policy)),
                "Delete",
                "{id}: diagnostics, said explicitly"
            );
        }
    }
    let all = resources();
    assert!(matches!(
        get(props(&all["Table"]), "DeletionProtectionEnabled"),
        Some(Value::Bool(true))
    ));
    let (_, alias) = &resources_of("AWS::KMS::Alias")[0];
    assert_eq!(
        tagged_text(get(props(alias), "AliasName"), "Sub").as_deref(),
        Some("alias/${AWS::StackName}-tokens")
    );
    assert_eq!(
        ref_to(get(props(alias), "TargetKeyId")).as_deref(),
        Some("TokenKey")
    );
    // Every secret the code reads exists on AWS under the prefix the functions get.
    let names: BTreeSet<String> = resources_of("AWS::SecretsManager::Secret")
        .iter()
        .map(|(_, s)| tagged_text(get(props(s), "Name"), "Sub").unwrap())
        .collect();
    assert_eq!(
        tagged_text(globals_env().get("SECRETS_PREFIX"), "Sub").as_deref(),
        Some("${AWS::StackName}/")
    );
    for secret in switchboard_core::secrets::SecretName::ALL {
        assert!(
            names.contains(&format!("${{AWS::StackName}}/{}", secret.as_str())),
            "{} has no secret in the template",
            secret.as_str()
        );
    }
}

/// Every IAM statement of the functions' inline policies: (function, statement).
fn function_statements() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (_, binary, r) in functions() {
        for policy in seq(get(props(&r), "Policies")) {
            for statement in seq(get(&policy, "Statement")) {
                out.push((binary.clone(), statement));
            }
        }
    }
    out
}

#[test]
fn kms_use_is_bound_to_the_encryption_context_the_code_binds() {
    use switchboard_core::cipher::EncryptionContext;
    use switchboard_core::ids::{AccountId, OrgId};
    let org = OrgId::parse("acme").unwrap();
    // What the code binds: at least {org_id, purpose} on every ciphertext; the access
    // token adds account_id.
    let required: BTreeSet<String> = EncryptionContext::new(&org, "p")
        .pairs()
        .keys()
        .cloned()
        .collect();
    let token = switchboard_core::model::Account::token_context(
        &org,
        &AccountId::from_uuid(uuid::Uuid::nil()),
    );
    let token_keys: BTreeSet<String> = token.pairs().keys().cloned().collect();
    // Webhook endpoints' signing secrets add endpoint_id instead.
    let webhook_keys: BTreeSet<String> =
        switchboard_core::usecases::webhooks_out::secret_context(&org, "we_1")
            .pairs()
            .keys()
            .cloned()
            .collect();
    let mut grants = 0;
    for (binary, statement) in function_statements() {
        let actions = strings(get(&statement, "Action"));
        if !actions.iter().any(|a| a.starts_with("kms:")) {
            continue;
        }
        grants += 1;
        let used = if binary.contains("webhook") {
            &webhook_keys
        } else {
            &token_keys
        };
        for action in &actions {
            assert!(
                ["kms:Decrypt", "kms:GenerateDataKey"].contains(&action.as_str()),
                "{binary}: {action}"
            );
        }
        assert_eq!(
            tagged_text(get(&statement, "Resource"), "GetAtt").as_deref(),
            Some("TokenKey.Arn"),
            "{binary}"
        );
        let condition =
            get(&statement, "Condition").unwrap_or_else(|| panic!("{binary}: no condition"));
        let allowed: BTreeSet<String> = strings(get(
            get(condition, "ForAllValues:StringEquals").unwrap(),
            "kms:EncryptionContextKeys",
        ))
        .into_iter()
        .collect();
        assert!(
            used.is_subset(&allowed),
            "{binary}: {used:?} must be allowed, got {allowed:?}"
        );
        assert!(required.is_subset(used));
        // ForAllValues holds for an empty context too: the Null checks require the keys.
        let null = get(condition, "Null").unwrap();
        for key in &required {
            assert_eq!(
                str_of(get(null, &format!("kms:EncryptionContext:{key}"))),
                "false",
                "{binary}: {key} required"
            );
        }
    }
    assert_eq!(
        grants, 20,
        "worker-outbound, worker-inbound (media archiving), api-mark-read, api-get-media, api-upload-media, api-complete-upload, both account syncs, the three template calls, worker-webhooks and worker-webhook-retries decrypt; the four connects, the embedded signup and the webhook endpoint's create and rotate encrypt"
    );
}

#[test]
fn the_http_api_has_cors_an_access_log_without_query_strings_and_webhook_throttles() {
    let all = resources();
    let api = props(&all["HttpApi"]);
    assert!(
        get(api, "CorsConfiguration").is_none(),
        "SAM drops every CORS setting but the origins when AllowOrigins is a parameter"
    );
    let cors = get(
        get(api, "DefinitionBody").unwrap(),
        "x-amazon-apigateway-cors",
    )
    .unwrap();
    assert_eq!(
        ref_to(get(cors, "allowOrigins")).as_deref(),
        Some("CorsAllowedOrigins")
    );
    assert_eq!(
        str_of(get(&parameter("CorsAllowedOrigins"), "Type")),
        "CommaDelimitedList"
    );
    assert_eq!(
        strings(get(cors, "exposeHeaders")),
        [
            "Idempotent-Replayed",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "ETag"
        ]
    );
    let allow: BTreeSet<String> = strings(get(cors, "allowHeaders")).into_iter().collect();
    for h in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
    ] {
        assert!(allow.contains(h), "{h}");
    }
    let methods: BTreeSet<String> = strings(get(cors, "allowMethods")).into_iter().collect();
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{m}");
    }
    assert!(number(get(cors, "maxAge")).unwrap() > 0.0);

    let log = get(api, "AccessLogSettings").unwrap();
    let group = tagged_text(get(log, "DestinationArn"), "GetAtt").unwrap();
    assert_eq!(
        str_of(get(&all[group.trim_end_matches(".Arn")], "Type")),
        "AWS::Logs::LogGroup"
    );
    let format: serde_json::Value =
        serde_json::from_str(&str_of(get(log, "Format"))).expect("JSON lines");
    let fields = format.as_object().unwrap();
    for key in [
        "requestId",
        "routeKey",
        "status",
        "latency",
        "integrationError",
    ] {
        assert!(fields.contains_key(key), "access log has {key}");
    }
    for (key, value) in fields {
        let value = value.as_str().unwrap();
        assert!(value.starts_with("$context."), "{key}");
        // $context.path is the path alone; nothing may carry the query (the WhatsApp
        // verification GET has hub.verify_token there).
        assert!(
            !value.to_ascii_lowercase().contains("query"),
            "{key}: {value}"
        );
    }

    let defaults = get(api, "DefaultRouteSettings").unwrap();
    assert_eq!(
        ref_to(get(defaults, "ThrottlingRateLimit")).as_deref(),
        Some("ApiThrottleRateLimit")
    );
    assert_eq!(
        ref_to(get(defaults, "ThrottlingBurstLimit")).as_deref(),
        Some("ApiThrottleBurstLimit")
    );
    let settings = get(api, "RouteSettings")
        .and_then(Value::as_mapping)
        .unwrap();
    let mut webhook_routes = BTreeSet::new();
    for route in switchboard_cli::routes::http_routes() {
        if route.path.starts_with("/webhooks/") {
            webhook_routes.insert(format!("{} {}", route.method, route.path));
        }
    }
    let throttled: BTreeSet<String> = settings
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        throttled, webhook_routes,
        "every webhook route, and only they, throttled apart"
    );
    for (_, s) in settings {
        assert_eq!(
            ref_to(get(s, "ThrottlingRateLimit")).as_deref(),
            Some("WebhookThrottleRateLimit")
        );
        assert_eq!(
            ref_to(get(s, "ThrottlingBurstLimit")).as_deref(),
            Some("WebhookThrottleBurstLimit")
        );
    }
}

#[test]
fn outputs_name_every_queue_the_table_the_key_the_api_and_every_webhook() {
    let d = doc();
    let outputs = get(&d, "Outputs").unwrap();
    let value = |key: &str| -> Value {
        get(
            get(outputs, key).unwrap_or_else(|| panic!("output {key}")),
            "Value",
        )
        .unwrap()
        .clone()
    };
    for (id, _) in resources_of("AWS::SQS::Queue") {
        assert_eq!(
            ref_to(Some(&value(&format!("{id}Url")))),
            Some(id.clone()),
            "{id}"
        );
    }
    assert_eq!(ref_to(Some(&value("TableName"))).as_deref(), Some("Table"));
    assert_eq!(
        ref_to(Some(&value("TokenKeyId"))).as_deref(),
        Some("TokenKey")
    );
    assert_eq!(
        ref_to(Some(&value("TokenKeyAlias"))).as_deref(),
        Some("TokenKeyAlias")
    );
    assert_eq!(
        ref_to(Some(&value("AlarmTopicArn"))).as_deref(),
        Some("AlarmTopic")
    );
    let base = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}";
    assert_eq!(
        tagged_text(Some(&value("ApiUrl")), "Sub").as_deref(),
        Some(base)
    );
    let urls: BTreeSet<String> = outputs
        .as_mapping()
        .unwrap()
        .values()
        .filter_map(|o| tagged_text(get(o, "Value"), "Sub"))
        .collect();
    for route in switchboard_cli::routes::http_routes() {
        if route.path.starts_with("/webhooks/") {
            assert!(
                urls.contains(&format!("{base}{}", route.path)),
                "{} has an output",
                route.path
            );
        }
    }
}

#[test]
fn aws_env_reads_what_the_template_gives_the_functions() {
    use switchboard_cli::aws_env::{OUTPUTS, PARAMETERS};
    let d = doc();
    let outputs = get(&d, "Outputs").unwrap();
    let env = globals_env();
    for &(var, output) in OUTPUTS {
        let out = get(
            get(outputs, output).unwrap_or_else(|| panic!("output {output}")),
            "Value",
        );
        assert_eq!(
            out,
            env.get(var),
            "{var}: the output is what the functions get"
        );
    }
    for &(var, param) in PARAMETERS {
        parameter(param);
        assert_eq!(ref_to(env.get(var)).as_deref(), Some(param), "{var}");
    }
    // And nothing the functions get from the stack is left out.
    for (var, v) in &env {
        let covered =
            OUTPUTS.iter().any(|(n, _)| n == var) || PARAMETERS.iter().any(|(n, _)| n == var);
        let from_stack = match ref_to(Some(v)) {
            // The CLI's own log level stays the operator's choice; a NoEcho parameter
            // reads back as `****`.
            Some(p) => {
                let no_echo = get(get(&d, "Parameters").unwrap(), &p)
                    .and_then(|param| get(param, "NoEcho"))
                    .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
                var != "RUST_LOG" && !no_echo
            }
            None => {
                tagged_text(Some(v), "Sub").is_some() || tagged_text(Some(v), "GetAtt").is_some()
            }
        };
        assert!(
            covered || !from_stack,
            "{var} comes from the stack: add it to aws_env"
        );
    }
}

/// `("NAME"` string literals shaped like an environment variable, first arguments of a
/// call, in the non-test part of every source file a function links.
fn variables_in_source() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["tests", "benches", "target", "fixtures"].contains(&name.as_str()) {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let root = switchboard_testkit::workspace_root();
    let mut files = Vec::new();
    walk(&root.join("functions"), &mut files);
    for entry in std::fs::read_dir(root.join("shared")).unwrap() {
        let crate_dir = entry.unwrap().path();
        // Test harness and CLI-only crates are not in a function.
        let name = crate_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !["testkit", "bootstrap"].contains(&name.as_str()) {
            walk(&crate_dir, &mut files);
        }
    }
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for piece in code.split("(\"").skip(1) {
            let literal = piece.split('"').next().unwrap();
            let shaped = literal.contains('_')
                && literal.starts_with(|c: char| c.is_ascii_uppercase())
                && literal
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if shaped && !literal.starts_with("CARGO_") {
                names.insert(literal.to_owned());
            }
        }
    }
    names
}

/// The variables docs/configuration.md lists (backticked names in the first column).
fn variables_in_docs() -> BTreeSet<String> {
    let text = std::fs::read_to_string(
        switchboard_testkit::workspace_root().join("docs/configuration.md"),
    )
    .unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1
                && !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                names.insert(part.to_owned());
            }
        }
    }
    names
}

/// Every variable the code reads or the docs list, and every queue's URLs.
fn needed_variables() -> BTreeSet<String> {
    let mut needed = variables_in_source();
    needed.extend(variables_in_docs());
    for q in QueueName::ALL {
        needed.insert(q.url_env().to_owned());
        needed.insert(q.dlq_url_env().to_owned());
    }
    needed
}

#[test]
fn every_variable_the_code_reads_is_declared_so_sam_local_can_set_it() {
    let declared: BTreeSet<String> = globals_env().into_keys().collect();
    let secrets: BTreeSet<&str> = switchboard_core::secrets::SecretName::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    let mut needed = needed_variables();
    // Secrets come from Secrets Manager on AWS, never from the environment.
    needed.retain(|n| !secrets.contains(n.as_str()));
    assert!(
        needed.len() > 30,
        "the scan finds the configuration: {needed:?}"
    );
    let missing: Vec<&String> = needed.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "declare these in template.yaml's Globals Environment (empty = the code's default): {missing:?}"
    );
}

#[test]
fn env_example_lists_every_variable_and_secret() {
    let text = std::fs::read_to_string(switchboard_testkit::workspace_root().join(".env.example"))
        .unwrap();
    let listed: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.trim_start_matches('#').trim().split_once('='))
        .map(|(name, _)| name.trim())
        .collect();
    let mut needed = needed_variables();
    for s in switchboard_core::secrets::SecretName::ALL {
        needed.insert(s.as_str().to_owned());
    }
    assert!(
        needed.len() > 50,
        "the scan finds the configuration: {needed:?}"
    );
    let missing: Vec<&String> = needed
        .iter()
        .filter(|n| !listed.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "list these in .env.example with their defaults: {missing:?}"
    );
}

#[test]
fn env_json_sets_declared_variables_and_configures_the_aws_backend() {
    let root = switchboard_testkit::workspace_root();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("events/env.json")).unwrap())
            .unwrap();
    let params: HashMap<String, String> = json["Parameters"]
        .as_object()
        .expect("the CloudFormation parameter-file shape sam local reads")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string values").to_owned()))
        .collect();
    let declared = globals_env();
    for key in params.keys() {
        assert!(
            declared.contains_key(key),
            "sam local ignores {key}: the template does not declare it"
        );
    }
    assert!(params["AWS_ENDPOINT_URL"].starts_with("http://host.docker.internal:"));
    let config =
        switchboard_cli::commands::config_from(&Default::default(), |k| params.get(k).cloned())
            .expect("env.json is a complete AWS configuration");
    assert_eq!(config.backend, switchboard_runtime::config::Backend::Aws);
    assert_eq!(
        config.kms_key_id.as_deref(),
        Some("alias/switchboard-dev-tokens")
    );
}

#[test]
fn the_dashboard_shows_every_metric_function_and_queue() {
    let all = resources();
    let body = tagged_text(get(props(&all["Dashboard"]), "DashboardBody"), "Sub").unwrap();
    // CloudFormation's ${…} sit inside JSON strings, so the body parses as it is.
    let json: serde_json::Value = serde_json::from_str(&body).expect("the dashboard body is JSON");
    // Every metric line as its strings: namespace, name, dimension name, value, ...
    let lines: Vec<Vec<String>> = json["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| {
            w["properties"]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|m| {
            m.as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .collect();
    let has = |want: &[&str]| {
        lines
            .iter()
            .any(|l| l.iter().map(String::as_str).eq(want.iter().copied()))
    };

    use switchboard_core::metrics::Metric;
    let values: HashMap<&str, &[&str]> = HashMap::from([
        ("Provider", &["whatsapp", "stripe"][..]),
        (
            "Outcome",
            &["sent", "failed", "retrying", "dead_lettered"][..],
        ),
        (
            "Class",
            &[
                "throughput",
                "pair_rate",
                "window_closed",
                "permanent",
                "token_invalid",
                "transient",
            ][..],
        ),
        ("Queue", &["inbound", "outbound", "billing", "import"][..]),
        ("Result", &["ok", "error"][..]),
        ("Delivery", &["delivered", "failed", "refused"][..]),
        (
            "AiOutcome",
            &["sent", "drafted", "handed_off", "failed", "skipped"][..],
        ),
    ]);
    for m in Metric::ALL {
        match m.dimension() {
            None => assert!(has(&["Switchboard", m.name()]), "{}", m.name()),
            Some(dim) => {
                for v in values[dim] {
                    assert!(
                        has(&["Switchboard", m.name(), dim, v]),
                        "{} {dim}={v}",
                        m.name()
                    );
                }
            }
        }
    }
    for (id, binary, _) in functions() {
        for metric in ["Errors", "Throttles", "Duration"] {
            assert!(
                has(&["AWS/Lambda", metric, "FunctionName", &format!("${{{id}}}")]),
                "{binary} {metric}"
            );
        }
    }
    for (_, id, dlq) in source_queues() {
        assert!(has(&[
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            "QueueName",
            &format!("${{{id}.QueueName}}")
        ]));
        assert!(has(&[
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            &format!("${{{dlq}.QueueName}}")
        ]));
    }
    assert!(has(&[
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        "${ScheduleFailuresQueue.QueueName}"
    ]));
    for metric in ["4xx", "5xx", "Latency"] {
        assert!(
            has(&["AWS/ApiGateway", metric, "ApiId", "${HttpApi}"]),
            "{metric}"
        );
    }
}

#[test]
fn samconfig_has_no_dead_build_cache_and_sync_ignores_build_output() {
    let text =
        std::fs::read_to_string(switchboard_testkit::workspace_root().join("samconfig.toml"))
            .unwrap();
    let settings: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !settings.iter().any(|l| l.replace(' ', "") == "cached=true"),
        "CodeUri `.` hashes target/: that cache never hits"
    );
    let sync = text.split("[default.sync.parameters]").nth(1).unwrap();
    let sync = sync.split("\n[").next().unwrap();
    assert!(
        sync.contains("stack_name = \"switchboard-dev\""),
        "sync never targets the deploy stack"
    );
    for (id, _, _) in functions() {
        assert!(
            sync.contains(&format!("\"{id}=target\"")),
            "{id}: a build would trigger the next sync"
        );
    }
}

/// Every change made through the API appends an audit entry (a conditional put on the
/// table), whatever the function does otherwise: each function behind a `/v1` route that
/// is not a read may `dynamodb:PutItem` on the table.
#[test]
fn every_function_that_changes_something_may_write_its_audit_entry() {
    let writers: BTreeSet<String> = switchboard_cli::routes::http_routes()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/") && r.method != http::Method::GET)
        .map(|r| r.function.to_owned())
        .collect();
    assert!(writers.len() >= 5, "{writers:?}");
    for function in writers {
        let may_put = function_statements().iter().any(|(f, s)| {
            f == &function
                && str_of(get(s, "Effect")) == "Allow"
                && (strings(get(s, "Action")).iter().any(|a| a == "dynamodb:PutItem"))
                && {
                    let resources = seq(get(s, "Resource"));
                    let resources = if resources.is_empty() {
                        get(s, "Resource").cloned().into_iter().collect()
                    } else {
                        resources
                    };
                    resources.iter().any(|r| {
                        matches!(intrinsic(Some(r)), Some((tag, v)) if tag == "GetAtt" && str_of(Some(v)).starts_with("Table"))
                    })
                }
        });
        assert!(
            may_put,
            "{function} changes something but may not append its audit entry (dynamodb:PutItem on Table)"
        );
    }
}

/// The resources the stack has once SAM has expanded it: each function brings its role
/// (unless it names one), and per event an invoke permission (HTTP API, WebSocket-free
/// routes), an event source mapping (SQS) or a rule and a permission (schedule), plus an
/// event invoke config when set; each `AWS::Serverless::HttpApi` brings its API and stage.
/// Checked against SAM's own translation when the stack was last measured (461).
fn expanded_resource_count() -> usize {
    let mut n = 0;
    for (_, r) in resources() {
        match str_of(get(&r, "Type")).as_str() {
            "AWS::Serverless::Function" => {
                let p = props(&r);
                n += 1;
                if get(p, "Role").is_none() {
                    n += 1;
                }
                if get(p, "EventInvokeConfig").is_some() {
                    n += 1;
                }
                if let Some(events) = get(p, "Events").and_then(Value::as_mapping) {
                    for (_, e) in events {
                        n += match str_of(get(e, "Type")).as_str() {
                            "Schedule" => 2,
                            _ => 1,
                        };
                    }
                }
            }
            "AWS::Serverless::HttpApi" => n += 2,
            _ => n += 1,
        }
    }
    n
}

/// CloudFormation refuses a stack of more than 500 resources. Past 490 the next
/// feature has no room: it goes into a nested stack (docs/operations.md, "Stack size").
#[test]
fn the_stack_stays_under_cloudformations_resource_limit() {
    let n = expanded_resource_count();
    assert!(n > 300, "the count looks wrong: {n}");
    assert!(
        n < 490,
        "the stack expands to {n} resources; CloudFormation's limit is 500 — move the next \
         feature's functions into a nested stack (docs/operations.md)"
    );
}
