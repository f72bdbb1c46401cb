//! `appsignal-test-receiver --listen 127.0.0.1:0 [--port-file PATH]`: runs the test
//! Push API receiver until killed. Prints `listening on http://127.0.0.1:PORT`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:0".to_string());
    let receiver = match appsignal_testkit::PushReceiver::bind(&listen) {
        Ok(receiver) => receiver,
        Err(e) => {
            eprintln!("appsignal-test-receiver: cannot listen on {listen}: {e}");
            std::process::exit(2);
        }
    };
    if let Some(path) = arg("--port-file") {
        let tmp = format!("{path}.tmp");
        if std::fs::write(&tmp, receiver.port().to_string())
            .and_then(|_| std::fs::rename(&tmp, &path))
            .is_err()
        {
            eprintln!("appsignal-test-receiver: cannot write --port-file {path}");
            std::process::exit(2);
        }
    }
    println!("listening on {}", receiver.endpoint());
    loop {
        std::thread::park();
    }
}
