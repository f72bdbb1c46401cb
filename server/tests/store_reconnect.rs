//! The PostgreSQL store survives its connections being closed under it (a database
//! restart, a failover, `pg_terminate_backend`): the next read and the next
//! transaction reconnect instead of failing until the server process is restarted.

use appsignal_server::store::{Store, Value};

const BASE: &str = "postgres://postgres@127.0.0.1:5432/test";
const APP_NAME: &str = "appsignal_reconnect_test";

/// Ends every session this test's store opened, from a connection of its own.
fn terminate_store_sessions() -> u64 {
    let mut admin = postgres::Client::connect(BASE, postgres::NoTls).unwrap();
    let rows = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&APP_NAME],
        )
        .unwrap();
    rows.len() as u64
}

#[test]
fn reads_and_transactions_reconnect_after_the_sessions_are_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{BASE}?schema=reconnect_test&application_name={APP_NAME}");
    let store = Store::open(&url, dir.path()).expect("PostgreSQL on 127.0.0.1:5432 (db test)");
    store
        .db
        .transaction(&mut |tx| {
            tx.exec("CREATE TABLE IF NOT EXISTS reconnect_probe (n BIGINT)", &[])?;
            tx.exec("DELETE FROM reconnect_probe", &[])?;
            Ok(())
        })
        .unwrap();
    let count = |store: &Store| -> i64 {
        let rows = store
            .db
            .read("SELECT count(*) FROM reconnect_probe", &[])
            .unwrap();
        match rows[0].0[0] {
            Value::I64(n) => n,
            ref other => panic!("count is {other:?}"),
        }
    };
    assert_eq!(count(&store), 0);

    assert_eq!(
        terminate_store_sessions(),
        2,
        "the store holds a reader and a writer"
    );
    assert_eq!(count(&store), 0, "the read reconnected");
    store
        .db
        .transaction(&mut |tx| {
            tx.exec(
                "INSERT INTO reconnect_probe (n) VALUES (?1)",
                &[Value::I64(7)],
            )?;
            Ok(())
        })
        .expect("the transaction reconnected");
    assert_eq!(count(&store), 1, "written once");

    assert_eq!(terminate_store_sessions(), 2);
    store
        .db
        .transaction(&mut |tx| {
            tx.exec(
                "INSERT INTO reconnect_probe (n) VALUES (?1)",
                &[Value::I64(8)],
            )?;
            Ok(())
        })
        .unwrap();
    assert_eq!(count(&store), 2);
}
