//! The AWS backend of Switchboard's ports: DynamoDB (item store), SQS (queues), KMS
//! (envelope encryption), Secrets Manager (secrets, cached), and API Gateway's WebSocket
//! Management API (realtime pushes). Clients are built once per
//! process from one SDK config; `AWS_ENDPOINT_URL` points them at moto_server in tests.
//!
//! This is what a Lambda function links: no template parsing (that is `switchboard-bootstrap`,
//! for the CLI and tests) and no embedded backend.

pub mod config;
pub mod dynamodb;
pub mod http;
pub mod kms;
pub mod lazy;
pub mod realtime;
pub mod s3;
pub mod secrets;
pub mod sqs;

pub use config::{Clients, LazyClients, SdkSettings};
pub use dynamodb::DynamoStore;
pub use kms::KmsCipher;
pub use lazy::SdkClient;
pub use realtime::ApiGatewayPush;
pub use s3::S3Objects;
pub use secrets::SecretsManager;
pub use sqs::{QueueUrls, SqsQueue};
