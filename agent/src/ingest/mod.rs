//! `{working_dir}/agent.socket`: accepts any number of extension connections and
//! feeds their frames to the pipeline.

mod connection;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::sync::Notify;

use crate::error::AgentError;
use crate::health::{self, Health};
use crate::log::{debug, warning};
use crate::pipeline::SharedPipeline;
use crate::shutdown::Shutdown;

pub const SOCKET_FILE: &str = "agent.socket";

/// Replaces whatever is at the socket path with a fresh listening socket. Anything
/// there (an old agent's socket, a planted symlink) is unlinked, never followed.
pub fn bind(
    working_dir: &Path,
    file_mode: u32,
) -> Result<std::os::unix::net::UnixListener, AgentError> {
    let path = working_dir.join(SOCKET_FILE);
    let fail = |source| AgentError::Socket {
        path: path.clone(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        let kind = meta.file_type();
        if kind.is_symlink() {
            warning!(
                "{} was a symlink; removed it instead of following it",
                path.display()
            );
        } else if !kind.is_socket() {
            warning!(
                "{} was not a socket; replacing it with the agent socket",
                path.display()
            );
        }
        std::fs::remove_file(&path).map_err(fail)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(&path).map_err(fail)?;
    // Connecting needs write permission: world-accessible lets apps running as other
    // users reach the agent.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file_mode)).map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    Ok(listener)
}

pub fn socket_path(working_dir: &Path) -> PathBuf {
    working_dir.join(SOCKET_FILE)
}

/// Accepts until shutdown, one task per connection.
pub async fn serve(
    listener: std::os::unix::net::UnixListener,
    pipeline: SharedPipeline,
    health: Arc<Health>,
    flush_now: Arc<Notify>,
    shutdown: Shutdown,
) -> Result<(), AgentError> {
    let listener = UnixListener::from_std(listener).map_err(AgentError::Runtime)?;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    health::add(&health.connections, 1);
                    debug!("client connected");
                    tokio::spawn(connection::read_frames(
                        stream,
                        pipeline.clone(),
                        health.clone(),
                        flush_now.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    warning!("accepting a client connection failed: {e}; check ulimit -n");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}
