//! `botcoder status`: what the daemon is doing.

use botcoder_protocol::methods::{DaemonStatus, DaemonStatusResult, Empty};

use super::connect;
use crate::exit::{self, Failure};
use crate::output::Out;

/// Runs `status` (autostarts the daemon).
pub async fn run(json: bool) -> Result<u8, Failure> {
    let client = connect(true).await?;
    let st = client.call::<DaemonStatus>(&Empty {}).await?;
    print(&st, json);
    Ok(exit::OK)
}

/// Prints a status, as text or JSON.
pub fn print(st: &DaemonStatusResult, json: bool) {
    let mut out = Out;
    if json {
        let _ = out.json_value(st);
        return;
    }
    let provider = match (&st.provider, &st.provider_error) {
        (Some(p), _) => format!(
            "{} (model {}, {}; native tools: {}, context: {})",
            p.name,
            p.model,
            p.base_url,
            if p.capabilities.native_tools {
                "yes"
            } else {
                "no"
            },
            p.capabilities
                .context_window
                .map_or("unknown".to_owned(), |c| c.to_string())
        ),
        (None, Some(e)) => format!("none — {e}"),
        (None, None) => "none".to_owned(),
    };
    let _ = out.human(&format!(
        "botcoderd {} (protocol {}), pid {}, up {}\nsocket    {}\nsessions  {} on disk, {} running turn(s), {} connection(s)\nmode      {:?}\nprovider  {provider}\ndata      {}\nlog       {}\n",
        st.daemon_version,
        st.protocol_version,
        st.pid,
        humanize_ms(st.uptime_ms),
        st.socket_path,
        st.sessions,
        st.running_turns,
        st.connections,
        st.mode,
        st.data_dir,
        st.log_file,
    ));
    if let Some(e) = &st.config_error {
        let _ = out.human(&format!("config    ERROR: {e}\n"));
    }
    if let Some(b) = &st.botserver {
        let _ = out.human(&format!(
            "botserver {} is {} (facade {}, fallback to local {}; last probe {}{})\n",
            b.url,
            b.state,
            if b.facade { "on" } else { "off" },
            if b.fallback_to_local { "on" } else { "off" },
            b.last_probe.as_deref().unwrap_or("never"),
            b.last_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        ));
    }
    if let Some(c) = st.cost_usd {
        let cost = super::sessions::cost(Some(c));
        let _ = out.text(&format!("cost      {cost} (sessions in memory)\n"));
    }
    if let Some(s) = &st.sandbox {
        let _ = out.text(&format!("sandbox   {}\n", sandbox_line(s)));
    }
    for s in st.mcp.iter().flatten() {
        let error = s
            .last_error
            .as_deref()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default();
        let _ = out.human(&format!(
            "mcp       {} ({}) {}, {} tool(s){error}\n",
            s.name,
            s.transport,
            s.state,
            s.tools.len()
        ));
    }
    for b in &st.budgets {
        let limit = |v: Option<u64>| v.map_or("unlimited".to_owned(), |n| n.to_string());
        let _ = out.human(&format!(
            "budget    {}: {} of {} tokens/min, {} of {} requests/min used\n",
            b.endpoint,
            b.tokens_used,
            limit(b.tpm),
            b.requests_used,
            limit(b.rpm)
        ));
    }
}

/// The sandbox in one line: the mechanism, the network, and why it is weaker, if it is.
pub fn sandbox_line(s: &botcoder_protocol::methods::SandboxInfo) -> String {
    use botcoder_protocol::methods::SandboxMode;
    let mode = match s.mode {
        SandboxMode::Bwrap => "bwrap",
        SandboxMode::Landlock => "landlock only",
        SandboxMode::Off => "off",
        SandboxMode::Unavailable => "unavailable: commands are refused",
    };
    let net = if s.network {
        "network on"
    } else {
        "network off"
    };
    match &s.note {
        Some(n) => format!("{mode} ({net}) — {n}"),
        None => format!("{mode} ({net})"),
    }
}

fn humanize_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}
