//! Sends what the processor and anomaly detector put in the outbox: webhooks (JSON POST) and
//! email (SMTP). Failed deliveries are retried with exponential backoff, up to `MAX_ATTEMPTS`.

pub mod outbox;
pub mod smtp;

use crate::store::{Store, Value};
use anyhow::{anyhow, Result};
use std::time::Duration;

const MAX_ATTEMPTS: i64 = 6;
/// A claimed row whose sender died is claimed again after this long.
const CLAIM_SECS: i64 = 300;

#[derive(Debug, Clone, Default)]
pub struct SmtpConfig {
    /// `host:port`; email notifiers are skipped (and fail) without it.
    pub server: String,
    pub from: String,
}

struct Delivery {
    id: i64,
    app_name: String,
    kind: String,
    subject: String,
    body: String,
    attempts: i64,
    notifier_kind: String,
    target: String,
}

fn claim(store: &Store, now: i64) -> Result<Vec<Delivery>> {
    let mut out = Vec::new();
    store.db.transaction(&mut |tx| {
        // `state IN (...)` is repeated in the outer WHERE so that of two processes racing for a
        // row, PostgreSQL lets only the first claim it.
        let rows = tx.query(
            "UPDATE outbox SET state = 'sending', next_attempt_at = ?2
             WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?1 AND id IN
               (SELECT id FROM outbox WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?1 ORDER BY id LIMIT 20)
             RETURNING id, app_id, notifier_id, kind, subject, body, attempts",
            &[now.into(), (now + CLAIM_SECS).into()],
        )?;
        for r in rows {
            let notifier = tx.query(
                "SELECT n.kind, n.target, a.name FROM notifiers n JOIN apps a ON a.id = n.app_id WHERE n.id = ?1",
                &[r.i64(2)?.into()],
            )?;
            let Some(n) = notifier.first() else {
                continue;
            };
            out.push(Delivery {
                id: r.i64(0)?,
                app_name: n.text(2)?,
                kind: r.text(3)?,
                subject: r.text(4)?,
                body: r.text(5)?,
                attempts: r.i64(6)?,
                notifier_kind: n.text(0)?,
                target: n.text(1)?,
            });
        }
        Ok(())
    })?;
    Ok(out)
}

fn finish(store: &Store, id: i64, ok: bool, attempts: i64, now: i64) -> Result<()> {
    let attempts = attempts + 1;
    let (state, next) = if ok {
        ("sent", now)
    } else if attempts >= MAX_ATTEMPTS {
        ("failed", now)
    } else {
        ("pending", now + (1i64 << attempts.min(10)))
    };
    store.db.transaction(&mut |tx| {
        tx.exec(
            "UPDATE outbox SET state = ?2, attempts = ?3, next_attempt_at = ?4 WHERE id = ?1",
            &[id.into(), state.into(), attempts.into(), Value::I64(next)],
        )?;
        Ok(())
    })
}

async fn send(http: &reqwest::Client, smtp: &SmtpConfig, d: &Delivery) -> Result<()> {
    let body: serde_json::Value = serde_json::from_str(&d.body)?;
    match d.notifier_kind.as_str() {
        "webhook" => {
            let json = serde_json::json!({
                "app": d.app_name, "kind": d.kind, "subject": d.subject, "data": body,
            });
            let response = http
                .post(&d.target)
                .header("content-type", "application/json")
                .body(json.to_string())
                .timeout(Duration::from_secs(10))
                .send()
                .await?;
            if !response.status().is_success() {
                return Err(anyhow!(
                    "webhook {} answered {}",
                    d.target,
                    response.status()
                ));
            }
            Ok(())
        }
        "email" => {
            if smtp.server.is_empty() {
                return Err(anyhow!(
                    "email notifier {} needs --smtp HOST:PORT",
                    d.target
                ));
            }
            let text = format!(
                "{}\n\n{}",
                d.subject,
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
            smtp::send(
                &smtp.server,
                &smtp.from,
                &d.target,
                &format!("[{}] {}", d.app_name, d.subject),
                &text,
            )
            .await
        }
        other => Err(anyhow!("unknown notifier kind {other}")),
    }
}

/// One pass over the outbox. Returns how many deliveries succeeded.
pub async fn drain(
    store: &Store,
    http: &reqwest::Client,
    smtp: &SmtpConfig,
    now: i64,
) -> Result<usize> {
    let claimed = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || claim(&store, now)).await??
    };
    let mut sent = 0;
    for d in claimed {
        let result = send(http, smtp, &d).await;
        if let Err(e) = &result {
            eprintln!(
                "appsignal-server: notification {} ({}) failed: {e:#}",
                d.id, d.kind
            );
        } else {
            sent += 1;
        }
        let store = store.clone();
        let (id, ok, attempts) = (d.id, result.is_ok(), d.attempts);
        tokio::task::spawn_blocking(move || finish(&store, id, ok, attempts, now)).await??;
    }
    Ok(sent)
}
