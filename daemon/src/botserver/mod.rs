//! Multi-agent mode: the botserver facade. A client for the real botserver's HTTP API and
//! task-progress WebSocket, one health monitor for the daemon, facade turns that hand
//! pipeline work to the botserver, and agent tools routed to its agents. Falling back to
//! local work is automatic (when `FALLBACK_TO_LOCAL` allows) and announced as `mode.changed`.

pub mod client;
pub mod health;
pub mod progress;

use std::sync::Arc;
use std::time::Duration;

use botcoder_config::Secret;

pub use client::BotClient;
pub use health::Monitor;

/// Botserver settings.
#[derive(Debug, Clone)]
pub struct BotserverSettings {
    /// `BOTSERVER_URL`.
    pub url: String,
    /// `BOTSERVER_API_KEY`, sent as `Authorization: Bearer`.
    pub api_key: Option<Secret>,
    /// Facade turns on (`ENABLE_BOTSERVER_FACADE=true` or `LLM_PROVIDER=botserver`).
    pub facade: bool,
    /// `FALLBACK_TO_LOCAL` (default true).
    pub fallback_to_local: bool,
    /// Probe interval (`BOTSERVER_PROBE_INTERVAL_MS`, default 15 s).
    pub probe_interval: Duration,
    /// An extra trusted CA for a self-signed HTTPS botserver (`BOTSERVER_CA_FILE`).
    pub ca_file: Option<std::path::PathBuf>,
}

/// The configured botserver: settings, client and health.
#[derive(Debug)]
pub struct Botserver {
    /// Settings.
    pub settings: BotserverSettings,
    /// HTTP client.
    pub client: BotClient,
    /// Health monitor.
    pub monitor: Arc<Monitor>,
}

impl Botserver {
    /// Builds the client and starts the monitor (the first probe runs at once).
    pub fn start(settings: BotserverSettings) -> Result<Botserver, String> {
        let http = match &settings.ca_file {
            None => crate::llm::http_client()?,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    format!("BOTSERVER_CA_FILE={}: cannot read it ({e})", path.display())
                })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                    format!(
                        "BOTSERVER_CA_FILE={}: not a PEM certificate ({e})",
                        path.display()
                    )
                })?;
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder()
                    .redirect(crate::llm::redirect_policy())
                    .tls_certs_merge(certs)
                    .connect_timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| format!("BOTSERVER_CA_FILE={}: {e}", path.display()))?
            }
        };
        let client = BotClient::new(http, &settings.url, settings.api_key.clone());
        let monitor = Monitor::spawn(client.clone(), settings.probe_interval);
        Ok(Botserver {
            settings,
            client,
            monitor,
        })
    }

    /// The mode this botserver puts the daemon in now: multi-agent while facade turns are
    /// on and it is healthy.
    pub fn mode(&self) -> botcoder_protocol::Mode {
        if self.settings.facade && self.monitor.is_healthy() {
            botcoder_protocol::Mode::MultiAgent
        } else {
            botcoder_protocol::Mode::Local
        }
    }
}
