//! A minimal SMTP client (plain, no auth): enough for a local relay such as Postfix or an
//! internal smarthost, which is what a self-hosted server mails through.

use anyhow::{anyhow, Result};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn expect<R: AsyncBufReadExt + Unpin>(reader: &mut R, code: &str) -> Result<()> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(anyhow!("SMTP server closed the connection"));
        }
        if !line.starts_with(code) {
            return Err(anyhow!("SMTP: expected {code}, got {}", line.trim_end()));
        }
        // "250-..." continues a multi-line reply; "250 ..." ends it.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

pub async fn send(server: &str, from: &str, to: &str, subject: &str, text: &str) -> Result<()> {
    tokio::time::timeout(
        Duration::from_secs(20),
        send_inner(server, from, to, subject, text),
    )
    .await
    .map_err(|_| anyhow!("SMTP {server} timed out"))?
}

async fn send_inner(server: &str, from: &str, to: &str, subject: &str, text: &str) -> Result<()> {
    if [from, to, subject].iter().any(|s| s.contains(['\r', '\n'])) {
        return Err(anyhow!("line breaks in an email header"));
    }
    let stream = TcpStream::connect(server).await?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    expect(&mut reader, "220").await?;
    for (command, code) in [
        ("EHLO appsignal-server".to_string(), "250"),
        (format!("MAIL FROM:<{from}>"), "250"),
        (format!("RCPT TO:<{to}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        write.write_all(format!("{command}\r\n").as_bytes()).await?;
        expect(&mut reader, code).await?;
    }
    let mut message = format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    for line in text.lines() {
        // Dot-stuffing: a line starting with "." would otherwise end the message early.
        if line.starts_with('.') {
            message.push('.');
        }
        message.push_str(line);
        message.push_str("\r\n");
    }
    message.push_str(".\r\n");
    write.write_all(message.as_bytes()).await?;
    expect(&mut reader, "250").await?;
    write.write_all(b"QUIT\r\n").await?;
    Ok(())
}
