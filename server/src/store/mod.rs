//! Where processed data lives: SQLite in the data directory by default, PostgreSQL for
//! scale-out. Both speak the portable SQL in `db.rs`.

pub mod admin;
pub mod db;
pub mod migrations;
pub mod postgres;
pub mod sqlite;

pub use db::{Db, Dialect, Row, Tx, Value};

use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct Store {
    pub db: Arc<dyn Db>,
}

impl Store {
    /// `spec` is the `--store` value: empty or `sqlite` for `DATA/appsignal.sqlite3`,
    /// `sqlite:PATH`, or a `postgres://` URL.
    pub fn open(spec: &str, data_dir: &Path) -> Result<Self> {
        let db: Arc<dyn Db> =
            if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
                Arc::new(postgres::PostgresDb::open(spec)?)
            } else {
                let path = match spec.strip_prefix("sqlite:") {
                    Some(path) if !path.is_empty() => Path::new(path).to_path_buf(),
                    _ => {
                        std::fs::create_dir_all(data_dir).with_context(|| {
                            format!("cannot create --data directory {}", data_dir.display())
                        })?;
                        data_dir.join("appsignal.sqlite3")
                    }
                };
                Arc::new(sqlite::SqliteDb::open(&path)?)
            };
        migrations::migrate(db.as_ref())?;
        Ok(Self { db })
    }
}
