//! Adapters from Lambda events to Switchboard's runtime-agnostic handlers. A function's
//! `main` calls one of [`http`], [`queue`] or [`cron`] with its handler; everything else
//! (tracing, config, the `App`, event conversion, partial batch failures) is here.

use std::collections::HashMap;
use std::future::Future;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use lambda_http::RequestExt;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use switchboard_core::queue::{Queue, QueueName, ReceivedMessage};

use crate::app::App;
use crate::config::Config;
use crate::error_reporting;
use crate::http::{PathParams, Request, RequestId, Response};
use crate::queue::{BatchOutcome, settle};
use crate::telemetry;

/// The error type Lambda mains return.
pub type Error = lambda_runtime::Error;

async fn init(function: &'static str) -> Result<App, Error> {
    telemetry::init(telemetry::format_from_env(telemetry::Format::Json));
    let config = Config::from_env().inspect_err(|e| {
        tracing::error!(function, error = %e, "invalid configuration");
    })?;
    let app = App::build(config).await.inspect_err(|e| {
        tracing::error!(function, error = %e, "could not start");
    })?;
    tracing::info!(function, backend = ?app.config().backend, "initialised");
    Ok(app)
}

/// Writes what the invocation counted as CloudWatch embedded-metric documents on stdout
/// (the function's log), where CloudWatch turns them into metrics.
fn flush_metrics(app: &App, function: &str) {
    let now_ms = app.services().clock.now().timestamp_millis();
    for document in app.metrics().flush_emf(function, now_ms) {
        println!("{document}");
    }
}

/// Converts an API Gateway request into a handler request.
pub fn from_lambda(event: lambda_http::Request) -> Request {
    let params: HashMap<String, String> = event
        .path_parameters()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let request_id = match event.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .or_else(|| event.lambda_context_ref().map(|c| c.request_id.clone()))
    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let (parts, body) = event.into_parts();
    // API Gateway's base64 bodies were decoded into `Body::Binary` by lambda_http.
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(s) => Bytes::from(s),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let mut req = http::Request::from_parts(parts, bytes);
    req.extensions_mut().insert(PathParams(params));
    req.extensions_mut().insert(RequestId(request_id));
    req
}

/// Converts a handler response into a Lambda response (text for JSON and text, base64
/// binary otherwise).
pub fn to_lambda(resp: Response) -> lambda_http::Response<lambda_http::Body> {
    let (parts, body) = resp.into_parts();
    let textual = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/"));
    let body = if body.is_empty() {
        lambda_http::Body::Empty
    } else if textual {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => lambda_http::Body::Text(s),
            Err(e) => lambda_http::Body::Binary(e.into_bytes()),
        }
    } else {
        lambda_http::Body::Binary(body.to_vec())
    };
    lambda_http::Response::from_parts(parts, body)
}

/// Runs an HTTP handler behind API Gateway.
pub async fn http<F, Fut>(function: &'static str, handler: F) -> Result<(), Error>
where
    F: Fn(App, Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send,
{
    let app = init(function).await?;
    lambda_http::run(service_fn(move |event: lambda_http::Request| {
        let app = app.clone();
        let handler = handler.clone();
        async move {
            let resp = to_lambda(handler(app.clone(), from_lambda(event)).await);
            flush_metrics(&app, function);
            // Lambda freezes the process once this returns: send the report now.
            error_reporting::flush(error_reporting::FLUSH_TIMEOUT).await;
            Ok::<_, std::convert::Infallible>(resp)
        }
    }))
    .await
}

/// Converts an SQS event into received messages.
pub fn from_sqs(event: SqsEvent) -> Vec<ReceivedMessage> {
    event
        .records
        .into_iter()
        .map(|r| ReceivedMessage {
            group_id: r.attributes.get("MessageGroupId").cloned(),
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            sent_at_ms: r
                .attributes
                .get("SentTimestamp")
                .and_then(|t| t.parse().ok()),
            id: r.message_id.unwrap_or_default(),
            receipt: r.receipt_handle.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect()
}

/// The `batchItemFailures` response of an outcome: the failed messages, plus any that
/// were to be dead-lettered but could not be moved (`kept`). Everything not listed is
/// deleted by the event source, so a message whose move to the DLQ failed must be
/// listed, or it would be lost.
pub fn batch_response(outcome: &BatchOutcome, kept: &[String]) -> SqsBatchResponse {
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = outcome
        .failures
        .iter()
        .map(|f| &f.id)
        .chain(kept)
        .map(|id| {
            let mut item = BatchItemFailure::default();
            item.item_identifier = id.clone();
            item
        })
        .collect();
    resp
}

/// Settles a handled batch on SQS (retry delays, explicit dead letters) and builds the
/// response the event source expects.
pub async fn finish_batch(
    queue: &dyn Queue,
    name: QueueName,
    batch: &[ReceivedMessage],
    outcome: &BatchOutcome,
) -> SqsBatchResponse {
    let kept = settle(queue, name, batch, outcome, false).await;
    batch_response(outcome, &kept)
}

/// Runs a queue consumer behind an SQS event source with `ReportBatchItemFailures`.
/// Failed messages get their retry delay applied (ChangeMessageVisibility) before being
/// reported, so retries follow the handler's backoff.
pub async fn queue<F, Fut>(
    function: &'static str,
    queue: QueueName,
    handler: F,
) -> Result<(), Error>
where
    F: Fn(App, Vec<ReceivedMessage>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = BatchOutcome> + Send,
{
    let app = init(function).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        let handler = handler.clone();
        async move {
            let batch = from_sqs(event.payload);
            let resp = error_reporting::isolated(async {
                let trace = error_reporting::start_trace(function, "queue.process");
                let outcome = handler(app.clone(), batch.clone()).await;
                let resp = finish_batch(&*app.services().queue, queue, &batch, &outcome).await;
                trace.finish_batch(outcome.failures.len() + outcome.dead_letters.len());
                resp
            })
            .await;
            flush_metrics(&app, function);
            // Lambda freezes the process once this returns: send the reports now.
            error_reporting::flush(error_reporting::FLUSH_TIMEOUT).await;
            Ok::<_, Error>(resp)
        }
    }))
    .await
}

/// Runs a WebSocket route handler (`$connect`, `$disconnect`) behind an API Gateway
/// WebSocket API with a Lambda proxy integration.
pub async fn websocket<F, Fut>(function: &'static str, handler: F) -> Result<(), Error>
where
    F: Fn(App, aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest) -> Fut
        + Clone
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = aws_lambda_events::event::apigw::ApiGatewayProxyResponse> + Send,
{
    let app = init(function).await?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<
            aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest,
        >| {
            let app = app.clone();
            let handler = handler.clone();
            async move {
                let resp = handler(app.clone(), event.payload).await;
                flush_metrics(&app, function);
                Ok::<_, Error>(resp)
            }
        },
    ))
    .await
}

/// Runs a scheduled handler behind an EventBridge rule.
pub async fn cron<F, Fut>(function: &'static str, handler: F) -> Result<(), Error>
where
    F: Fn(App, DateTime<Utc>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, switchboard_core::Error>> + Send,
{
    let app = init(function).await?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| {
            let app = app.clone();
            let handler = handler.clone();
            async move {
                let now = event.payload.time.unwrap_or_else(Utc::now);
                let result = handler(app.clone(), now).await.map_err(|e| {
                    tracing::error!(error = %e, "scheduled run failed");
                    Error::from(e.to_string())
                });
                flush_metrics(&app, function);
                result
            }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Failure;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use std::time::Duration;
    use switchboard_core::queue::{DeadLetter, OutgoingMessage, QueueError};

    /// A queue whose dead-letter move fails, recording the other calls.
    #[derive(Debug, Default)]
    struct BrokenDlq {
        calls: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Queue for BrokenDlq {
        async fn send(&self, _: QueueName, _: Vec<OutgoingMessage>) -> Result<(), QueueError> {
            Ok(())
        }
        async fn receive(
            &self,
            _: QueueName,
            _: usize,
            _: Duration,
            _: Duration,
        ) -> Result<Vec<ReceivedMessage>, QueueError> {
            Ok(vec![])
        }
        async fn delete(&self, _: QueueName, receipt: &str) -> Result<(), QueueError> {
            self.calls.lock().unwrap().push(format!("delete {receipt}"));
            Ok(())
        }
        async fn retry_later(
            &self,
            _: QueueName,
            receipt: &str,
            _: Duration,
        ) -> Result<(), QueueError> {
            self.calls.lock().unwrap().push(format!("retry {receipt}"));
            Ok(())
        }
        async fn dead_letter(&self, _: QueueName, m: &ReceivedMessage) -> Result<(), QueueError> {
            self.calls.lock().unwrap().push(format!("dlq {}", m.id));
            Err(QueueError::Unavailable("injected".into()))
        }
        async fn dead_letters(
            &self,
            _: QueueName,
            _: usize,
        ) -> Result<Vec<DeadLetter>, QueueError> {
            Ok(vec![])
        }
        async fn redrive(&self, _: QueueName, _: usize) -> Result<usize, QueueError> {
            Ok(0)
        }
    }

    fn msg(id: &str) -> ReceivedMessage {
        ReceivedMessage {
            id: id.into(),
            receipt: format!("r-{id}"),
            body: "{}".into(),
            group_id: Some(id.into()),
            receive_count: 1,
            sent_at_ms: None,
        }
    }

    #[tokio::test]
    async fn a_message_whose_dead_letter_move_fails_is_reported_failed_not_deleted() {
        let queue = BrokenDlq::default();
        let batch = vec![msg("done"), msg("retry"), msg("poison")];
        let outcome = BatchOutcome {
            failures: vec![Failure {
                id: "retry".into(),
                retry_after: Some(Duration::from_secs(5)),
            }],
            dead_letters: vec!["poison".into()],
        };
        let resp = finish_batch(&queue, QueueName::Outbound, &batch, &outcome).await;
        let mut ids: Vec<&str> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            ["poison", "retry"],
            "SQS keeps both; `done` is deleted"
        );
        let calls = queue.calls.lock().unwrap().clone();
        assert!(calls.contains(&"dlq poison".to_string()));
        assert!(calls.contains(&"retry r-retry".to_string()));
        assert!(!calls.iter().any(|c| c.starts_with("delete")), "{calls:?}");
    }
}
