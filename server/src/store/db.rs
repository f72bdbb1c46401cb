//! The small SQL surface both stores share. SQL is written once, with `?1`-style
//! placeholders and portable syntax (`ON CONFLICT`, `RETURNING`, `CAST`), and each backend
//! adapts it. Blocking by design: async callers go through `spawn_blocking`.

use anyhow::{anyhow, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    I64(i64),
    F64(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| anyhow!("column {i} out of range"))
    }

    pub fn i64(&self, i: usize) -> Result<i64> {
        match self.at(i)? {
            Value::I64(v) => Ok(*v),
            Value::F64(v) => Ok(*v as i64),
            Value::Null => Ok(0),
            other => Err(anyhow!("column {i}: expected integer, got {other:?}")),
        }
    }

    pub fn f64(&self, i: usize) -> Result<f64> {
        match self.at(i)? {
            Value::I64(v) => Ok(*v as f64),
            Value::F64(v) => Ok(*v),
            Value::Null => Ok(0.0),
            other => Err(anyhow!("column {i}: expected number, got {other:?}")),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            Value::Null => Ok(String::new()),
            Value::I64(v) => Ok(v.to_string()),
            other => Err(anyhow!("column {i}: expected text, got {other:?}")),
        }
    }

    pub fn blob(&self, i: usize) -> Result<Vec<u8>> {
        match self.at(i)? {
            Value::Blob(v) => Ok(v.clone()),
            Value::Text(v) => Ok(v.clone().into_bytes()),
            Value::Null => Ok(Vec::new()),
            other => Err(anyhow!("column {i}: expected blob, got {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One open transaction.
pub trait Tx {
    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Takes a lock held until the transaction ends, so that only one of several processor
    /// processes runs a periodic job (roll-up, anomaly detection) at a time. `false` when
    /// another process holds it.
    fn try_job_lock(&mut self, job: &str) -> Result<bool>;
}

pub trait Db: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// Runs `work` in one transaction: committed when it returns Ok, rolled back otherwise.
    fn transaction(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()>;
    /// A read outside any write transaction (SQLite reads from its own connection, so the
    /// dashboard does not wait on the processor).
    fn read(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
}
