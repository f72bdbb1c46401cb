//! The agent's configuration, read once from the environment the extension passes.
//!
//! A bad value never stops the agent: it is reported (naming the variable and the
//! expected form) and the default is used. Only a missing push API key is fatal,
//! because without it nothing can be delivered.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::log::Level;

pub const DEFAULT_ENDPOINT: &str = "https://push.appsignal.com";
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Config {
    pub push_api_key: String,
    pub app_name: String,
    pub environment: String,
    /// The Push API base URL, without a trailing slash.
    pub endpoint: String,
    /// `APPSIGNAL_PUSH_API_ENDPOINT` exactly as given (or the default), for the lock
    /// fingerprint, which the extension computes from the same string.
    pub endpoint_as_configured: String,
    pub log_path: Option<PathBuf>,
    pub log_level: Level,
    pub working_directory_path: Option<PathBuf>,
    pub files_world_accessible: bool,
    pub enable_host_metrics: bool,
    pub hostname: Option<String>,
    pub revision: Option<String>,
    pub transmission_interval: Duration,
    /// `APPSIGNAL_OTLP_ENDPOINT`: base URL of an OTLP/HTTP receiver (traces go to
    /// `{it}/v1/traces`, metrics to `{it}/v1/metrics`), without a trailing slash.
    pub otlp_endpoint: Option<String>,
    /// `APPSIGNAL_OTLP_HEADERS`: `key=value,key=value` sent with every OTLP request
    /// (a collector's auth token, say); never logged.
    pub otlp_headers: Vec<(String, String)>,
    /// `APPSIGNAL_OTLP_ONLY=true`: export over OTLP only, nothing to the Push API.
    pub otlp_only: bool,
    /// The OTLP variables exactly as given, for the lock fingerprint (see
    /// `appsignal_proto::agent_lock::otlp_settings`).
    pub otlp_as_configured: String,
}

/// The configuration plus what was wrong with the environment, to be logged once
/// the log file is open.
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Config {
    pub fn from_process_env() -> Loaded {
        Self::from_env(&std::env::vars().collect())
    }

    pub fn from_env(env: &HashMap<String, String>) -> Loaded {
        let mut warnings = Vec::new();
        let text = |name: &str| {
            env.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let log_level = match text("APPSIGNAL_LOG_LEVEL") {
            None => Level::Info,
            Some(raw) => Level::parse(&raw).unwrap_or_else(|| {
                warnings.push(format!(
                    "APPSIGNAL_LOG_LEVEL={raw:?} is not one of error, warn, info, debug, trace; using info"
                ));
                Level::Info
            }),
        };
        let files_world_accessible =
            boolean(env, "APPSIGNAL_FILES_WORLD_ACCESSIBLE", true, &mut warnings);
        let enable_host_metrics =
            boolean(env, "APPSIGNAL_ENABLE_HOST_METRICS", true, &mut warnings);
        let transmission_interval = match text("APPSIGNAL_TRANSMISSION_INTERVAL") {
            None => DEFAULT_INTERVAL,
            Some(raw) => match raw.parse::<f64>() {
                // Below 0.05 s the agent would spend its time posting tiny payloads.
                Ok(secs) if (0.05..=86_400.0).contains(&secs) => Duration::from_secs_f64(secs),
                _ => {
                    warnings.push(format!(
                        "APPSIGNAL_TRANSMISSION_INTERVAL={raw:?} is not a number of seconds between 0.05 and 86400 (like 30 or 0.5); using 30"
                    ));
                    DEFAULT_INTERVAL
                }
            },
        };
        let endpoint_as_configured =
            text("APPSIGNAL_PUSH_API_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let endpoint = match text("APPSIGNAL_PUSH_API_ENDPOINT") {
            None => DEFAULT_ENDPOINT.to_string(),
            Some(raw) if raw.starts_with("http://") || raw.starts_with("https://") => {
                raw.trim_end_matches('/').to_string()
            }
            Some(raw) => {
                warnings.push(format!(
                    "APPSIGNAL_PUSH_API_ENDPOINT={raw:?} is not an http:// or https:// URL; using {DEFAULT_ENDPOINT}"
                ));
                DEFAULT_ENDPOINT.to_string()
            }
        };
        let otlp_endpoint = match text("APPSIGNAL_OTLP_ENDPOINT") {
            None => None,
            Some(raw) if raw.starts_with("http://") || raw.starts_with("https://") => {
                Some(raw.trim_end_matches('/').to_string())
            }
            Some(raw) => {
                warnings.push(format!(
                    "APPSIGNAL_OTLP_ENDPOINT={raw:?} is not an http:// or https:// URL (like http://localhost:4318); OTLP export is off"
                ));
                None
            }
        };
        let mut otlp_only = boolean(env, "APPSIGNAL_OTLP_ONLY", false, &mut warnings);
        if otlp_only && otlp_endpoint.is_none() {
            warnings.push(
                "APPSIGNAL_OTLP_ONLY=true needs APPSIGNAL_OTLP_ENDPOINT; sending to the Push API instead"
                    .to_string(),
            );
            otlp_only = false;
        }
        let otlp_headers = match text("APPSIGNAL_OTLP_HEADERS") {
            None => Vec::new(),
            Some(raw) => parse_headers(&raw).unwrap_or_else(|bad| {
                warnings.push(format!(
                    "APPSIGNAL_OTLP_HEADERS has an entry that is not key=value ({bad:?}); sending no extra headers"
                ));
                Vec::new()
            }),
        };
        let raw = |name: &str| env.get(name).map_or("", String::as_str);
        let otlp_as_configured = appsignal_proto::agent_lock::otlp_settings(
            raw("APPSIGNAL_OTLP_ENDPOINT"),
            raw("APPSIGNAL_OTLP_HEADERS"),
            raw("APPSIGNAL_OTLP_ONLY"),
        );
        let config = Config {
            push_api_key: text("APPSIGNAL_PUSH_API_KEY").unwrap_or_default(),
            app_name: text("APPSIGNAL_APP_NAME").unwrap_or_default(),
            environment: text("APPSIGNAL_APP_ENV").unwrap_or_default(),
            endpoint,
            endpoint_as_configured,
            log_path: text("APPSIGNAL_LOG_PATH").map(PathBuf::from),
            log_level,
            working_directory_path: text("APPSIGNAL_WORKING_DIRECTORY_PATH").map(PathBuf::from),
            files_world_accessible,
            enable_host_metrics,
            hostname: text("APPSIGNAL_HOSTNAME"),
            revision: text("APPSIGNAL_REVISION"),
            transmission_interval,
            otlp_endpoint,
            otlp_headers,
            otlp_only,
            otlp_as_configured,
        };
        Loaded { config, warnings }
    }

    /// Whether payloads go to the Push API: unless OTLP-only was asked for, or OTLP
    /// is configured and there is no push API key to send with.
    pub fn push_api_enabled(&self) -> bool {
        !self.otlp_only && !self.push_api_key.is_empty()
    }

    /// Whether the agent has anywhere to send data; without, it must not start.
    pub fn has_destination(&self) -> bool {
        self.push_api_enabled() || self.otlp_endpoint.is_some()
    }

    /// Mode for directories the agent creates.
    pub fn dir_mode(&self) -> u32 {
        if self.files_world_accessible {
            0o777
        } else {
            0o755
        }
    }

    /// Mode for files the agent creates.
    pub fn file_mode(&self) -> u32 {
        if self.files_world_accessible {
            0o666
        } else {
            0o644
        }
    }
}

/// `key=value,key=value` (values may contain `=`); the offending entry on error.
fn parse_headers(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(entry.split('=').next().unwrap_or("").to_string()),
        })
        .collect()
}

fn boolean(
    env: &HashMap<String, String>,
    name: &str,
    default: bool,
    warnings: &mut Vec<String>,
) -> bool {
    let Some(raw) = env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return default;
    };
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => true,
        "false" | "0" | "no" | "off" => false,
        _ => {
            warnings.push(format!(
                "{name}={raw:?} is not true or false; using {default}"
            ));
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let loaded = Config::from_env(&env(&[]));
        let config = loaded.config;
        assert!(loaded.warnings.is_empty());
        assert_eq!(config.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(config.transmission_interval, DEFAULT_INTERVAL);
        assert_eq!(config.log_level, Level::Info);
        assert!(config.files_world_accessible && config.enable_host_metrics);
        assert_eq!((config.dir_mode(), config.file_mode()), (0o777, 0o666));
        assert!(config.push_api_key.is_empty());
    }

    #[test]
    fn values_are_read_and_fractional_intervals_allowed() {
        let config = Config::from_env(&env(&[
            ("APPSIGNAL_PUSH_API_KEY", "key"),
            ("APPSIGNAL_TRANSMISSION_INTERVAL", "0.5"),
            ("APPSIGNAL_LOG_LEVEL", "DEBUG"),
            ("APPSIGNAL_FILES_WORLD_ACCESSIBLE", "false"),
            ("APPSIGNAL_PUSH_API_ENDPOINT", "http://127.0.0.1:9/"),
        ]))
        .config;
        assert_eq!(config.transmission_interval, Duration::from_millis(500));
        assert_eq!(config.log_level, Level::Debug);
        assert_eq!(config.endpoint, "http://127.0.0.1:9");
        assert_eq!((config.dir_mode(), config.file_mode()), (0o755, 0o644));
    }

    #[test]
    fn otlp_settings_decide_where_data_goes() {
        let push_only = Config::from_env(&env(&[("APPSIGNAL_PUSH_API_KEY", "key")])).config;
        assert!(push_only.push_api_enabled() && push_only.otlp_endpoint.is_none());

        let both = Config::from_env(&env(&[
            ("APPSIGNAL_PUSH_API_KEY", "key"),
            ("APPSIGNAL_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
            (
                "APPSIGNAL_OTLP_HEADERS",
                "authorization=Bearer a=b, x-team = 7",
            ),
        ]))
        .config;
        assert!(both.push_api_enabled());
        assert_eq!(both.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(
            both.otlp_headers,
            vec![
                ("authorization".to_string(), "Bearer a=b".to_string()),
                ("x-team".to_string(), "7".to_string())
            ]
        );

        let only = Config::from_env(&env(&[
            ("APPSIGNAL_PUSH_API_KEY", "key"),
            ("APPSIGNAL_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("APPSIGNAL_OTLP_ONLY", "true"),
        ]))
        .config;
        assert!(!only.push_api_enabled() && only.has_destination());

        let keyless = Config::from_env(&env(&[("APPSIGNAL_OTLP_ENDPOINT", "https://otel:4318")]));
        assert!(keyless.warnings.is_empty());
        assert!(!keyless.config.push_api_enabled() && keyless.config.has_destination());
        assert!(!Config::from_env(&env(&[])).config.has_destination());
    }

    #[test]
    fn bad_otlp_settings_are_reported_and_ignored() {
        let loaded = Config::from_env(&env(&[
            ("APPSIGNAL_PUSH_API_KEY", "key"),
            ("APPSIGNAL_OTLP_ENDPOINT", "localhost:4318"),
            ("APPSIGNAL_OTLP_ONLY", "true"),
            ("APPSIGNAL_OTLP_HEADERS", "token"),
        ]));
        assert_eq!(loaded.config.otlp_endpoint, None);
        assert!(
            loaded.config.push_api_enabled(),
            "no endpoint: not OTLP-only"
        );
        assert!(loaded.config.otlp_headers.is_empty());
        assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
        for name in [
            "APPSIGNAL_OTLP_ENDPOINT",
            "APPSIGNAL_OTLP_ONLY",
            "APPSIGNAL_OTLP_HEADERS",
        ] {
            assert!(
                loaded.warnings.iter().any(|w| w.starts_with(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn bad_values_fall_back_and_name_the_variable() {
        let loaded = Config::from_env(&env(&[
            ("APPSIGNAL_TRANSMISSION_INTERVAL", "soon"),
            ("APPSIGNAL_LOG_LEVEL", "loud"),
            ("APPSIGNAL_ENABLE_HOST_METRICS", "maybe"),
            ("APPSIGNAL_PUSH_API_ENDPOINT", "push.example.com"),
        ]));
        assert_eq!(loaded.config.transmission_interval, DEFAULT_INTERVAL);
        assert_eq!(loaded.config.log_level, Level::Info);
        assert!(loaded.config.enable_host_metrics);
        assert_eq!(loaded.warnings.len(), 4);
        for name in [
            "APPSIGNAL_TRANSMISSION_INTERVAL",
            "APPSIGNAL_LOG_LEVEL",
            "APPSIGNAL_ENABLE_HOST_METRICS",
            "APPSIGNAL_PUSH_API_ENDPOINT",
        ] {
            assert!(
                loaded.warnings.iter().any(|w| w.starts_with(name)),
                "{name}"
            );
        }
    }
}
