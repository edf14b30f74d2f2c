//! `template.yaml`, `functions/` and the dev server's route table describe the same
//! system: same functions and binaries, same routes, same queues and queue settings.

use std::collections::BTreeSet;

use serde_yaml::Value;
use switchboard_core::queue::QueueName;

fn template() -> switchboard_aws::bootstrap::Template {
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
        switchboard_cli::routes::schedules(std::time::Duration::from_secs(3600))
            .iter()
            .map(|s| s.function.to_owned()),
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
        switchboard_cli::routes::schedules(std::time::Duration::from_secs(3600))
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
