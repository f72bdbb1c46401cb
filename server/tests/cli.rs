//! The CLI contract, through the shipped binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_appsignal-server");

#[test]
fn app_create_prints_the_key_last_and_serve_is_the_default_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = Command::new(BIN)
        .args(["app", "create", "shop", "--data", data])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap();
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    // A duplicate name fails with a message naming the app.
    let dup = Command::new(BIN)
        .args(["app", "create", "shop", "--data", data])
        .output()
        .unwrap();
    assert!(!dup.status.success());

    let t = Command::new(BIN)
        .args([
            "trigger",
            "create",
            "--app",
            "shop",
            "--metric",
            "error_rate",
            "--namespace",
            "web",
            "--above",
            "5",
            "--data",
            data,
        ])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let n = Command::new(BIN)
        .args([
            "notifier",
            "add",
            "--app",
            "shop",
            "--webhook",
            "http://127.0.0.1:1/x",
            "--data",
            data,
        ])
        .output()
        .unwrap();
    assert!(n.status.success(), "{}", String::from_utf8_lossy(&n.stderr));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args(["--data", data, "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}/")),
        "{line}"
    );
}
