//! Outbound provider clients. Each implements a port from `switchboard-core` over
//! HTTPS (rustls) against the provider's real base URL, which tests replace with a
//! wiremock server that checks every request Switchboard sends.

pub mod sandbox;
pub mod stripe;
pub mod whatsapp;

pub use sandbox::Sandbox;
pub use stripe::StripeClient;
pub use whatsapp::GraphClient;

/// Builds the shared HTTP client: rustls, short connect timeout, bounded total time (a
/// Lambda must finish well inside its own timeout), no redirects to other hosts.
pub fn http_client(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(8))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
