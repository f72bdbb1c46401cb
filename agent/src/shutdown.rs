//! One shutdown signal passed to every task: why the agent is stopping, set once.

use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Signal(&'static str),
    LockGone,
    Replaced {
        by_pid: u32,
    },
    WorkingDirGone,
    /// The socket could not be served; the lock is still this agent's.
    IngestFailed,
}

impl Reason {
    /// Whether this agent still owns the socket and lock and should remove them.
    pub fn still_owner(&self) -> bool {
        matches!(self, Reason::Signal(_) | Reason::IngestFailed)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Signal(name) => write!(f, "received {name}"),
            Reason::LockGone => write!(f, "agent.lock was removed"),
            Reason::Replaced { by_pid } => write!(f, "agent {by_pid} took over agent.lock"),
            Reason::WorkingDirGone => write!(f, "the working directory was removed"),
            Reason::IngestFailed => write!(f, "the agent socket could not be served"),
        }
    }
}

#[derive(Clone)]
pub struct Shutdown {
    sender: watch::Sender<Option<Reason>>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            sender: watch::channel(None).0,
        }
    }

    /// The first reason wins; later triggers are ignored.
    pub fn trigger(&self, reason: Reason) {
        self.sender.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub fn reason(&self) -> Option<Reason> {
        self.sender.borrow().clone()
    }

    /// Resolves once shutdown was triggered.
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|reason| reason.is_some()).await;
    }
}
