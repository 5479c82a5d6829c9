//! Reaching the daemon: socket path, connection with handshake, typed calls, subscriptions,
//! and starting the daemon when nothing answers.

mod autostart;

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonrpsee::async_client::{Client, ClientBuilder};
use jsonrpsee::client_transport::ws::{Url, WsTransportClientBuilder};
use jsonrpsee::core::client::{ClientT, Error as RpcError, SubscriptionClientT};
use jsonrpsee::core::traits::ToRpcParams;
use serde::Serialize;
use serde_json::value::RawValue;

pub use autostart::{AutostartError, daemon_executable};
pub use jsonrpsee::core::client::Subscription;

use crate::methods::{
    DaemonHello, HelloParams, HelloResult, Method, SESSION_SUBSCRIBE, SESSION_UNSUBSCRIBE,
    SubscribeParams,
};
use crate::{ErrorData, ErrorKind, Event, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};

/// Why talking to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket.
    #[error("cannot reach botcoderd at {path}: {source}")]
    Unreachable {
        /// Socket path tried.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The daemon could not be started.
    #[error(transparent)]
    Autostart(#[from] AutostartError),
    /// The WebSocket handshake over the socket failed.
    #[error("botcoderd at {path} did not complete the handshake: {message}")]
    Handshake {
        /// Socket path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The daemon answered with a JSON-RPC error.
    #[error("{message}")]
    Rpc {
        /// Stable kind from `error.data.kind`, when the daemon sent one.
        kind: Option<ErrorKind>,
        /// The daemon's message.
        message: String,
    },
    /// The connection broke.
    #[error("lost the connection to botcoderd: {0}")]
    Transport(String),
}

impl ClientError {
    /// The stable error kind, for JSON-RPC errors that carry one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Rpc { kind, .. } => *kind,
            _ => None,
        }
    }

    /// True when the daemon could not be reached or started (exit code 3 in the CLI).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::Autostart(_)
                | ClientError::Handshake { .. }
                | ClientError::Transport(_)
        )
    }
}

impl From<RpcError> for ClientError {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::Call(obj) => {
                let kind = obj
                    .data()
                    .and_then(|d| serde_json::from_str::<ErrorData>(d.get()).ok())
                    .map(|d| d.kind);
                ClientError::Rpc {
                    kind,
                    message: obj.message().to_owned(),
                }
            }
            other => ClientError::Transport(other.to_string()),
        }
    }
}

/// Named params: serializes any `Serialize` value as the JSON-RPC params object.
struct Named<'a, T>(&'a T);

impl<T: Serialize> ToRpcParams for Named<'_, T> {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        serde_json::value::to_raw_value(self.0).map(Some)
    }
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Socket to use; usually `botcoder_config::paths::socket_path()`, the one rule the
    /// daemon uses too.
    pub socket_path: PathBuf,
    /// Client name sent in `daemon.hello`.
    pub client_name: String,
    /// Capabilities sent in `daemon.hello`.
    pub capabilities: Vec<String>,
    /// Start the daemon when nothing answers (`BOTCODER_NO_AUTOSTART=1` turns it off).
    pub autostart: bool,
}

impl ConnectOptions {
    /// Options for `client_name` on `socket_path`, with autostart unless
    /// `BOTCODER_NO_AUTOSTART=1`.
    pub fn new(client_name: &str, socket_path: PathBuf) -> Self {
        let no_autostart = std::env::var("BOTCODER_NO_AUTOSTART").is_ok_and(|v| v == "1");
        ConnectOptions {
            socket_path,
            client_name: client_name.to_owned(),
            capabilities: Vec::new(),
            autostart: !no_autostart,
        }
    }
}

/// A connection to the daemon, after a successful `daemon.hello`.
#[derive(Debug)]
pub struct DaemonClient {
    inner: Client,
    hello: HelloResult,
}

impl DaemonClient {
    /// Connects, starting the daemon first when allowed and needed.
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ClientError> {
        match Self::connect_once(opts).await {
            Err(ClientError::Unreachable { .. }) if opts.autostart => {
                autostart::start_daemon(&opts.socket_path).await?;
                Self::connect_once(opts).await
            }
            other => other,
        }
    }

    /// Connects without ever starting the daemon.
    pub async fn connect_once(opts: &ConnectOptions) -> Result<Self, ClientError> {
        let inner = open(&opts.socket_path).await?;
        let params = HelloParams {
            client: opts.client_name.clone(),
            protocol_version: PROTOCOL_VERSION.to_owned(),
            capabilities: opts.capabilities.clone(),
        };
        let hello: HelloResult = inner.request(DaemonHello::NAME, Named(&params)).await?;
        Ok(DaemonClient { inner, hello })
    }

    /// What the daemon said in the handshake.
    pub fn hello(&self) -> &HelloResult {
        &self.hello
    }

    /// Calls method `M`.
    pub async fn call<M: Method>(&self, params: &M::Params) -> Result<M::Result, ClientError> {
        Ok(self.inner.request(M::NAME, Named(params)).await?)
    }

    /// Subscribes to a session's events.
    pub async fn subscribe(
        &self,
        params: &SubscribeParams,
    ) -> Result<Subscription<Event>, ClientError> {
        Ok(self
            .inner
            .subscribe(SESSION_SUBSCRIBE, Named(params), SESSION_UNSUBSCRIBE)
            .await?)
    }

    /// Serves files for a session (`client.fs.serve`): the daemon's file requests arrive on
    /// the subscription; answer each with [`crate::client_fs::ClientFsRespond`].
    pub async fn serve_fs(
        &self,
        params: &crate::client_fs::ClientFsServeParams,
    ) -> Result<Subscription<crate::client_fs::ClientFsRequest>, ClientError> {
        use crate::client_fs::{CLIENT_FS_SERVE, CLIENT_FS_UNSERVE};
        Ok(self
            .inner
            .subscribe(CLIENT_FS_SERVE, Named(params), CLIENT_FS_UNSERVE)
            .await?)
    }

    /// Resolves when the connection is gone.
    pub async fn closed(&self) {
        self.inner.on_disconnect().await;
    }
}

/// Opens the WebSocket-over-Unix-socket transport.
async fn open(path: &Path) -> Result<Client, ClientError> {
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|source| ClientError::Unreachable {
            path: path.to_owned(),
            source,
        })?;
    let handshake = |message: String| ClientError::Handshake {
        path: path.to_owned(),
        message,
    };
    // The host part is never resolved: the stream is already connected.
    let url = Url::parse("ws://botcoderd.local/").map_err(|e| handshake(e.to_string()))?;
    let (sender, receiver) = WsTransportClientBuilder::default()
        .max_request_size(MAX_MESSAGE_BYTES)
        .max_response_size(MAX_MESSAGE_BYTES)
        .connection_timeout(Duration::from_secs(5))
        .build_with_stream(url, stream)
        .await
        .map_err(|e| handshake(e.to_string()))?;
    Ok(ClientBuilder::default()
        .request_timeout(Duration::from_secs(120))
        .max_buffer_capacity_per_subscription(1 << 16)
        .build_with_tokio(sender, receiver))
}
