//! PostgreSQL backend for scale-out: several processor processes share one database.
//! `?N` placeholders become `$N`; a `schema=NAME` URL parameter selects (and creates) a schema,
//! which is how tests and tenants keep their tables apart.

use super::db::{Db, Dialect, Row, Tx, Value};
use anyhow::{anyhow, Context, Result};
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, NoTls, Statement};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct PostgresDb {
    writer: Mutex<OwnedClient>,
    reader: Mutex<OwnedClient>,
}

/// Where a client connects, kept to connect again after PostgreSQL restarted or
/// closed the connection.
#[derive(Clone)]
struct Target {
    url: String,
    schema: Option<String>,
}

/// A client whose drop is safe inside a tokio runtime: `postgres::Client` blocks on its own
/// runtime when dropped, which panics on an async thread, so there it is dropped on a thread
/// of its own. It keeps its prepared statements by SQL text: executing a cached statement is
/// one round trip instead of two (parse, then execute), which halves the processor's time.
/// A closed connection is replaced on the next use.
struct OwnedClient {
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    target: Target,
}

/// Distinct statements kept per connection; past this the cache starts over.
const MAX_STATEMENTS: usize = 512;

impl OwnedClient {
    fn connect(target: Target) -> Result<Self> {
        let client = connect(&target.url, target.schema.as_deref())?;
        Ok(Self {
            client: Some(client),
            statements: HashMap::new(),
            target,
        })
    }

    /// Whether the connection is gone (server restart, terminated backend, network).
    fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    fn get(&mut self) -> Result<(&mut Client, &mut HashMap<String, Statement>)> {
        if self.is_closed() {
            // Statements belong to the old connection.
            self.statements.clear();
            dispose(self.client.take());
            let client = connect(&self.target.url, self.target.schema.as_deref())
                .context("reconnecting to PostgreSQL")?;
            eprintln!("appsignal-server: the PostgreSQL connection was closed; reconnected");
            self.client = Some(client);
        }
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| anyhow!("PostgreSQL client already closed"))?;
        Ok((client, &mut self.statements))
    }

    /// Runs `work` with the client; when it fails because the connection closed
    /// under it, once more on a new connection (the failed try left nothing behind:
    /// a transaction on a lost connection is rolled back by the server).
    fn with_retry<T>(
        &mut self,
        mut work: impl FnMut(&mut Client, &mut HashMap<String, Statement>) -> Result<T>,
    ) -> Result<T> {
        let (client, statements) = self.get()?;
        match work(client, statements) {
            Err(e) if self.is_closed() || connection_lost(&e) => {
                dispose(self.client.take());
                eprintln!(
                    "appsignal-server: PostgreSQL connection lost ({e:#}); retrying on a new one"
                );
                let (client, statements) = self.get()?;
                work(client, statements)
            }
            other => other,
        }
    }
}

/// An error that means the connection is unusable: closed, or the server ended the
/// session (restart, `pg_terminate_backend`, shutdown).
fn connection_lost(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<postgres::Error>().is_some_and(|e| {
            e.is_closed()
                || e.code().is_some_and(|code| {
                    [
                        postgres::error::SqlState::ADMIN_SHUTDOWN,
                        postgres::error::SqlState::CRASH_SHUTDOWN,
                        postgres::error::SqlState::CANNOT_CONNECT_NOW,
                    ]
                    .contains(code)
                })
        })
    })
}

/// Drops a client off the async threads (see `OwnedClient`).
fn dispose(client: Option<Client>) {
    if let Some(client) = client {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::spawn(move || drop(client));
        }
    }
}

/// The prepared form of `sql` (with `?N` placeholders), from the cache or prepared now.
fn prepared<C: GenericClient>(
    client: &mut C,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement> {
    if let Some(statement) = cache.get(sql) {
        return Ok(statement.clone());
    }
    if cache.len() >= MAX_STATEMENTS {
        cache.clear();
    }
    let statement = client.prepare(&to_pg_placeholders(sql))?;
    cache.insert(sql.to_string(), statement.clone());
    Ok(statement)
}

impl Drop for OwnedClient {
    fn drop(&mut self) {
        dispose(self.client.take());
    }
}

/// Splits our own `schema=` parameter off the URL, as libpq does not know it.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("schema=") {
            Some(name) => {
                schema = Some(name.to_string());
                false
            }
            None => !kv.is_empty(),
        })
        .collect();
    if rest.is_empty() {
        (base.to_string(), schema)
    } else {
        (format!("{base}?{}", rest.join("&")), schema)
    }
}

fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 60
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn connect(url: &str, schema: Option<&str>) -> Result<Client> {
    let mut client = Client::connect(url, NoTls)
        .with_context(|| format!("cannot connect to PostgreSQL at --store {url}"))?;
    if let Some(schema) = schema {
        if !valid_identifier(schema) {
            return Err(anyhow!(
                "--store schema={schema}: use letters, digits and _ only"
            ));
        }
        client.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema};"
        ))?;
    }
    Ok(client)
}

impl PostgresDb {
    pub fn open(url: &str) -> Result<Self> {
        let (url, schema) = split_schema(url);
        let target = Target { url, schema };
        Ok(Self {
            writer: Mutex::new(OwnedClient::connect(target.clone())?),
            reader: Mutex::new(OwnedClient::connect(target)?),
        })
    }
}

/// `?1` → `$1`. Our SQL never contains a literal `?` followed by a digit.
pub fn to_pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(|n| n.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn to_params(params: &[Value]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync> {
            match v {
                Value::I64(v) => Box::new(*v),
                Value::F64(v) => Box::new(*v),
                Value::Text(v) => Box::new(v.clone()),
                Value::Blob(v) => Box::new(v.clone()),
                Value::Null => Box::new(Option::<i64>::None),
            }
        })
        .collect()
}

fn decode(row: &postgres::Row) -> Result<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Value::I64)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::I64(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?
                .map(|v| Value::I64(v.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)?.map(Value::F64)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)?
                .map(|v| Value::F64(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?
                .map(|v| Value::I64(v.into()))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
        } else {
            row.try_get::<_, Option<String>>(i)
                .with_context(|| format!("column {} has unsupported type {ty}", column.name()))?
                .map(Value::Text)
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

fn refs(params: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref()).collect()
}

struct PgTx<'a, 'b>(
    &'a mut postgres::Transaction<'b>,
    &'a mut HashMap<String, Statement>,
);

impl Tx for PgTx<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let owned = to_params(params);
        let statement = prepared(self.0, self.1, sql)?;
        Ok(self.0.execute(&statement, &refs(&owned))?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let owned = to_params(params);
        let statement = prepared(self.0, self.1, sql)?;
        self.0
            .query(&statement, &refs(&owned))?
            .iter()
            .map(decode)
            .collect()
    }

    fn try_job_lock(&mut self, job: &str) -> Result<bool> {
        // A stable key per job name; released when the transaction ends.
        let key = job.bytes().fold(1469598103934665603u64, |h, b| {
            (h ^ b as u64).wrapping_mul(1099511628211)
        }) as i64;
        let row = self
            .0
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&key])?;
        Ok(row.try_get::<_, bool>(0)?)
    }
}

impl Db for PostgresDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn transaction(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| anyhow!("PostgreSQL writer lock poisoned"))?;
        guard.with_retry(|client, statements| {
            let mut tx = client.transaction()?;
            work(&mut PgTx(&mut tx, statements))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn read(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut guard = self
            .reader
            .lock()
            .map_err(|_| anyhow!("PostgreSQL reader lock poisoned"))?;
        let owned = to_params(params);
        guard.with_retry(|client, statements| {
            let statement = prepared(client, statements, sql)?;
            client
                .query(&statement, &refs(&owned))?
                .iter()
                .map(decode)
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_schema_are_translated() {
        assert_eq!(
            to_pg_placeholders("a = ?1 AND b = ?12"),
            "a = $1 AND b = $12"
        );
        assert_eq!(
            split_schema("postgres://u@h/db?schema=t1&sslmode=disable"),
            (
                "postgres://u@h/db?sslmode=disable".into(),
                Some("t1".into())
            )
        );
        assert_eq!(
            split_schema("postgres://u@h/db"),
            ("postgres://u@h/db".into(), None)
        );
    }
}
