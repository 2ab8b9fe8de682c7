//! The `kefu` binary: parse the command line and configuration, set up logging, run.

use clap::{CommandFactory, FromArgMatches};
use kefu::cli::{Cli, Command};
use kefu::config::Config;

/// jemalloc in place of glibc's malloc: see Cargo.toml for why and what it was measured to do.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // The matches, not only the parsed `Cli`: an error names an option given on the command
    // line as `--listen`, one clap read from the environment as `KEFU_LISTEN`.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let config = match Config::load(&matches, cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    // The server logs at KEFU_LOG; one-shot commands stay quiet unless asked.
    let filter = match (&cli.command, cli.settings.log.is_some()) {
        (Command::Serve | Command::Demo, _) | (_, true) => config.log.clone(),
        _ => "warn".to_owned(),
    };
    let filter = match tracing_subscriber::EnvFilter::try_new(&filter) {
        Ok(f) => f,
        Err(_) => return fail(&format!("KEFU_LOG is not a valid log filter: {filter:?}")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(kefu::cli::run(cli, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

fn fail(message: &str) -> std::process::ExitCode {
    eprintln!("kefu: {message}");
    std::process::ExitCode::FAILURE
}
