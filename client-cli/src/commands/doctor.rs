//! `botcoder doctor`: a table of checks with a fix for each failure.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use botcoder_protocol::methods::{DaemonStatus, Empty, ProviderCheck};

use super::connect;
use crate::exit::{self, Failure};
use crate::output::Out;

#[derive(Debug, serde::Serialize)]
struct Check {
    name: &'static str,
    result: &'static str, // ok | fail | skipped
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn check(name: &'static str, result: Result<String, (String, String)>) -> Check {
    match result {
        Ok(detail) => Check {
            name,
            result: "ok",
            detail,
            fix: None,
        },
        Err((detail, fix)) => Check {
            name,
            result: "fail",
            detail,
            fix: Some(fix),
        },
    }
}

fn skipped(name: &'static str, why: &str) -> Check {
    Check {
        name,
        result: "skipped",
        detail: why.to_owned(),
        fix: None,
    }
}

/// Runs the checks (autostarts the daemon like other commands).
pub async fn run(json: bool) -> Result<u8, Failure> {
    let mut checks = Vec::new();
    let layers = botcoder_config::Layers::load();
    checks.push(match &layers.file_error {
        Some(e) => check(
            "config file",
            Err((
                e.clone(),
                "fix the line shown (`botcoder config show` re-checks it)".into(),
            )),
        ),
        None => check(
            "config file",
            Ok(layers
                .file
                .as_ref()
                .map_or("none (defaults and environment)".into(), |p| {
                    p.display().to_string()
                })),
        ),
    });
    let client = connect(true).await;
    let status = match &client {
        Ok(c) => c
            .call::<DaemonStatus>(&Empty {})
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    checks.push(check(
        "daemon",
        status
            .as_ref()
            .map(|s| format!("botcoderd {} (pid {}) answers on {}", s.daemon_version, s.pid, s.socket_path))
            .map_err(|e| (e.clone(), "see `botcoder daemon logs`; start it in a terminal with `botcoderd` to see errors".into())),
    ));
    let socket = botcoder_config::paths::socket_path();
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    checks.push(match (mode(&socket), socket.parent().and_then(mode)) {
        (Some(0o600), Some(0o700)) => check(
            "socket permissions",
            Ok("socket 0600 in a 0700 directory".into()),
        ),
        (Some(s), Some(d)) => check(
            "socket permissions",
            Err((
                format!("socket {s:o}, directory {d:o}"),
                "stop the daemon, remove the socket directory, start again".into(),
            )),
        ),
        _ => skipped("socket permissions", "no socket"),
    });
    match (&client, &status) {
        (Ok(c), Ok(st)) => {
            checks.push(match &st.config_error {
                Some(e) => check(
                    "daemon config",
                    Err((
                        e.clone(),
                        "fix the line shown; the daemon reads the file again when it changes"
                            .into(),
                    )),
                ),
                None => check(
                    "daemon config",
                    Ok("the daemon's settings read cleanly".into()),
                ),
            });
            checks.push(match (&st.provider, &st.provider_error) {
                (Some(_), _) => {
                    let verdict = c
                        .call::<ProviderCheck>(&Empty {})
                        .await
                        .map_err(|e| e.to_string());
                    match verdict {
                        Ok(v) if v.ok => check("provider", Ok(v.message)),
                        Ok(v) => check(
                            "provider",
                            Err((
                                v.message,
                                "check the provider's URL, model and key variables".into(),
                            )),
                        ),
                        Err(e) => check("provider", Err((e, "see `botcoder daemon logs`".into()))),
                    }
                }
                (None, Some(e)) => check(
                    "provider",
                    Err((
                        e.clone(),
                        "set the variables named (in your shell, the project's .env or config.toml)".into(),
                    )),
                ),
                (None, None) => skipped("provider", "none configured"),
            });
            checks.push(match &st.botserver {
                None => skipped("botserver", "not configured"),
                Some(b) if b.state == botcoder_protocol::BotserverState::Healthy => {
                    check("botserver", Ok(format!("{} is healthy", b.url)))
                }
                Some(b) => check(
                    "botserver",
                    Err((
                        format!(
                            "{} is {} ({})",
                            b.url,
                            b.state,
                            b.last_error.clone().unwrap_or_default()
                        ),
                        "check BOTSERVER_URL, that the server runs, and BOTSERVER_API_KEY".into(),
                    )),
                ),
            });
            checks.push(match &st.sandbox {
                None => skipped("sandbox", "the daemon does not report one"),
                // Weaker than bwrap still runs commands, and off was chosen: the detail
                // says what is missing; only a sandbox that refuses commands fails.
                Some(s) if s.mode != botcoder_protocol::methods::SandboxMode::Unavailable => {
                    check("sandbox", Ok(super::status::sandbox_line(s)))
                }
                Some(s) => check(
                    "sandbox",
                    Err((
                        super::status::sandbox_line(s),
                        "install bubblewrap (`apt-get install bubblewrap`) and allow user \
                         namespaces, then `botcoder daemon restart`; BOTCODER_SANDBOX=off only \
                         if commands should run unconfined"
                            .into(),
                    )),
                ),
            });
            if let Some(servers) = &st.mcp {
                let broken: Vec<String> = servers
                    .iter()
                    .filter(|s| s.state == "failed" || s.state == "restarting")
                    .map(|s| format!("{}: {}", s.name, s.last_error.clone().unwrap_or_default()))
                    .collect();
                let ready = servers.iter().filter(|s| s.state == "ready").count();
                checks.push(check(
                    "mcp servers",
                    if broken.is_empty() {
                        Ok(format!("{ready} of {} ready", servers.len()))
                    } else {
                        Err((
                            broken.join("; "),
                            "fix [mcp_servers.NAME] in config.toml (`botcoder mcp list` shows each server's error), \
                             or set `enabled = false` on it"
                                .into(),
                        ))
                    },
                ));
            }
            let probe =
                std::path::Path::new(&st.data_dir).join(format!(".doctor-{}", std::process::id()));
            let written = match &st.storage_error {
                // The daemon's own view first: a look-alike directory would pass the probe.
                Some(e) => Err(std::io::Error::other(e.clone())),
                None => std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe)),
            };
            checks.push(match written {
                Ok(()) => check(
                    "journal directory",
                    Ok(format!("{} is writable", st.data_dir)),
                ),
                Err(e) => check(
                    "journal directory",
                    Err((
                        format!("{}: {e}", st.data_dir),
                        if st.storage_error.is_some() {
                            "restart botcoderd (`botcoder daemon restart`); events of open \
                                 sessions since the directory went were not saved"
                                .into()
                        } else {
                            "free disk space or fix the directory's permissions".into()
                        },
                    )),
                ),
            });
        }
        _ => {
            for name in ["provider", "botserver", "sandbox", "journal directory"] {
                checks.push(skipped(name, "daemon unreachable"));
            }
        }
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    // 2024-01-01 .. 2100-01-01: TLS and rate-limit resets need a sane clock.
    checks.push(if (1_704_067_200..4_102_444_800).contains(&now) {
        check("clock", Ok("system time is plausible".into()))
    } else {
        check(
            "clock",
            Err((
                format!("system time is {now} s after 1970"),
                "set the system clock (e.g. enable NTP)".into(),
            )),
        )
    });

    let mut out = Out;
    if json {
        for c in &checks {
            let _ = out.json_value(c);
        }
    } else {
        let mut text = String::new();
        for c in &checks {
            let mark = match c.result {
                "ok" => "ok  ",
                "fail" => "FAIL",
                _ => "skip",
            };
            text.push_str(&format!("{mark}  {:<18} {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                text.push_str(&format!("      {:<18} fix: {fix}\n", ""));
            }
        }
        // Details quote the daemon, providers and the botserver: shown, never obeyed.
        let _ = out.human(&text);
    }
    Ok(if checks.iter().any(|c| c.result == "fail") {
        exit::FAILED
    } else {
        exit::OK
    })
}
