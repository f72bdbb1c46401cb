//! One POST to the Push API and what its answer means for the payload.

use std::time::Duration;

/// What became of one attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Sending it again cannot help (bad key, too large, malformed): drop it.
    Rejected(String),
    /// The Push API or the network is having trouble: keep it and retry later.
    RetryLater(String),
}

pub struct PushClient {
    http: reqwest::Client,
    endpoint: String,
    api_key: String,
    app_name: String,
    environment: String,
    hostname: String,
}

impl PushClient {
    pub fn new(
        endpoint: &str,
        api_key: &str,
        app_name: &str,
        environment: &str,
        hostname: &str,
    ) -> Result<PushClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("appsignal-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(PushClient {
            http,
            endpoint: endpoint.to_string(),
            api_key: api_key.to_string(),
            app_name: app_name.to_string(),
            environment: environment.to_string(),
            hostname: hostname.to_string(),
        })
    }

    pub fn transmit_url(&self, gem_version: &str) -> String {
        format!(
            "{}/1/transmit?api_key={}&name={}&environment={}&hostname={}&gem_version={}",
            self.endpoint,
            url_encode(&self.api_key),
            url_encode(&self.app_name),
            url_encode(&self.environment),
            url_encode(&self.hostname),
            url_encode(gem_version)
        )
    }

    /// The URL as it may appear in the log.
    pub fn loggable_url(&self, gem_version: &str) -> String {
        redact_url(&self.transmit_url(gem_version))
    }

    pub async fn send(&self, gzipped: Vec<u8>, gem_version: &str, timeout: Duration) -> Outcome {
        let response = self
            .http
            .post(self.transmit_url(gem_version))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "gzip")
            .timeout(timeout)
            .body(gzipped)
            .send()
            .await;
        match response {
            Err(e) => Outcome::RetryLater(describe(e)),
            Ok(response) => classify(response.status().as_u16()),
        }
    }
}

/// The error and its causes ("connection refused", "timed out"), without the URL:
/// reqwest's own message would carry the api_key (and an OTLP endpoint's URL may
/// carry credentials).
pub(crate) fn describe(error: reqwest::Error) -> String {
    let timed_out = error.is_timeout();
    let error = error.without_url();
    let mut text = format!("request failed: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if timed_out {
        text.push_str(" (timed out)");
    }
    text
}

pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Accepted,
        401 => Outcome::Rejected(
            "401 Unauthorized: the push API key is wrong; check APPSIGNAL_PUSH_API_KEY (not retried)".into(),
        ),
        413 => Outcome::Rejected("413 Payload Too Large: the payload is too large (not retried)".into()),
        400 => Outcome::Rejected("400 Bad Request: the Push API could not read the payload (not retried)".into()),
        429 => Outcome::RetryLater("429 Too Many Requests".into()),
        500..=599 => Outcome::RetryLater(format!("server error {status}")),
        other => Outcome::Rejected(format!("unexpected status {other} (not retried)")),
    }
}

/// Replaces the value of `api_key` in a URL so it can be logged.
pub fn redact_url(url: &str) -> String {
    let Some(start) = url.find("api_key=").map(|i| i + "api_key=".len()) else {
        return url.to_string();
    };
    let end = url[start..].find('&').map_or(url.len(), |i| start + i);
    format!("{}[REDACTED]{}", &url[..start], &url[end..])
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> PushClient {
        PushClient::new(
            "http://127.0.0.1:9",
            "s3cr&t key",
            "My App",
            "prod",
            "web-1",
        )
        .unwrap()
    }

    #[test]
    fn the_url_encodes_every_value() {
        assert_eq!(
            client().transmit_url("4.0.0"),
            "http://127.0.0.1:9/1/transmit?api_key=s3cr%26t%20key&name=My%20App&environment=prod&hostname=web-1&gem_version=4.0.0"
        );
    }

    #[test]
    fn the_loggable_url_never_holds_the_key() {
        let url = client().loggable_url("4.0.0");
        assert!(!url.contains("s3cr"), "{url}");
        assert!(url.contains("api_key=[REDACTED]&name=My%20App"), "{url}");
        assert_eq!(
            redact_url("http://x/1/transmit?a=1&api_key=k"),
            "http://x/1/transmit?a=1&api_key=[REDACTED]"
        );
        assert_eq!(redact_url("http://x/"), "http://x/");
    }

    #[test]
    fn statuses_decide_between_accept_drop_and_retry() {
        assert_eq!(classify(200), Outcome::Accepted);
        assert!(
            matches!(classify(401), Outcome::Rejected(m) if m.contains("push API key is wrong"))
        );
        assert!(matches!(classify(413), Outcome::Rejected(m) if m.contains("too large")));
        assert!(matches!(classify(429), Outcome::RetryLater(_)));
        assert!(matches!(classify(503), Outcome::RetryLater(_)));
    }
}
