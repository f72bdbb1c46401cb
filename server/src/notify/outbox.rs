//! Notifications are written to an outbox inside the transaction that caused them, one row per
//! configured notifier, so a crash never loses one and a rolled-back payload never sends one.

use crate::store::{Tx, Value};
use anyhow::Result;

pub fn enqueue(
    tx: &mut dyn Tx,
    app_id: i64,
    kind: &str,
    subject: &str,
    body: &serde_json::Value,
    now: i64,
) -> Result<()> {
    let notifiers = tx.query(
        "SELECT id FROM notifiers WHERE app_id = ?1",
        &[Value::I64(app_id)],
    )?;
    let body = body.to_string();
    for notifier in notifiers {
        tx.exec(
            "INSERT INTO outbox (app_id, notifier_id, kind, subject, body, state, attempts, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6)",
            &[
                app_id.into(),
                notifier.i64(0)?.into(),
                kind.into(),
                subject.into(),
                body.clone().into(),
                now.into(),
            ],
        )?;
    }
    Ok(())
}
