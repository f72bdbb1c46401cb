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
    /// The OTLP settings as given, from [`otlp_settings`]: changing them needs a new
    /// agent as much as changing the endpoint does.
    pub otlp: &'a str,
}

/// `APPSIGNAL_OTLP_ENDPOINT`, `APPSIGNAL_OTLP_HEADERS` and `APPSIGNAL_OTLP_ONLY`
/// exactly as given (empty when unset), as one identity field for both sides.
pub fn otlp_settings(endpoint: &str, headers: &str, only: &str) -> String {
    format!("{endpoint}\n{headers}\n{only}")
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
            self.otlp,
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

/// Whether the process a lock names is a live agent. Signal 0 answers for any
/// process (EPERM: alive, another user's, as in a shared working directory), but a
/// SIGKILLed agent stays a zombie until init reaps it, which some inits do only
/// every few seconds: a zombie counts as dead, or a new agent would wait for it.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    let signalled = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    };
    signalled && !is_zombie(raw)
}

/// State `Z` (zombie) or `X` (dead) in `/proc/{pid}/stat`. Unreadable (no /proc,
/// `hidepid`) counts as not a zombie: signal 0 has the last word then.
pub fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows
    // the last ')'.
    stat.rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
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
            otlp: "",
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
        let otlp = otlp_settings("http://collector:4318", "", "");
        let exporting = AgentIdentity {
            otlp: &otlp,
            ..base
        };
        assert_ne!(fp, exporting.fingerprint());
    }

    #[test]
    fn our_own_pid_is_alive_and_a_zombie_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        // An exited child not yet reaped is what a SIGKILLed agent is until init reaps it.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !is_zombie(pid as i32) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(is_zombie(pid as i32), "child {pid} never became a zombie");
        assert!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok(),
            "signal 0 still reaches a zombie"
        );
        assert!(!pid_alive(pid));
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }
}
