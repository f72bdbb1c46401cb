//! Nanoseconds per query for typical queries, with a buffer copy of the same query as the
//! baseline measured in the same run.
//!
//! cargo run --release -p appsignal-ext-core --example sql_obfuscation_bench

use std::hint::black_box;
use std::time::Instant;

use appsignal_ext_core::sql::{obfuscate_into, Dialect};

const RUNS: usize = 9;
const ITERATIONS: usize = 20_000;

const QUERIES: &[(&str, Dialect, &str)] = &[
    (
        "AR find (pg)",
        Dialect::Postgres,
        r#"SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2"#,
    ),
    (
        "AR find, inlined (mysql)",
        Dialect::MySql,
        "SELECT `users`.* FROM `users` WHERE `users`.`email` = 'bob@example.com' LIMIT 1",
    ),
    (
        "IN list of 20 (pg)",
        Dialect::Postgres,
        r#"SELECT "posts".* FROM "posts" WHERE "posts"."id" IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)"#,
    ),
    (
        "insert_all 5 rows (mysql)",
        Dialect::MySql,
        "INSERT INTO `tags` (`name`,`created_at`) VALUES ('a','2024-01-01 10:00:00'),('b','2024-01-02 10:00:00'),('c','2024-01-03 10:00:00'),('d','2024-01-04 10:00:00'),('e','2024-01-05 10:00:00')",
    ),
    (
        "schema query (pg)",
        Dialect::Postgres,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.atttypid, a.atttypmod, c.collname, col_description(a.attrelid, a.attnum) AS comment FROM pg_attribute a LEFT JOIN pg_attrdef d ON a.attrelid = d.adrelid AND a.attnum = d.adnum LEFT JOIN pg_type t ON a.atttypid = t.oid LEFT JOIN pg_collation c ON a.attcollation = c.oid AND a.attcollation <> t.typcollation WHERE a.attrelid = '\"users\"'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    ),
    (
        "tagged, commented (generic)",
        Dialect::Generic,
        "SELECT \"jobs\".* FROM \"jobs\" WHERE \"jobs\".\"queue\" = 'default' AND \"jobs\".\"run_at\" <= '2024-01-01 10:00:00' ORDER BY \"jobs\".\"priority\" ASC LIMIT 5 /*application:Shop,job:SendMail*/",
    ),
];

fn median_ns_per_query(mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                f();
            }
            start.elapsed().as_nanos() as f64 / ITERATIONS as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples.get(RUNS / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    println!(
        "{:<28} {:>6} {:>10} {:>10} {:>7}",
        "query", "bytes", "ns/query", "copy ns", "ratio"
    );
    let mut buffer = String::with_capacity(1024);
    for &(name, dialect, sql) in QUERIES {
        let obfuscate = median_ns_per_query(|| {
            obfuscate_into(black_box(sql), dialect, &mut buffer);
            black_box(&buffer);
        });
        let copy = median_ns_per_query(|| {
            buffer.clear();
            buffer.push_str(black_box(sql));
            black_box(&buffer);
        });
        println!(
            "{:<28} {:>6} {:>10.0} {:>10.1} {:>6.0}x",
            name,
            sql.len(),
            obfuscate,
            copy,
            obfuscate / copy
        );
    }
}
