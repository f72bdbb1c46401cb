//! Finding and preparing the working directory that holds the socket, the lock,
//! the spooled payloads and the fallback log.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::AgentError;

pub const DEFAULT_DIR: &str = "/tmp/appsignal";
pub const HEROKU_DIR: &str = "/app/tmp/appsignal";

/// `APPSIGNAL_WORKING_DIRECTORY_PATH` wins; else a Capistrano release (`cwd` is
/// `.../releases/N` with `.../shared` beside it) uses `.../shared/appsignal`; else
/// Heroku (`DYNO` set) uses `/app/tmp/appsignal`; else `/tmp/appsignal`.
pub fn resolve(configured: Option<&Path>, cwd: Option<&Path>, on_heroku: bool) -> PathBuf {
    if let Some(path) = configured {
        return path.to_path_buf();
    }
    if let Some(shared) = cwd.and_then(capistrano_shared) {
        return shared.join("appsignal");
    }
    if on_heroku {
        return PathBuf::from(HEROKU_DIR);
    }
    PathBuf::from(DEFAULT_DIR)
}

fn capistrano_shared(cwd: &Path) -> Option<PathBuf> {
    let releases = cwd.parent()?;
    if releases.file_name()? != "releases" {
        return None;
    }
    let shared = releases.parent()?.join("shared");
    shared.is_dir().then_some(shared)
}

/// Creates the directory (and `payloads/`, `journal/`) with `dir_mode`, and proves it
/// is writable by creating and removing a probe file.
pub fn prepare(path: &Path, dir_mode: u32) -> Result<(), AgentError> {
    let fail = |why: String| AgentError::WorkingDir {
        path: path.to_path_buf(),
        why,
    };
    let existed = path.is_dir();
    DirBuilder::new()
        .recursive(true)
        .mode(dir_mode)
        .create(path)
        .map_err(|e| fail(format!("cannot create it ({e})")))?;
    if !existed {
        // The umask trims the mode given to mkdir; world-accessible must really be 0777.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(dir_mode));
    }
    for sub in ["payloads", "journal"] {
        ensure_private_subdir(&path.join(sub), dir_mode).map_err(fail)?;
    }
    let probe = path.join(format!(".write-test-{}", std::process::id()));
    std::fs::write(&probe, b"ok").map_err(|e| fail(format!("cannot write files in it ({e})")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A subdirectory the agent writes payloads or journals into must be a real
/// directory: a symlink there could send data anywhere.
fn ensure_private_subdir(path: &Path, dir_mode: u32) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(format!(
            "{} is a symlink, which the agent refuses to follow; remove it",
            path.display()
        )),
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{} exists and is not a directory; remove it",
            path.display()
        )),
        Err(_) => {
            DirBuilder::new()
                .mode(dir_mode)
                .create(path)
                .map_err(|e| format!("cannot create {} ({e})", path.display()))?;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(dir_mode));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_path_wins_then_capistrano_then_heroku_then_tmp() {
        let root = tempfile::tempdir().unwrap();
        let release = root.path().join("releases/20261124");
        std::fs::create_dir_all(&release).unwrap();
        std::fs::create_dir_all(root.path().join("shared")).unwrap();
        assert_eq!(
            resolve(Some(Path::new("/custom")), Some(&release), true),
            PathBuf::from("/custom")
        );
        assert_eq!(
            resolve(None, Some(&release), true),
            root.path().join("shared/appsignal")
        );
        let elsewhere = root.path().join("app");
        assert_eq!(
            resolve(None, Some(&elsewhere), true),
            PathBuf::from(HEROKU_DIR)
        );
        assert_eq!(
            resolve(None, Some(&elsewhere), false),
            PathBuf::from(DEFAULT_DIR)
        );
    }

    #[test]
    fn prepare_creates_world_accessible_dirs_and_refuses_symlinked_payloads() {
        let root = tempfile::tempdir().unwrap();
        let wd = root.path().join("wd");
        prepare(&wd, 0o777).unwrap();
        let mode = std::fs::metadata(&wd).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o777);
        assert!(wd.join("payloads").is_dir());

        let other = root.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::os::unix::fs::symlink(root.path(), other.join("payloads")).unwrap();
        let err = prepare(&other, 0o755).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
        assert!(err.contains("APPSIGNAL_WORKING_DIRECTORY_PATH"), "{err}");
    }
}
