//! SQLite backend: one writer connection and one reader connection on a WAL database, so the
//! dashboard reads while the processor writes.

use super::db::{Db, Dialect, Row, Tx, Value};
use anyhow::{anyhow, Result};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use std::path::Path;
use std::sync::Mutex;

pub struct SqliteDb {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

pub fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| anyhow!("cannot open SQLite database {}: {e}", path.display()))?;
    // WAL lets the reader run beside the writer; NORMAL sync keeps every committed
    // transaction across a process crash (only an OS crash can lose the last ones).
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=OFF;",
    )?;
    Ok(conn)
}

impl SqliteDb {
    pub fn open(path: &Path) -> Result<Self> {
        let writer = open_connection(path)?;
        let reader = open_connection(path)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::I64(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::F64(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn run_query(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::I64(v),
                ValueRef::Real(v) => Value::F64(v),
                ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                ValueRef::Blob(v) => Value::Blob(v.to_vec()),
            });
        }
        out.push(Row(values));
    }
    Ok(out)
}

struct SqliteTx<'a>(&'a rusqlite::Transaction<'a>);

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        run_query(self.0, sql, params)
    }

    fn try_job_lock(&mut self, _job: &str) -> Result<bool> {
        // One SQLite writer per data directory: the write transaction is the lock.
        Ok(true)
    }
}

impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn transaction(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| anyhow!("SQLite writer lock poisoned"))?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        work(&mut SqliteTx(&tx))?;
        tx.commit()?;
        Ok(())
    }

    fn read(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| anyhow!("SQLite reader lock poisoned"))?;
        run_query(&conn, sql, params)
    }
}
