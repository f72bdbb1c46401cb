//! `{working_dir}/agent.lock`: which agent owns the working directory, for which
//! configuration. Written by the agent, read by the extension (to decide whether to
//! reuse the running agent or start one) and by older agents (to see they were
//! replaced and exit).
//!
//! Format, one `key=value` per line:
//! ```text
//! pid=1234
//! version=0.1.0
//! config=9f86d081884c7d65
//! started_at=1732450000
//! ```

/// The configuration an agent serves. Two processes with equal fingerprints share
/// one agent; a different fingerprint starts a new agent that takes over.
pub struct AgentIdentity<'a> {
    pub app_name: &'a str,
    pub environment: &'a str,
    pub push_api_key: &'a str,
    pub endpoint: &'a str,
    pub working_dir: &'a str,
}

impl AgentIdentity<'_> {
    /// A stable 64-bit FNV-1a hash of the identity, as 16 hex digits. The push API key
    /// goes in, but cannot be read back out of 64 bits mixed with the other fields.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf29ce484222325;
        for part in [
            self.app_name,
            self.environment,
            self.push_api_key,
            self.endpoint,
            self.working_dir,
        ] {
            for byte in part.bytes().chain(std::iter::once(0u8)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x100000001b3);
            }
        }
        format!("{hash:016x}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLock {
    pub pid: u32,
    pub version: String,
    pub config: String,
    pub started_at: u64,
}

impl AgentLock {
    pub fn render(&self) -> String {
        format!(
            "pid={}\nversion={}\nconfig={}\nstarted_at={}\n",
            self.pid, self.version, self.config, self.started_at
        )
    }

    /// `None` when a field is missing or unreadable (a half-written or foreign file).
    pub fn parse(text: &str) -> Option<AgentLock> {
        let (mut pid, mut version, mut config, mut started_at) = (None, None, None, None);
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => pid = v.trim().parse().ok(),
                Some(("version", v)) => version = Some(v.trim().to_string()),
                Some(("config", v)) => config = Some(v.trim().to_string()),
                Some(("started_at", v)) => started_at = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(AgentLock {
            pid: pid?,
            version: version?,
            config: config?,
            started_at: started_at?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_round_trips_and_rejects_partial_files() {
        let lock = AgentLock {
            pid: 42,
            version: "0.1.0".into(),
            config: "abc".into(),
            started_at: 7,
        };
        assert_eq!(AgentLock::parse(&lock.render()), Some(lock));
        assert_eq!(AgentLock::parse("pid=42\nversion=0.1.0\n"), None);
    }

    #[test]
    fn fingerprint_changes_with_every_field_and_hides_the_key() {
        let base = AgentIdentity {
            app_name: "a",
            environment: "e",
            push_api_key: "secret-key",
            endpoint: "x",
            working_dir: "/w",
        };
        let other = AgentIdentity {
            push_api_key: "other-key",
            ..base
        };
        let fp = base.fingerprint();
        assert_eq!(fp.len(), 16);
        assert_ne!(fp, other.fingerprint());
        assert!(!fp.contains("secret"));
        // field boundaries matter: "ab"+"" differs from "a"+"b"
        let shifted = AgentIdentity {
            app_name: "ae",
            environment: "",
            ..base
        };
        assert_ne!(fp, shifted.fingerprint());
    }
}
