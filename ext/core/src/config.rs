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

    /// Same fields, same order as the agent computes it: both must agree on which
    /// agent serves this configuration.
    pub fn fingerprint(&self) -> String {
        let endpoint = match self.env_value("APPSIGNAL_PUSH_API_ENDPOINT") {
            "" => "https://push.appsignal.com",
            endpoint => endpoint,
        };
        let otlp = otlp_settings(
            self.env_value("APPSIGNAL_OTLP_ENDPOINT"),
            self.env_value("APPSIGNAL_OTLP_HEADERS"),
            self.env_value("APPSIGNAL_OTLP_ONLY"),
        );
        AgentIdentity {
            app_name: self.env_value("APPSIGNAL_APP_NAME"),
            environment: self.env_value("APPSIGNAL_APP_ENV"),
            push_api_key: self.env_value("APPSIGNAL_PUSH_API_KEY"),
            endpoint,
            working_dir: &self.working_dir.to_string_lossy(),
            otlp: &otlp,
        }
        .fingerprint()
    }
}
