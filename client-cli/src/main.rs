//! `botcoder`: the command-line client of botcoderd.

mod cli;
mod commands;
mod exit;
mod output;
mod render;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        // The TUI is opened here once it exists; until then, teach.
        let _ = Cli::command().print_help();
        return ExitCode::from(exit::USAGE);
    };
    // Blocking stdin reads happen before the runtime starts.
    let prompt = match &command {
        Command::Ask(args) => match commands::ask::read_prompt(args) {
            Ok(p) => Some(p),
            Err(f) => return report(f),
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(Failure::new(
                exit::FAILED,
                format!("cannot start the async runtime: {e}"),
            ));
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Ask(args) => commands::ask::run(args, prompt.unwrap_or_default()).await,
            Command::Watch(args) => commands::watch::run(args).await,
            Command::Sessions(cmd) => commands::sessions::run(cmd).await,
            Command::Status(flag) => commands::status::run(flag.json).await,
            Command::Daemon(cmd) => commands::daemon::run(cmd).await,
            Command::Completions { shell } => commands::docs::completions(shell),
            Command::Config(cmd) => commands::config::run(cmd),
            Command::Doctor(flag) => commands::doctor::run(flag.json).await,
            Command::Man { out } => commands::docs::man(&out),
        }
    });
    // Do not wait for background tasks (e.g. a subscription being torn down).
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => report(f),
    }
}

fn report(f: Failure) -> ExitCode {
    if !f.message.is_empty() {
        eprintln!("botcoder: {}", f.message);
    }
    ExitCode::from(f.code)
}
