//! `botcoder config show|init|path`: read the files and environment directly, so they work
//! without a daemon.

use botcoder_config::{KNOWN, Layers, TEMPLATE, config_path, is_secret_var};

use crate::cli::ConfigCommand;
use crate::exit::{self, Failure};
use crate::output::Out;

fn cwd() -> std::path::PathBuf {
    std::env::current_dir().unwrap_or_else(|_| ".".into())
}

/// Runs a `config` subcommand.
pub fn run(cmd: ConfigCommand) -> Result<u8, Failure> {
    let mut out = Out;
    match cmd {
        ConfigCommand::Show(flag) => {
            let layers = Layers::load(&cwd());
            let rows: Vec<(&str, String, String)> = KNOWN
                .iter()
                .filter_map(|(name, _)| {
                    let value = layers.get(name)?;
                    let shown = if is_secret_var(name) {
                        "(set, redacted)".to_owned()
                    } else {
                        value.to_owned()
                    };
                    Some((
                        *name,
                        shown,
                        layers
                            .source(name)
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                    ))
                })
                .collect();
            if flag.json {
                let vars: serde_json::Map<String, serde_json::Value> = rows
                    .iter()
                    .map(|(k, v, s)| {
                        (
                            (*k).to_owned(),
                            serde_json::json!({"value": v, "source": s}),
                        )
                    })
                    .collect();
                let doc = serde_json::json!({"file": config_path(), "file_error": layers.file_error, "vars": vars});
                let _ = out.json_value(&doc);
            } else {
                let mut text = format!("config file: {}", config_path().display());
                text.push_str(if layers.file.is_some() {
                    "\n"
                } else {
                    " (none)\n"
                });
                if let Some(e) = &layers.file_error {
                    text.push_str(&format!(
                        "ERROR: {e}\n  (the file's values are ignored until it is fixed)\n"
                    ));
                }
                for (name, value, source) in &rows {
                    text.push_str(&format!("{name:<28} {value:<40} [{source}]\n"));
                }
                if rows.is_empty() {
                    text.push_str("nothing set: see `botcoder config init` and README.md\n");
                }
                let _ = out.text(&text);
            }
            Ok(if layers.file_error.is_some() {
                exit::FAILED
            } else {
                exit::OK
            })
        }
        ConfigCommand::Init => {
            let path = config_path();
            if path.exists() {
                return Err(Failure::new(
                    exit::FAILED,
                    format!(
                        "{} already exists; edit it, or remove it first",
                        path.display()
                    ),
                ));
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Failure::new(exit::FAILED, format!("{}: {e}", dir.display())))?;
            }
            std::fs::write(&path, TEMPLATE)
                .map_err(|e| Failure::new(exit::FAILED, format!("{}: {e}", path.display())))?;
            let _ = out.text(&format!(
                "wrote a commented template to {}\n",
                path.display()
            ));
            Ok(exit::OK)
        }
        ConfigCommand::Path => {
            let _ = out.text(&format!(
                "config  {}\n.env    {}\nsocket  {}\ndata    {}\nlog     {}\n",
                config_path().display(),
                cwd().join(".env").display(),
                botcoder_config::paths::socket_path().display(),
                botcoder_config::paths::sessions_dir().display(),
                botcoder_config::paths::log_file().display()
            ));
            Ok(exit::OK)
        }
    }
}
