//! `botcoder daemon start|stop|restart|status|reload`. `stop`, `status` and `reload` never
//! start a daemon.

use std::time::Duration;

use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{DaemonReload, DaemonShutdown, DaemonStatus, Empty};

use crate::cli::DaemonCommand;
use crate::exit::{self, Failure};
use crate::output::status;

/// Runs a `daemon` subcommand.
pub async fn run(cmd: DaemonCommand) -> Result<u8, Failure> {
    let mut opts = ConnectOptions::new("botcoder-cli", botcoder_config::paths::socket_path());
    match cmd {
        DaemonCommand::Start => {
            opts.autostart = false;
            if let Ok(c) = DaemonClient::connect_once(&opts).await {
                let st = c.call::<DaemonStatus>(&Empty {}).await?;
                status(&format!(
                    "botcoderd is already running (pid {}) on {}",
                    st.pid, st.socket_path
                ));
                return Ok(exit::OK);
            }
            opts.autostart = true;
            let c = DaemonClient::connect(&opts).await?;
            let st = c.call::<DaemonStatus>(&Empty {}).await?;
            status(&format!(
                "botcoderd started (pid {}) on {}",
                st.pid, st.socket_path
            ));
            Ok(exit::OK)
        }
        DaemonCommand::Stop => {
            opts.autostart = false;
            let c = match DaemonClient::connect_once(&opts).await {
                Ok(c) => c,
                // A daemon that answers but refuses us (e.g. we run inside a tool) is not
                // "not running": say why it refused.
                Err(e) if !e.is_unreachable() => return Err(e.into()),
                Err(_) => {
                    status(&format!(
                        "botcoderd is not running (no answer on {})",
                        opts.socket_path.display()
                    ));
                    return Ok(exit::OK);
                }
            };
            c.call::<DaemonShutdown>(&Empty {}).await?;
            wait_gone(&opts.socket_path).await?;
            status("botcoderd stopped");
            Ok(exit::OK)
        }
        DaemonCommand::Restart => {
            opts.autostart = false;
            if let Ok(c) = DaemonClient::connect_once(&opts).await {
                c.call::<DaemonShutdown>(&Empty {}).await?;
                drop(c);
                wait_gone(&opts.socket_path).await?;
            }
            opts.autostart = true;
            let c = DaemonClient::connect(&opts).await?;
            let st = c.call::<DaemonStatus>(&Empty {}).await?;
            status(&format!(
                "botcoderd restarted (pid {}); sessions are kept",
                st.pid
            ));
            Ok(exit::OK)
        }
        DaemonCommand::Reload => {
            opts.autostart = false;
            let c = DaemonClient::connect_once(&opts).await.map_err(|e| {
                Failure::new(
                    exit::UNREACHABLE,
                    format!("botcoderd is not running ({e}); it reads config.toml when it starts"),
                )
            })?;
            let r = c.call::<DaemonReload>(&Empty {}).await?;
            if r.ok {
                status(&r.message);
                Ok(exit::OK)
            } else {
                Err(Failure::new(
                    exit::CONFIG,
                    format!(
                        "{}
the last good settings stay in force",
                        r.message
                    ),
                ))
            }
        }
        DaemonCommand::Logs { follow, lines } => super::logs::run(follow, lines).await,
        DaemonCommand::InstallSystemd { dir } => super::systemd::install(dir),
        DaemonCommand::Status(flag) => {
            opts.autostart = false;
            match DaemonClient::connect_once(&opts).await {
                Ok(c) => {
                    let st = c.call::<DaemonStatus>(&Empty {}).await?;
                    super::status::print(&st, flag.json);
                    Ok(exit::OK)
                }
                Err(e) => Err(Failure::new(
                    exit::UNREACHABLE,
                    format!("botcoderd is not running: {e}"),
                )),
            }
        }
    }
}

/// Waits until the daemon removed its socket (the last thing it does when stopping).
async fn wait_gone(socket: &std::path::Path) -> Result<(), Failure> {
    for _ in 0..100 {
        if !socket.exists() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(Failure::new(
        exit::FAILED,
        "botcoderd did not stop within 5 s",
    ))
}
