//! `switchboard aws-env --stack NAME`: the environment of a deployed stack as `export`
//! lines, so that `eval "$(switchboard aws-env --stack switchboard)"` points the CLI's AWS
//! backend (`dlq`, `events`, `messages`, `serve --backend aws`) at what the stack's
//! functions use.
//!
//! A deployed function gets its variables from `template.yaml`: resource names (table,
//! key, queues, secrets prefix) and settings from the stack's parameters (identity
//! provider, Graph URL, billing). Copying them from the console by hand is how a redrive
//! ends up on the wrong queue, so this reads them from the stack itself: resources from
//! its outputs, settings from its parameters. [`OUTPUTS`] and [`PARAMETERS`] are the
//! contract with the template; its consistency tests check that every variable the
//! template gives the functions is covered by one of them.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;

/// `(variable, stack output)`: variables whose value is a stack output. All required:
/// a stack without one of them was deployed from an older template.
pub const OUTPUTS: &[(&str, &str)] = &[
    ("TABLE_NAME", "TableName"),
    ("KMS_KEY_ID", "TokenKeyId"),
    ("SECRETS_PREFIX", "SecretsPrefix"),
    ("INBOUND_QUEUE_URL", "InboundQueueUrl"),
    ("INBOUND_DLQ_URL", "InboundDeadLetterQueueUrl"),
    ("OUTBOUND_QUEUE_URL", "OutboundQueueUrl"),
    ("OUTBOUND_DLQ_URL", "OutboundDeadLetterQueueUrl"),
    ("BILLING_QUEUE_URL", "BillingQueueUrl"),
    ("BILLING_DLQ_URL", "BillingDeadLetterQueueUrl"),
    ("IMPORT_QUEUE_URL", "ImportQueueUrl"),
    ("IMPORT_DLQ_URL", "ImportDeadLetterQueueUrl"),
    ("CAMPAIGN_QUEUE_URL", "CampaignQueueUrl"),
    ("MEDIA_BUCKET", "MediaBucketName"),
    ("CAMPAIGN_DLQ_URL", "CampaignDeadLetterQueueUrl"),
    ("EMAIL_QUEUE_URL", "EmailQueueUrl"),
    ("EMAIL_DLQ_URL", "EmailDeadLetterQueueUrl"),
    ("AI_QUEUE_URL", "AiQueueUrl"),
    ("AI_DLQ_URL", "AiDeadLetterQueueUrl"),
    ("WEBHOOKS_QUEUE_URL", "WebhooksQueueUrl"),
    ("WEBHOOKS_DLQ_URL", "WebhooksDeadLetterQueueUrl"),
    ("WEBHOOK_RETRIES_QUEUE_URL", "WebhookRetriesQueueUrl"),
    (
        "WEBHOOK_RETRIES_DLQ_URL",
        "WebhookRetriesDeadLetterQueueUrl",
    ),
    ("REALTIME_QUEUE_URL", "RealtimeQueueUrl"),
    ("REALTIME_DLQ_URL", "RealtimeDeadLetterQueueUrl"),
];

/// `(variable, stack parameter)`: variables whose value is a stack parameter. A
/// parameter the stack lacks is skipped (the code's default applies), as is `RUST_LOG`
/// (`LogLevel`), which stays the operator's choice for the CLI. `NoEcho` parameters
/// (`SentryDsn`) are left out: CloudFormation shows their value as `****`.
pub const PARAMETERS: &[(&str, &str)] = &[
    ("SWITCHBOARD_STAGE", "Stage"),
    ("AUTH_ISSUER", "AuthIssuer"),
    ("AUTH_AUDIENCE", "AuthAudience"),
    ("AUTH_JWKS_URL", "AuthJwksUrl"),
    ("AUTH_JWKS_MAX_STALE_SECS", "AuthJwksMaxStaleSecs"),
    ("AUTH_ORG_CLAIM", "AuthOrgClaim"),
    ("AUTH_ROLE_CLAIM", "AuthRoleClaim"),
    ("AUTH_NAME_CLAIM", "AuthNameClaim"),
    ("AUTH_EMAIL_CLAIM", "AuthEmailClaim"),
    ("WHATSAPP_GRAPH_URL", "WhatsAppGraphUrl"),
    ("KAPSO_API_URL", "KapsoApiUrl"),
    ("META_APP_ID", "MetaAppId"),
    ("STRIPE_PRICE_STARTER", "StripePriceStarter"),
    ("STRIPE_PRICE_PROFESSIONAL", "StripePriceProfessional"),
    ("STRIPE_PRICE_ENTERPRISE", "StripePriceEnterprise"),
    ("STRIPE_LIVEMODE", "StripeLivemode"),
    ("STRIPE_METER_EVENT", "StripeMeterEvent"),
    ("STRIPE_AI_METER_EVENT", "StripeAiMeterEvent"),
    ("BILLING_ENFORCED", "BillingEnforced"),
    ("BILLING_PAST_DUE_GRACE_DAYS", "BillingPastDueGraceDays"),
    ("PLAN_LIMITS", "PlanLimits"),
    ("RATE_LIMITS", "RateLimits"),
    ("WEBHOOK_EVENT_RETENTION_DAYS", "WebhookEventRetentionDays"),
    ("EMAIL_PROVIDER", "EmailProvider"),
    ("EMAIL_FALLBACK_PROVIDER", "EmailFallbackProvider"),
    ("EMAIL_FROM", "EmailFrom"),
    ("APP_URL", "AppUrl"),
    ("OPENROUTER_API_URL", "OpenrouterApiUrl"),
    ("XAI_API_URL", "XaiApiUrl"),
    ("LLM_CUSTOM_API_URL", "LlmCustomApiUrl"),
    ("SENTRY_TRACES_SAMPLE_RATE", "SentryTracesSampleRate"),
];

/// What `aws-env` reads of a stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackDescription {
    /// The stack's name.
    pub name: String,
    /// Its region, from the stack id (`arn:aws:cloudformation:<region>:…`), if known.
    pub region: Option<String>,
    /// Output key → value.
    pub outputs: BTreeMap<String, String>,
    /// Parameter key → value (the resolved value for SSM parameter types).
    pub parameters: BTreeMap<String, String>,
}

/// Why the environment of a stack could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsEnvError {
    /// No stack of that name in this account and region.
    NotFound(String),
    /// The stack lacks an output a variable needs.
    MissingOutput {
        /// The stack.
        stack: String,
        /// The output key.
        output: &'static str,
        /// The variable it feeds.
        var: &'static str,
    },
    /// The CloudFormation call failed.
    Aws(String),
}

impl fmt::Display for AwsEnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AwsEnvError::NotFound(stack) => write!(
                f,
                "stack {stack} does not exist here (check the name, AWS_REGION and AWS_PROFILE)"
            ),
            AwsEnvError::MissingOutput { stack, output, var } => write!(
                f,
                "stack {stack} has no output {output} (for {var}); deploy the current template.yaml"
            ),
            AwsEnvError::Aws(e) => write!(f, "CloudFormation: {e}"),
        }
    }
}

impl std::error::Error for AwsEnvError {}

/// Reads a stack's outputs and parameters (`DescribeStacks`).
pub async fn describe(
    client: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<StackDescription, AwsEnvError> {
    let out = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            // CloudFormation answers an unknown name with a ValidationError.
            if e.code() == Some("ValidationError")
                && e.message().is_some_and(|m| m.contains("does not exist"))
            {
                AwsEnvError::NotFound(stack.to_owned())
            } else {
                AwsEnvError::Aws(aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string())
            }
        })?;
    let found = out
        .stacks()
        .first()
        .ok_or_else(|| AwsEnvError::NotFound(stack.to_owned()))?;
    let outputs = found
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();
    let parameters = found
        .parameters()
        .iter()
        .filter_map(|p| {
            let value = p.resolved_value().or(p.parameter_value())?;
            Some((p.parameter_key()?.to_owned(), value.to_owned()))
        })
        .collect();
    Ok(StackDescription {
        name: found.stack_name().unwrap_or(stack).to_owned(),
        region: found.stack_id().and_then(region_of),
        outputs,
        parameters,
    })
}

/// The region of a CloudFormation ARN (`arn:<partition>:cloudformation:<region>:…`).
fn region_of(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// The variables of a stack, in order: the backend, the region, then [`OUTPUTS`] and
/// [`PARAMETERS`].
pub fn variables(stack: &StackDescription) -> Result<Vec<(String, String)>, AwsEnvError> {
    let mut vars = vec![("SWITCHBOARD_BACKEND".to_owned(), "aws".to_owned())];
    if let Some(region) = &stack.region {
        vars.push(("AWS_REGION".to_owned(), region.clone()));
    }
    for &(var, output) in OUTPUTS {
        let value = stack
            .outputs
            .get(output)
            .ok_or_else(|| AwsEnvError::MissingOutput {
                stack: stack.name.clone(),
                output,
                var,
            })?;
        vars.push((var.to_owned(), value.clone()));
    }
    for &(var, parameter) in PARAMETERS {
        if let Some(value) = stack.parameters.get(parameter) {
            vars.push((var.to_owned(), value.clone()));
        }
    }
    Ok(vars)
}

/// `export NAME=value` lines, values quoted for POSIX shells where needed.
pub fn export_lines(vars: &[(String, String)]) -> Vec<String> {
    vars.iter()
        .map(|(name, value)| format!("export {name}={}", shell_quote(value)))
        .collect()
}

/// `value` as one shell word: as is when it holds only characters no shell treats
/// specially, else single-quoted (a `'` inside becomes `'\''`).
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,@%+=".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// The command: reads `stack` with the ambient AWS configuration (region, profile,
/// `AWS_ENDPOINT_URL`) and returns the `export` lines.
pub async fn aws_env(stack: &str) -> Result<Vec<String>, String> {
    let sdk = switchboard_aws::config::load().await;
    let client = aws_sdk_cloudformation::Client::new(&sdk);
    let described = describe(&client, stack).await.map_err(|e| e.to_string())?;
    let vars = variables(&described).map_err(|e| e.to_string())?;
    Ok(export_lines(&vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> StackDescription {
        StackDescription {
            name: "switchboard".into(),
            region: region_of(
                "arn:aws:cloudformation:eu-west-1:123456789012:stack/switchboard/0d6f4c7e",
            ),
            outputs: OUTPUTS
                .iter()
                .map(|(var, output)| (output.to_string(), format!("value-of-{var}")))
                .chain([("ApiUrl".to_owned(), "https://example".to_owned())])
                .collect(),
            parameters: [
                ("AuthIssuer", "https://clerk.example.com"),
                ("PlanLimits", r#"{"starter": {"seats": 3}}"#),
                ("StripePriceStarter", ""),
                ("LogLevel", "debug"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        }
    }

    #[test]
    fn every_output_becomes_its_variable_and_parameters_follow() {
        let vars = variables(&stack()).unwrap();
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..2], ["SWITCHBOARD_BACKEND", "AWS_REGION"]);
        assert_eq!(vars[1].1, "eu-west-1");
        for (var, _) in OUTPUTS {
            let value = &vars.iter().find(|(n, _)| n == var).unwrap().1;
            assert_eq!(value, &format!("value-of-{var}"));
        }
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("AUTH_ISSUER"), Some("https://clerk.example.com"));
        assert_eq!(
            get("STRIPE_PRICE_STARTER"),
            Some(""),
            "empty is exported, as unset"
        );
        assert_eq!(
            get("AUTH_AUDIENCE"),
            None,
            "parameters the stack lacks are skipped"
        );
        assert_eq!(
            get("RUST_LOG"),
            None,
            "the CLI's log level stays the operator's"
        );
        assert_eq!(get("ApiUrl"), None);
    }

    #[test]
    fn a_missing_output_names_the_output_and_the_variable() {
        let mut s = stack();
        s.outputs.remove("OutboundDeadLetterQueueUrl");
        let err = variables(&s).unwrap_err();
        assert_eq!(
            err,
            AwsEnvError::MissingOutput {
                stack: "switchboard".into(),
                output: "OutboundDeadLetterQueueUrl",
                var: "OUTBOUND_DLQ_URL",
            }
        );
        assert!(err.to_string().contains("OUTBOUND_DLQ_URL"));
    }

    #[test]
    fn values_are_quoted_for_the_shell_only_when_needed() {
        let lines = export_lines(&[
            (
                "A".into(),
                "https://sqs.eu-west-1.amazonaws.com/1/x.fifo".into(),
            ),
            ("B".into(), r#"{"starter": {"seats": 3}}"#.into()),
            ("C".into(), "".into()),
            ("D".into(), "it's $HOME".into()),
        ]);
        assert_eq!(
            lines,
            [
                "export A=https://sqs.eu-west-1.amazonaws.com/1/x.fifo",
                r#"export B='{"starter": {"seats": 3}}'"#,
                "export C=''",
                r"export D='it'\''s $HOME'",
            ]
        );
    }

    #[test]
    fn regions_come_from_stack_ids() {
        assert_eq!(
            region_of("arn:aws-cn:cloudformation:cn-north-1:1:stack/s/x").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(region_of("not-an-arn"), None);
    }
}
