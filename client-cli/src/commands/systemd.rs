//! `botcoder daemon install-systemd`: writes the user units with the real binary path.

use std::path::PathBuf;

use botcoder_protocol::client::daemon_executable;

use crate::exit::{self, Failure};
use crate::output::Out;

const SOCKET_UNIT: &str = include_str!("../../../systemd/botcoderd.socket");
const SERVICE_UNIT: &str = include_str!("../../../systemd/botcoderd.service");

fn user_unit_dir() -> PathBuf {
    botcoder_config::paths::config_home()
        .join("systemd")
        .join("user")
}

/// The service unit with `ExecStart` pointing at `exe`.
pub fn service_unit(exe: &std::path::Path) -> String {
    SERVICE_UNIT
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                format!("ExecStart={}", exe.display())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Writes both units and prints the commands that enable them.
pub fn install(dir: Option<PathBuf>) -> Result<u8, Failure> {
    let exe = daemon_executable();
    let exe = std::fs::canonicalize(&exe).map_err(|_| {
        Failure::new(
            exit::FAILED,
            format!(
                "cannot find botcoderd ({}); install it next to botcoder first",
                exe.display()
            ),
        )
    })?;
    let dir = dir.unwrap_or_else(user_unit_dir);
    std::fs::create_dir_all(&dir).map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    for (name, text) in [
        ("botcoderd.socket", SOCKET_UNIT.to_owned()),
        ("botcoderd.service", service_unit(&exe)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
    }
    let _ = Out.text(&format!(
        "installed botcoderd.socket and botcoderd.service in {}\n\
         enable them with:\n  systemctl --user daemon-reload\n  systemctl --user enable --now botcoderd.socket\n\
         (stop a daemon started on demand first: botcoder daemon stop)\n",
        dir.display()
    ));
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_unit_points_at_the_binary_and_units_are_as_specified() {
        let unit = service_unit(std::path::Path::new("/opt/bin/botcoderd"));
        assert!(unit.contains("\nExecStart=/opt/bin/botcoderd\n"), "{unit}");
        assert!(unit.contains("Type=notify") && unit.contains("Restart=on-failure"));
        for line in [
            "ListenStream=%t/botcoderd/botcoderd.sock",
            "SocketMode=0600",
            "DirectoryMode=0700",
        ] {
            assert!(SOCKET_UNIT.contains(line), "{line}");
        }
    }
}
