//! Creates the table and queues that `template.yaml` declares, read from the template
//! itself, on any SQS/DynamoDB endpoint (moto_server in tests, a sandbox account by
//! hand). One source of truth: a GSI or redrive policy added to the template shows up
//! in the contract tests without touching this code.
//!
//! A crate of its own, used by the CLI (`switchboard aws-bootstrap`) and the tests only,
//! so that no Lambda function links a YAML parser. The parser is `yaml_serde`, the YAML
//! organization's maintained continuation of `serde_yaml` (same `Value`, including the
//! tagged values CloudFormation's short forms such as `!GetAtt` parse into).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use switchboard_aws::{Clients, QueueUrls};
use switchboard_core::queue::QueueName;
/// A parsed YAML value, as [`Template::document`] returns it (for consistency tests).
pub use yaml_serde::Value;

/// Errors reading the template or creating resources.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The template does not parse or lacks a resource.
    #[error("template: {0}")]
    Template(String),
    /// An AWS call failed.
    #[error("aws: {0}")]
    Aws(String),
}

fn aws_err(e: impl std::fmt::Display) -> BootstrapError {
    BootstrapError::Aws(e.to_string())
}

/// A key attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttr {
    /// Attribute name.
    pub name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// A GSI definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    /// Index name.
    pub name: String,
    /// Key schema.
    pub keys: Vec<KeyAttr>,
    /// Projection type.
    pub projection: String,
}

/// The table definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// (name, type) pairs.
    pub attributes: Vec<(String, String)>,
    /// Key schema.
    pub keys: Vec<KeyAttr>,
    /// GSIs.
    pub indexes: Vec<IndexDef>,
    /// TTL attribute, if enabled.
    pub ttl_attribute: Option<String>,
}

/// A queue definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDef {
    /// Logical id in the template.
    pub logical_id: String,
    /// FIFO.
    pub fifo: bool,
    /// Visibility timeout, seconds.
    pub visibility_timeout: Option<i64>,
    /// Retention, seconds.
    pub retention: Option<i64>,
    /// Dead-letter queue logical id and max receive count.
    pub redrive: Option<(String, i64)>,
}

/// The parts of `template.yaml` the bootstrapper and the consistency tests read.
#[derive(Debug, Clone)]
pub struct Template {
    doc: Value,
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()
        .and_then(|m| m.get(Value::String(key.to_owned())))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || matches!(v, Some(Value::String(s)) if s == "true")
}

fn keys_of(v: Option<&Value>) -> Vec<KeyAttr> {
    v.and_then(Value::as_sequence)
        .map(|seq| {
            seq.iter()
                .filter_map(|k| {
                    Some(KeyAttr {
                        name: text(get(k, "AttributeName"))?,
                        key_type: text(get(k, "KeyType"))?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Template {
    /// Parses template text.
    pub fn parse(yaml: &str) -> Result<Self, BootstrapError> {
        let doc: Value =
            yaml_serde::from_str(yaml).map_err(|e| BootstrapError::Template(e.to_string()))?;
        Ok(Self { doc })
    }

    /// Every resource: (logical id, type, properties).
    pub fn resources(&self) -> Vec<(String, String, Value)> {
        let Some(map) = get(&self.doc, "Resources").and_then(Value::as_mapping) else {
            return Vec::new();
        };
        map.iter()
            .filter_map(|(k, v)| {
                Some((
                    k.as_str()?.to_owned(),
                    text(get(v, "Type"))?,
                    get(v, "Properties").cloned().unwrap_or(Value::Null),
                ))
            })
            .collect()
    }

    /// The whole document (for consistency tests).
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// The single DynamoDB table.
    pub fn table(&self) -> Result<TableDef, BootstrapError> {
        let (_, _, props) = self
            .resources()
            .into_iter()
            .find(|(_, t, _)| t == "AWS::DynamoDB::Table")
            .ok_or_else(|| BootstrapError::Template("no AWS::DynamoDB::Table".into()))?;
        let attributes = get(&props, "AttributeDefinitions")
            .and_then(Value::as_sequence)
            .map(|seq| {
                seq.iter()
                    .filter_map(|a| {
                        Some((
                            text(get(a, "AttributeName"))?,
                            text(get(a, "AttributeType"))?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let indexes = get(&props, "GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
            .map(|seq| {
                seq.iter()
                    .filter_map(|i| {
                        Some(IndexDef {
                            name: text(get(i, "IndexName"))?,
                            keys: keys_of(get(i, "KeySchema")),
                            projection: get(i, "Projection")
                                .and_then(|p| text(get(p, "ProjectionType")))
                                .unwrap_or_else(|| "ALL".into()),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ttl_attribute = get(&props, "TimeToLiveSpecification")
            .filter(|t| truthy(get(t, "Enabled")))
            .and_then(|t| text(get(t, "AttributeName")));
        Ok(TableDef {
            attributes,
            keys: keys_of(get(&props, "KeySchema")),
            indexes,
            ttl_attribute,
        })
    }

    /// A queue by logical id.
    pub fn queue(&self, logical_id: &str) -> Result<QueueDef, BootstrapError> {
        let (_, ty, props) = self
            .resources()
            .into_iter()
            .find(|(id, _, _)| id == logical_id)
            .ok_or_else(|| BootstrapError::Template(format!("no resource {logical_id}")))?;
        if ty != "AWS::SQS::Queue" {
            return Err(BootstrapError::Template(format!(
                "{logical_id} is a {ty}, not a queue"
            )));
        }
        let redrive = get(&props, "RedrivePolicy").and_then(|r| {
            let target = get(r, "deadLetterTargetArn")?;
            // `!GetAtt Dlq.Arn` parses as a tagged string.
            let dlq = match target {
                Value::Tagged(t) => t.value.as_str()?.split('.').next()?.to_owned(),
                Value::Mapping(_) => get(target, "Fn::GetAtt")
                    .and_then(Value::as_sequence)
                    .and_then(|s| s.first())
                    .and_then(Value::as_str)?
                    .to_owned(),
                _ => return None,
            };
            Some((dlq, int(get(r, "maxReceiveCount"))?))
        });
        Ok(QueueDef {
            logical_id: logical_id.to_owned(),
            fifo: truthy(get(&props, "FifoQueue")),
            visibility_timeout: int(get(&props, "VisibilityTimeout")),
            retention: int(get(&props, "MessageRetentionPeriod")),
            redrive,
        })
    }
}

/// What bootstrapping created.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Table name.
    pub table: String,
    /// Queue URLs per logical queue.
    pub queues: HashMap<QueueName, QueueUrls>,
}

fn scalar(t: &str) -> ScalarAttributeType {
    match t {
        "N" => ScalarAttributeType::N,
        "B" => ScalarAttributeType::B,
        _ => ScalarAttributeType::S,
    }
}

fn key_elements(keys: &[KeyAttr]) -> Result<Vec<KeySchemaElement>, BootstrapError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.name)
                .key_type(if k.key_type == "RANGE" {
                    KeyType::Range
                } else {
                    KeyType::Hash
                })
                .build()
                .map_err(aws_err)
        })
        .collect()
}

/// Creates the template's table (named `<prefix>-table`) and every logical queue with
/// its DLQ (named `<prefix>-<queue>[-dlq][.fifo]`).
pub async fn create(
    clients: &Clients,
    template: &Template,
    prefix: &str,
) -> Result<Deployment, BootstrapError> {
    let def = template.table()?;
    let table = format!("{prefix}-table");
    let mut req = clients
        .dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_elements(&def.keys)?));
    for (name, ty) in &def.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(scalar(ty))
                .build()
                .map_err(aws_err)?,
        );
    }
    for index in &def.indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(key_elements(&index.keys)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection.as_str()))
                        .build(),
                )
                .build()
                .map_err(aws_err)?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if format!("{e:?}").contains("ResourceInUseException") => {}
        Err(e) => return Err(aws_err(aws_sdk_dynamodb::error::DisplayErrorContext(&e))),
    }
    if let Some(attr) = &def.ttl_attribute {
        let _ = clients
            .dynamodb
            .update_time_to_live()
            .table_name(&table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(aws_err)?,
            )
            .send()
            .await;
    }

    let mut queues = HashMap::new();
    for name in QueueName::ALL {
        let q = template.queue(name.template_id())?;
        let (dlq_id, max_receive) = q.redrive.clone().ok_or_else(|| {
            BootstrapError::Template(format!("{} has no RedrivePolicy", q.logical_id))
        })?;
        let dlq = template.queue(&dlq_id)?;
        let suffix = if q.fifo { ".fifo" } else { "" };
        let dlq_url = create_queue(
            clients,
            &format!("{prefix}-{}-dlq{suffix}", name),
            &dlq,
            None,
        )
        .await?;
        let dlq_arn = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| aws_err(aws_sdk_sqs::error::DisplayErrorContext(&e)))?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| BootstrapError::Aws("DLQ has no ARN".into()))?;
        let redrive =
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
                .to_string();
        let url = create_queue(
            clients,
            &format!("{prefix}-{}{suffix}", name),
            &q,
            Some(redrive),
        )
        .await?;
        queues.insert(name, QueueUrls { url, dlq_url });
    }
    Ok(Deployment { table, queues })
}

async fn create_queue(
    clients: &Clients,
    name: &str,
    def: &QueueDef,
    redrive: Option<String>,
) -> Result<String, BootstrapError> {
    let mut req = clients.sqs.create_queue().queue_name(name);
    if def.fifo {
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
    }
    if let Some(v) = def.visibility_timeout {
        req = req.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
    }
    if let Some(r) = def.retention {
        req = req.attributes(QueueAttributeName::MessageRetentionPeriod, r.to_string());
    }
    if let Some(r) = redrive {
        req = req.attributes(QueueAttributeName::RedrivePolicy, r);
    }
    let out = req
        .send()
        .await
        .map_err(|e| aws_err(aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    out.queue_url()
        .map(str::to_owned)
        .ok_or_else(|| BootstrapError::Aws(format!("queue {name} has no URL")))
}

/// Creates a symmetric KMS key (emulators and sandboxes) and returns its id.
pub async fn create_key(clients: &Clients, description: &str) -> Result<String, BootstrapError> {
    let out = clients
        .kms
        .create_key()
        .description(description)
        .send()
        .await
        .map_err(|e| aws_err(aws_sdk_kms::error::DisplayErrorContext(&e)))?;
    out.key_metadata()
        .map(|m| m.key_id().to_owned())
        .ok_or_else(|| BootstrapError::Aws("CreateKey returned no key".into()))
}
