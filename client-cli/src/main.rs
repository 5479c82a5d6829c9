//! `botcoder`: the command-line client of botcoderd.

mod cli;
mod commands;
mod exit;
mod output;
mod render;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(c) => c,
        // On a terminal, no subcommand opens the TUI; in a pipe, teach.
        None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
            Command::Tui { session: None }
        }
        None => {
            let _ = Cli::command().print_help();
            return ExitCode::from(exit::USAGE);
        }
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
            Command::Attach { session } => tui(Some(session)).await,
            Command::Tui { session } => tui(session).await,
            Command::Sessions(cmd) => commands::sessions::run(cmd).await,
            Command::Status(flag) => commands::status::run(flag.json).await,
            Command::Acp => commands::acp::run().await,
            Command::Undo(args) => commands::undo::run_revert(args, true).await,
            Command::Redo(args) => commands::undo::run_revert(args, false).await,
            Command::Diff(args) => commands::undo::run_diff(args).await,
            Command::Daemon(cmd) => commands::daemon::run(cmd).await,
            Command::Completions { shell } => commands::docs::completions(shell),
            Command::Config(cmd) => commands::config::run(cmd).await,
            Command::Doctor(flag) => commands::doctor::run(flag.json).await,
            Command::Mcp(cmd) => commands::mcp::run(cmd).await,
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

async fn tui(session: Option<String>) -> Result<u8, Failure> {
    let project = std::env::current_dir().unwrap_or_else(|_| ".".into());
    botcoder_tui::run(botcoder_tui::TuiOptions { session, project })
        .await
        .map(|()| exit::OK)
        .map_err(|e| Failure::new(e.code, e.message))
}

fn report(f: Failure) -> ExitCode {
    if !f.message.is_empty() {
        eprintln!("botcoder: {}", output::terminal_safe(&f.message));
    }
    ExitCode::from(f.code)
}
