//! `botcoder completions` and `botcoder man`: generated from the one CLI definition.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::{self, Failure};

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<u8, Failure> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "botcoder", &mut std::io::stdout());
    Ok(exit::OK)
}

/// Writes `botcoder.1` and `botcoder-<sub>.1` pages into `out`.
pub fn man(out: &Path) -> Result<u8, Failure> {
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::new(exit::FAILED, format!("{}: {e}", out.display())))?;
    clap_mangen::generate_to(Cli::command(), out).map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!("cannot write man pages to {}: {e}", out.display()),
        )
    })?;
    eprintln!("botcoder: man pages written to {}", out.display());
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        man(dir.path()).unwrap();
        for page in [
            "botcoder.1",
            "botcoder-ask.1",
            "botcoder-watch.1",
            "botcoder-daemon.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_default();
            assert!(text.contains(".TH"), "{page} missing or empty");
        }
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
