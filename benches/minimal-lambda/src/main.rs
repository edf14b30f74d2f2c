//! A minimal API Gateway function: answers every request with a fixed JSON body.
//!
//! It is not part of Switchboard. It exists so that the size and cold-start scripts can
//! say how much of a function's package and init time is Switchboard's own (config, the
//! AWS SDK clients, JWT, the handlers) and how much any Rust `lambda_http` function pays:
//! it is a workspace member so it shares the release profile and the lock file.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"ok":true}"#))
            .map_err(Error::from)
    }))
    .await
}
