//! Errors that stop the agent. Each message names what the user can change.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum AgentError {
    MissingPushApiKey,
    WorkingDir {
        path: PathBuf,
        why: String,
    },
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    Runtime(std::io::Error),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::MissingPushApiKey => write!(
                f,
                "no push API key: set APPSIGNAL_PUSH_API_KEY (or push_api_key in config/appsignal.yml); the agent cannot send data without it"
            ),
            AgentError::WorkingDir { path, why } => write!(
                f,
                "cannot use working directory {}: {why}; make it writable for this user or set APPSIGNAL_WORKING_DIRECTORY_PATH to a writable directory",
                path.display()
            ),
            AgentError::Socket { path, source } => write!(
                f,
                "cannot listen on socket {}: {source}; check the permissions of the working directory (APPSIGNAL_WORKING_DIRECTORY_PATH)",
                path.display()
            ),
            AgentError::Lock { path, source } => write!(
                f,
                "cannot write lock file {}: {source}; check the permissions of the working directory (APPSIGNAL_WORKING_DIRECTORY_PATH)",
                path.display()
            ),
            AgentError::Runtime(source) => write!(
                f,
                "cannot start the agent's event loop: {source}; check the process limits (ulimit -n, ulimit -u)"
            ),
        }
    }
}

impl std::error::Error for AgentError {}
