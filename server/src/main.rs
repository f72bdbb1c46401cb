use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = appsignal_server::cli::Cli::parse();
    match appsignal_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("appsignal-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
