//! Apps, triggers and notifiers: the things an operator creates from the CLI or dashboard.

use super::Store;
use anyhow::{anyhow, Result};

#[derive(Debug, Clone)]
pub struct App {
    pub id: i64,
    pub name: String,
    pub api_key: String,
}

#[derive(Debug, Clone, Default)]
pub struct NewTrigger {
    /// `error_rate`, `mean_duration`, `throughput`, `gauge` or `host`.
    pub metric: String,
    pub namespace: String,
    pub action: String,
    /// Metric name for `gauge`/`host` triggers.
    pub name: String,
    pub hostname: String,
    /// `KEY=VALUE`: only the series with this tag (gauge and host triggers), e.g. `state=used`.
    pub tag: String,
    pub above: f64,
    /// Consecutive OK minutes before an open alert closes.
    pub close_after: i64,
}

pub const TRIGGER_METRICS: &[&str] =
    &["error_rate", "mean_duration", "throughput", "gauge", "host"];

/// 32 random bytes as 64 hex characters.
pub fn new_api_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow!("no randomness for API key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Store {
    pub fn create_app(&self, name: &str, now: i64) -> Result<App> {
        let name = name.trim();
        if name.is_empty() {
            return Err(anyhow!("app name must not be empty"));
        }
        let key = new_api_key()?;
        let mut id = 0;
        self.db
            .transaction(&mut |tx| {
                let rows = tx.query(
                    "INSERT INTO apps (name, api_key, created_at) VALUES (?1, ?2, ?3) RETURNING id",
                    &[name.into(), (&key).into(), now.into()],
                )?;
                id = rows
                    .first()
                    .ok_or_else(|| anyhow!("insert returned no id"))?
                    .i64(0)?;
                Ok(())
            })
            .map_err(|e| anyhow!("cannot create app {name:?} (does it exist already?): {e}"))?;
        Ok(App {
            id,
            name: name.to_string(),
            api_key: key,
        })
    }

    pub fn apps(&self) -> Result<Vec<App>> {
        self.db
            .read("SELECT id, name, api_key FROM apps ORDER BY name", &[])?
            .iter()
            .map(|r| {
                Ok(App {
                    id: r.i64(0)?,
                    name: r.text(1)?,
                    api_key: r.text(2)?,
                })
            })
            .collect()
    }

    pub fn app_by_key(&self, key: &str) -> Result<Option<App>> {
        Ok(self.apps()?.into_iter().find(|a| a.api_key == key))
    }

    pub fn app_by_name(&self, name: &str) -> Result<App> {
        self.apps()?
            .into_iter()
            .find(|a| a.name == name)
            .ok_or_else(|| {
                anyhow!("no app named {name:?}; create it with `appsignal-server app create`")
            })
    }

    pub fn app_by_id(&self, id: i64) -> Result<Option<App>> {
        Ok(self.apps()?.into_iter().find(|a| a.id == id))
    }

    pub fn create_trigger(&self, app_id: i64, t: &NewTrigger, now: i64) -> Result<i64> {
        if !TRIGGER_METRICS.contains(&t.metric.as_str()) {
            return Err(anyhow!(
                "--metric {}: use one of {}",
                t.metric,
                TRIGGER_METRICS.join(", ")
            ));
        }
        if (t.metric == "gauge" || t.metric == "host") && t.name.is_empty() {
            return Err(anyhow!(
                "--metric {} needs --name (the metric name)",
                t.metric
            ));
        }
        if !t.tag.is_empty() && !t.tag.contains('=') {
            return Err(anyhow!(
                "--tag {}: write it as KEY=VALUE, e.g. state=used",
                t.tag
            ));
        }
        let mut id = 0;
        self.db.transaction(&mut |tx| {
            let rows = tx.query(
                "INSERT INTO triggers (app_id, metric, namespace, action, name, hostname, above, close_after, last_evaluated, ok_streak, created_at, tag)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, ?9, ?10) RETURNING id",
                &[
                    app_id.into(),
                    (&t.metric).into(),
                    (&t.namespace).into(),
                    (&t.action).into(),
                    (&t.name).into(),
                    (&t.hostname).into(),
                    t.above.into(),
                    t.close_after.max(1).into(),
                    now.into(),
                    (&t.tag).into(),
                ],
            )?;
            id = rows.first().ok_or_else(|| anyhow!("insert returned no id"))?.i64(0)?;
            Ok(())
        })?;
        Ok(id)
    }

    pub fn add_notifier(&self, app_id: i64, kind: &str, target: &str) -> Result<i64> {
        let mut id = 0;
        self.db.transaction(&mut |tx| {
            let rows = tx.query(
                "INSERT INTO notifiers (app_id, kind, target) VALUES (?1, ?2, ?3) RETURNING id",
                &[app_id.into(), kind.into(), target.into()],
            )?;
            id = rows
                .first()
                .ok_or_else(|| anyhow!("insert returned no id"))?
                .i64(0)?;
            Ok(())
        })?;
        Ok(id)
    }
}
