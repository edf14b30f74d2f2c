//! Outbound provider clients. Each implements a port from `switchboard-core` over
//! HTTPS (rustls) against the provider's real base URL, which tests replace with a
//! wiremock server that checks every request Switchboard sends.

pub mod email;
pub mod llm;
pub mod meta_app;
pub mod sandbox;
pub mod send_api;
pub mod stripe;
pub mod webhook_http;
pub mod whatsapp;

pub use llm::ChatClient;
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
        .redirect(same_origin_redirects())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 3;

/// The redirect policy of every provider client: follow at most [`MAX_REDIRECTS`], and
/// only to the same scheme, host and port as the request. The base URLs are trusted
/// configuration; a redirect elsewhere (a compromised or misconfigured endpoint, an
/// open redirect) would send our bearer credentials or take signing keys from a host
/// nobody configured, and would downgrade https to http.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = attempt.previous().first().map(url::Url::origin);
        if origin.as_ref() != Some(&attempt.url().origin()) {
            attempt.error("refusing a redirect to another host")
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn redirect_to(location: String) -> ResponseTemplate {
        ResponseTemplate::new(307).insert_header("location", location.as_str())
    }

    #[tokio::test]
    async fn redirects_to_another_host_are_not_followed() {
        let ours = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        Mock::given(path("/v23.0/me"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&elsewhere)
            .await;
        // Another port on the same address, and another host name for the same address:
        // both are another origin.
        let port = elsewhere.address().port();
        for target in [
            format!("http://127.0.0.1:{port}/v23.0/me"),
            format!("http://localhost:{port}/v23.0/me"),
        ] {
            ours.reset().await;
            Mock::given(path("/v23.0/me"))
                .respond_with(redirect_to(target))
                .mount(&ours)
                .await;
            let sent = http_client("t")
                .get(format!("{}/v23.0/me", ours.uri()))
                .bearer_auth("EAAG-secret")
                .send()
                .await;
            assert!(sent.is_err(), "the redirect must fail the request");
        }
        elsewhere.verify().await;

        // The clients the app builds use this policy (Graph shown; Stripe shares it).
        use switchboard_core::secrets::SecretString;
        use switchboard_core::whatsapp::WhatsAppApi;
        ours.reset().await;
        Mock::given(method("GET"))
            .respond_with(redirect_to(format!("{}/v23.0/me", elsewhere.uri())))
            .mount(&ours)
            .await;
        let graph = GraphClient::new(http_client("t"), format!("{}/v23.0", ours.uri()));
        let id = switchboard_core::ids::PhoneNumberId::parse("106540352242922").unwrap();
        assert!(
            graph
                .phone_number(&SecretString::new("EAAG-secret"), &id)
                .await
                .is_err()
        );
        elsewhere.verify().await;
    }

    #[tokio::test]
    async fn redirects_on_the_same_host_are_followed_a_few_times() {
        let server = MockServer::start().await;
        Mock::given(path("/old"))
            .respond_with(redirect_to(format!("{}/new", server.uri())))
            .mount(&server)
            .await;
        Mock::given(path("/new"))
            .respond_with(ResponseTemplate::new(200).set_body_string("here"))
            .mount(&server)
            .await;
        Mock::given(path("/loop"))
            .respond_with(redirect_to(format!("{}/loop", server.uri())))
            .mount(&server)
            .await;
        let http = http_client("t");
        let resp = http
            .get(format!("{}/old", server.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "here");
        assert!(
            http.get(format!("{}/loop", server.uri()))
                .send()
                .await
                .is_err()
        );
        let loops = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/loop")
            .count();
        assert_eq!(loops, MAX_REDIRECTS + 1);
    }
}
