//! Slash commands: parsed and completed locally, so a command never reaches the model (an
//! unknown `/word` is an error shown here; `//` at the start sends a literal slash).

use botcoder_protocol::ApprovalPolicy;

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Show the commands.
    Help,
    /// Start a new session in this project and switch to it.
    New,
    /// Back to the session picker.
    Sessions,
    /// Show (`None`) or set the model.
    Model(Option<String>),
    /// Set the approval policy.
    Approval(ApprovalPolicy),
    /// Rename the session.
    Rename(String),
    /// Cancel the running turn.
    Cancel,
    /// Summarise older context.
    Compact,
    /// Show the session's changes.
    Diff,
    /// Revert the last turn's file changes.
    Undo,
    /// Re-apply what the last undo reverted.
    Redo,
    /// Detach (the session keeps running).
    Quit,
}

/// Every command: name, argument hint, what it does (the `/help` text and the popup).
pub const COMMANDS: [(&str, &str, &str); 14] = [
    ("/help", "", "list these commands"),
    ("/new", "", "start a new session in this project"),
    ("/sessions", "", "pick another session"),
    ("/model", "[name]", "show or set the model"),
    ("/approval", "auto|ask|read-only", "set the approval policy"),
    ("/rename", "<title>", "rename this session"),
    ("/cancel", "", "cancel the running turn"),
    ("/compact", "", "summarise older context to free the window"),
    ("/diff", "", "show this session's file changes"),
    ("/undo", "", "revert the last turn's file changes"),
    ("/redo", "", "re-apply what /undo reverted"),
    (
        "/clear",
        "",
        "clear the screen (the session keeps its history)",
    ),
    ("/quit", "", "detach; the session keeps running"),
    ("/exit", "", "the same as /quit"),
];

/// What Enter does with the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Send this text to the model.
    Message(String),
    /// Run a command.
    Command(Command),
    /// Clear the transcript on this screen.
    Clear,
    /// Show this error locally.
    Error(String),
}

/// Commands whose name starts with `word` (the popup), best first.
pub fn complete(word: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    COMMANDS
        .iter()
        .filter(|(name, _, _)| name.starts_with(word))
        .copied()
        .collect()
}

/// Parses what Enter sends. `text` starting with `/` is a command unless it starts `//`.
pub fn parse(text: &str) -> Parsed {
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix("//") {
        return Parsed::Message(format!("/{rest}"));
    }
    if !trimmed.starts_with('/') {
        return Parsed::Message(text.to_owned());
    }
    let (word, arg) = match trimmed.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (trimmed.trim_end(), ""),
    };
    // An unambiguous prefix is the command it starts (`/he` is /help).
    let matches = complete(word);
    let name = match COMMANDS.iter().find(|(n, _, _)| *n == word) {
        Some((n, _, _)) => *n,
        None if matches.len() == 1 => matches[0].0,
        None if matches.is_empty() => {
            return Parsed::Error(format!(
                "unknown command {word} (not sent; /help lists the commands, // sends a literal slash)"
            ));
        }
        None => {
            let names: Vec<&str> = matches.iter().map(|m| m.0).collect();
            return Parsed::Error(format!("{word} could be {}", names.join(", ")));
        }
    };
    let cmd = match name {
        "/help" => Command::Help,
        "/new" => Command::New,
        "/sessions" => Command::Sessions,
        "/model" => Command::Model((!arg.is_empty()).then(|| arg.to_owned())),
        "/approval" => match arg {
            "auto" => Command::Approval(ApprovalPolicy::Auto),
            "ask" => Command::Approval(ApprovalPolicy::Ask),
            "read-only" | "readonly" | "read_only" => Command::Approval(ApprovalPolicy::ReadOnly),
            _ => {
                return Parsed::Error(format!(
                    "/approval takes auto, ask or read-only (got {arg:?})"
                ));
            }
        },
        "/rename" if arg.is_empty() => {
            return Parsed::Error("/rename needs a title: /rename <title>".into());
        }
        "/rename" => Command::Rename(arg.to_owned()),
        "/cancel" => Command::Cancel,
        "/compact" => Command::Compact,
        "/diff" => Command::Diff,
        "/undo" => Command::Undo,
        "/redo" => Command::Redo,
        "/clear" => return Parsed::Clear,
        _ => Command::Quit,
    };
    Parsed::Command(cmd)
}

/// The `/help` text.
pub fn help() -> String {
    let mut out = String::from("Commands (never sent to the model):\n");
    for (name, arg, what) in COMMANDS {
        out.push_str(&format!("  {name} {arg:<20} {what}\n"));
    }
    out.push_str(
        "Keys: Enter send · Alt/Shift+Enter newline · Ctrl-C cancel turn / clear / twice detach · \
         Esc cancel · Ctrl-O expand all · Alt-O expand the last (or the marked) block · Alt-Up/Down mark a block · PgUp/PgDn scroll · F2 mouse · \
         @path attach a file · // a literal slash",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn commands_parse_and_unknown_words_stay_local() {
        assert_eq!(parse("/help"), Parsed::Command(Command::Help));
        assert_eq!(parse("/exit"), Parsed::Command(Command::Quit));
        assert_eq!(parse("/he"), Parsed::Command(Command::Help));
        assert_eq!(
            parse("/model gpt-5 "),
            Parsed::Command(Command::Model(Some("gpt-5".into())))
        );
        assert_eq!(parse("/model"), Parsed::Command(Command::Model(None)));
        assert_eq!(
            parse("/approval read-only"),
            Parsed::Command(Command::Approval(ApprovalPolicy::ReadOnly))
        );
        assert!(matches!(parse("/approval never"), Parsed::Error(_)));
        assert!(
            matches!(parse("/frobnicate"), Parsed::Error(e) if e.contains("unknown command /frobnicate"))
        );
        assert!(matches!(parse("/re"), Parsed::Error(e) if e.contains("/rename")));
        assert_eq!(parse("//etc/hosts"), Parsed::Message("/etc/hosts".into()));
        assert_eq!(parse("fix /tmp"), Parsed::Message("fix /tmp".into()));
    }
}
