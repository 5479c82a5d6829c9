//! `botcoder-tui [SESSION]`: open the TUI (the same as `botcoder` on a terminal).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let session = match args.next() {
        Some(a) if a == "--help" || a == "-h" => {
            println!(
                "botcoder-tui [SESSION]\n\nOpens the terminal UI on SESSION, or a picker of this project's sessions.\nKeys: Enter send, Alt/Shift+Enter or Ctrl-J newline, emacs editing keys (C-a C-e C-b C-f C-k C-u C-w C-y M-b M-f),\nUp/Down lines then history, Ctrl-C cancel the turn / clear the input / twice detach, Esc cancel,\nCtrl-O expand all tool output, Alt-O expand the last block (Alt-Up/Down mark another), PgUp/PgDn scroll, F2 mouse capture,\n@path attach a file, /help the slash commands."
            );
            return ExitCode::SUCCESS;
        }
        Some(a) if a == "--version" || a == "-V" => {
            println!("botcoder-tui {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        other => other,
    };
    let project = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("botcoder-tui: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(botcoder_tui::run(botcoder_tui::TuiOptions {
        session,
        project,
    })) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("botcoder-tui: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
