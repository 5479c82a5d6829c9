//! `botcoder config show|init|path`. `show` lists every setting with its value and where it
//! came from as a session created here would get it (the user's layers, this directory's
//! project files, this shell's environment), defaults included; when a daemon runs it also
//! asks it what it uses and flags what differs. None of them starts a daemon.

use std::collections::BTreeMap;

use botcoder_config::session::{Merged, merge, read_project};
use botcoder_config::{Layers, Source, TEMPLATE, config_path};
use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{DaemonStatus, DaemonStatusResult, Empty};

use crate::cli::ConfigCommand;
use crate::exit::{self, Failure};
use crate::output::Out;

fn cwd() -> std::path::PathBuf {
    std::env::current_dir().unwrap_or_else(|_| ".".into())
}

/// One row of `config show`.
struct Row {
    name: &'static str,
    value: String,
    source: String,
    default: Option<String>,
}

/// Every key of the typed settings, with the value in force (a secret masked), the layer
/// that set it, and its default.
fn rows(merged: &Merged) -> Vec<Row> {
    merged
        .settings
        .rows()
        .into_iter()
        .map(|r| match r.set {
            Some((value, source)) => Row {
                name: r.name,
                value,
                source: source.to_string(),
                default: r.default,
            },
            None => Row {
                name: r.name,
                value: r.default.clone().unwrap_or_else(|| "-".to_owned()),
                source: if r.default.is_some() {
                    Source::Default.to_string()
                } else {
                    "unset".to_owned()
                },
                default: r.default,
            },
        })
        .collect()
}

/// The running daemon's status, without starting one.
async fn daemon_status() -> Option<DaemonStatusResult> {
    let mut opts = ConnectOptions::new("botcoder-cli", botcoder_config::paths::socket_path());
    opts.autostart = false;
    let c = DaemonClient::connect_once(&opts).await.ok()?;
    c.call::<DaemonStatus>(&Empty {}).await.ok()
}

/// Where this shell's settings and the daemon's own differ. Sessions created from this
/// shell use this shell's provider variables (they are sent along), so a difference says
/// what other clients of the daemon get, not what goes wrong here.
fn differences(merged: &Merged, st: &DaemonStatusResult) -> Vec<String> {
    let s = &merged.settings;
    let mut out = Vec::new();
    let Some(p) = &st.provider else {
        if s.provider.is_some() || !s.secrets().is_empty() {
            out.push(
                "the daemon has no provider of its own; sessions from this shell use this shell's settings"
                    .to_owned(),
            );
        }
        return out;
    };
    let explicit = s.provider.as_ref().and_then(|_| s.kind());
    if let Some(kind) = explicit
        && kind.name() != p.name
    {
        out.push(format!(
            "provider: here {}, the daemon's own {}",
            kind.name(),
            p.name
        ));
    }
    let kind = explicit.or_else(|| botcoder_config::ProviderKind::parse(&p.name));
    if let Some(kind) = kind {
        let (_, model_var, _) = kind.vars();
        let model = s
            .rows()
            .into_iter()
            .find(|r| r.name == model_var)
            .and_then(|r| r.set.map(|(v, _)| v));
        if let Some(model) = model
            && model != p.model
        {
            out.push(format!(
                "model: here {model} ({model_var}), the daemon's own {}",
                p.model
            ));
        }
    }
    out
}

async fn show(json: bool) -> Result<u8, Failure> {
    let dir = cwd();
    let layers = Layers::load();
    let project = read_project(&dir);
    let merged = merge(&layers, &dir, &project, &BTreeMap::new(), None);
    let rows = rows(&merged);
    let daemon = daemon_status().await;
    let diffs = daemon
        .as_ref()
        .map(|st| differences(&merged, st))
        .unwrap_or_default();
    let mut out = Out;
    let mut problems: Vec<String> = layers.file_error.iter().cloned().collect();
    problems.extend(project.errors.iter().cloned());
    // The environment's values that did not read (the file's are in `file_error`).
    problems.extend(
        merged
            .settings
            .problems
            .iter()
            .filter(|p| {
                layers
                    .file_error
                    .as_ref()
                    .is_none_or(|e| !e.contains(&p.message))
            })
            .map(|p| p.message.clone()),
    );
    problems.extend(merged.problems.iter().cloned());
    if json {
        let vars: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|r| {
                (
                    r.name.to_owned(),
                    serde_json::json!({"value": r.value, "source": r.source, "default": r.default}),
                )
            })
            .collect();
        let doc = serde_json::json!({
            "file": config_path(),
            "file_error": layers.file_error,
            "project_errors": project.errors,
            "ignored": project.ignored.iter().chain(&merged.ignored).collect::<Vec<_>>(),
            "withheld": merged.withheld,
            "vars": vars,
            "daemon": daemon.as_ref().map(|st| serde_json::json!({
                "pid": st.pid,
                "provider": st.provider,
                "provider_error": st.provider_error,
                "config_error": st.config_error,
            })),
            "differs": diffs,
        });
        let _ = out.json_value(&doc);
    } else {
        let mut text = format!("config file: {}", config_path().display());
        text.push_str(if layers.file.is_some() {
            "\n"
        } else {
            " (none)\n"
        });
        for e in &problems {
            text.push_str(&format!(
                "ERROR: {e}\n  (that part is ignored until it is fixed; the rest applies)\n"
            ));
        }
        for note in project
            .ignored
            .iter()
            .chain(&merged.ignored)
            .chain(&merged.withheld)
        {
            text.push_str(&format!("note: {note}\n"));
        }
        for r in &rows {
            let default = match &r.default {
                Some(d) if r.source != "default" => format!(" (default {d})"),
                _ => String::new(),
            };
            text.push_str(&format!(
                "{:<28} {:<40} [{}]{default}\n",
                r.name, r.value, r.source
            ));
        }
        match &daemon {
            None => text.push_str("daemon: not running (it reads these when it starts)\n"),
            Some(st) => {
                match &st.provider {
                    Some(p) => text.push_str(&format!(
                        "daemon (pid {}): its own provider {} model {} at {}\n",
                        st.pid, p.name, p.model, p.base_url
                    )),
                    None => text.push_str(&format!(
                        "daemon (pid {}): no provider of its own\n",
                        st.pid
                    )),
                }
                if let Some(e) = &st.config_error {
                    text.push_str(&format!("daemon config ERROR: {e}\n"));
                }
                for d in &diffs {
                    text.push_str(&format!(
                        "differs: {d} (sessions from this shell use the value here)\n"
                    ));
                }
            }
        }
        let _ = out.text(&text);
    }
    Ok(if problems.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Runs a `config` subcommand.
pub async fn run(cmd: ConfigCommand) -> Result<u8, Failure> {
    let mut out = Out;
    match cmd {
        ConfigCommand::Show(flag) => show(flag.json).await,
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
                "config  {}\n.env    {} (yours, beside config.toml)\nproject {} and {}\nsocket  {}\ndata    {}\nlog     {}\n",
                config_path().display(),
                botcoder_config::user_dotenv_path().display(),
                cwd().join(".botcoder/config.toml").display(),
                cwd().join(".env").display(),
                botcoder_config::paths::socket_path().display(),
                botcoder_config::paths::sessions_dir().display(),
                botcoder_config::paths::log_file().display()
            ));
            Ok(exit::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use botcoder_config::KEYS;
    use botcoder_config::session::ProjectLayer;
    use std::path::Path;

    #[test]
    fn show_lists_every_key_with_its_value_source_and_default() {
        let layers = Layers::from_parts(
            Some((
                Path::new("/cfg/config.toml"),
                "fallback = [\"local\"]\nmax_iterations = 3\n",
            )),
            (Path::new("/cfg/.env"), Vec::new()),
            vec![("OPENAI_API_KEY".to_owned(), "sk-secret-1".to_owned())],
        );
        let merged = merge(
            &layers,
            Path::new("/p"),
            &ProjectLayer::default(),
            &BTreeMap::new(),
            None,
        );
        let rows = rows(&merged);
        let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
        let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(names, keys);
        let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap();
        let shown = |name: &str| {
            let r = row(name);
            (r.value.as_str(), r.source.as_str(), r.default.as_deref())
        };
        assert_eq!(shown("LLM_FALLBACK"), ("local", "/cfg/config.toml", None));
        assert_eq!(
            shown("BOTCODER_MAX_ITERATIONS"),
            ("3", "/cfg/config.toml", Some("25"))
        );
        assert_eq!(
            shown("OPENAI_API_KEY"),
            ("(set, redacted)", "environment", None)
        );
        assert_eq!(shown("LLM_MAX_RETRIES"), ("3", "default", Some("3")));
        assert_eq!(shown("BOTSERVER_URL"), ("-", "unset", None));
    }
}
