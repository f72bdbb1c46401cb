//! What the Ruby side hands the reporter when AppSignal starts.

use appsignal_proto::agent_lock::{otlp_settings, AgentIdentity};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct ReporterConfig {
    /// The `appsignal-agent` binary shipped in the gem; `None` = never start one
    /// (connect to whatever agent is running, e.g. in tests).
    pub agent_path: Option<PathBuf>,
    pub working_dir: PathBuf,
    /// The extension's own log lines go here (appended).
    pub log_path: Option<PathBuf>,
    /// APPSIGNAL_* variables for the agent process: the complete configuration.
    pub agent_env: Vec<(String, String)>,
    /// Bounded channel size between app threads and the worker.
    pub channel_capacity: usize,
    pub language_version: String,
    pub library_version: String,
    pub revision: String,
}

impl ReporterConfig {
    pub fn env_value(&self, key: &str) -> &str {
        self.agent_env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.working_dir.join("agent.socket")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.working_dir.join("agent.lock")
    }

    /// Same fields, same order, same trimming as the agent computes it: both must
    /// agree on which agent serves this configuration, or every app process would
    /// start agents that find the lock taken and exit.
    pub fn fingerprint(&self) -> String {
        let trimmed = |key: &str| self.env_value(key).trim();
        let endpoint = match trimmed("APPSIGNAL_PUSH_API_ENDPOINT") {
            "" => "https://push.appsignal.com",
            endpoint => endpoint,
        };
        let otlp = otlp_settings(
            self.env_value("APPSIGNAL_OTLP_ENDPOINT"),
            self.env_value("APPSIGNAL_OTLP_HEADERS"),
            self.env_value("APPSIGNAL_OTLP_ONLY"),
        );
        AgentIdentity {
            app_name: trimmed("APPSIGNAL_APP_NAME"),
            environment: trimmed("APPSIGNAL_APP_ENV"),
            push_api_key: trimmed("APPSIGNAL_PUSH_API_KEY"),
            endpoint,
            working_dir: self.working_dir.to_string_lossy().trim(),
            otlp: &otlp,
        }
        .fingerprint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_trims_like_the_agent_and_covers_otlp() {
        let config = |app: &str, otlp: Option<&str>| ReporterConfig {
            agent_path: None,
            working_dir: PathBuf::from("/w"),
            log_path: None,
            agent_env: [
                ("APPSIGNAL_APP_NAME", app),
                ("APPSIGNAL_APP_ENV", "production"),
            ]
            .into_iter()
            .chain(otlp.map(|e| ("APPSIGNAL_OTLP_ENDPOINT", e)))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            channel_capacity: 1,
            language_version: String::new(),
            library_version: String::new(),
            revision: String::new(),
        };
        // What the agent computes from the same variables (trimmed, default endpoint).
        let agent_side = AgentIdentity {
            app_name: "shop",
            environment: "production",
            push_api_key: "",
            endpoint: "https://push.appsignal.com",
            working_dir: "/w",
            otlp: &otlp_settings("", "", ""),
        }
        .fingerprint();
        assert_eq!(config(" shop ", None).fingerprint(), agent_side);
        assert_ne!(
            config("shop", Some("http://collector:4318")).fingerprint(),
            agent_side
        );
    }
}
