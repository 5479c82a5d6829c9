//! The ACP agent methods, each as calls to the daemon.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    AgentCapabilities, CancelNotification, CurrentModeUpdate, Implementation, InitializeRequest,
    InitializeResponse, ListSessionsRequest, ListSessionsResponse, LoadSessionRequest,
    LoadSessionResponse, McpCapabilities, NewSessionRequest, NewSessionResponse,
    PromptCapabilities, PromptRequest, PromptResponse, SessionCapabilities, SessionConfigOption,
    SessionConfigOptionCategory, SessionConfigOptionValue, SessionConfigSelectOption,
    SessionInfo as AcpSessionInfo, SessionListCapabilities, SessionMode, SessionModeId,
    SessionModeState, SessionNotification, SessionUpdate, SetSessionConfigOptionRequest,
    SetSessionConfigOptionResponse, SetSessionModeRequest, SetSessionModeResponse,
};
use agent_client_protocol::{Client, Error as AcpError};
use botcoder_protocol::client::{ClientError, ConnectOptions, DaemonClient};
use botcoder_protocol::client_fs::CAPABILITY_FS;
use botcoder_protocol::methods::{
    MAX_CLIENT_NAME_CHARS, ProviderInfo, ProviderList, SessionConfigure, SessionConfigureParams,
    SessionCreate, SessionCreateParams, SessionGet, SessionHistory, SessionHistoryParams,
    SessionInfo, SessionList, SessionListParams, SessionRef, SessionSend, SessionSendParams,
    TurnCancel, TurnCancelParams,
};
use botcoder_protocol::{ApprovalPolicy, EventBody, SessionId};

use super::files::{self, EditorFs};
use super::link::{self, Link};
use super::permission::Asked;
use super::prompt::prompt_text;
use super::translate::Translator;

/// The bridge: one daemon connection (made at `initialize`) and the linked sessions.
#[derive(Debug, Default)]
pub struct Bridge {
    daemon: OnceLock<DaemonClient>,
    name: OnceLock<String>,
    /// The editor's file system, when it offers one and the daemon can use it.
    fs: OnceLock<EditorFs>,
    sessions: Mutex<HashMap<String, Arc<Link>>>,
}

/// Errors for the editor: a message a person can act on, with the JSON-RPC code that fits.
fn internal(message: impl Into<String>) -> AcpError {
    AcpError::new(-32603, message.into())
}

fn invalid(message: impl Into<String>) -> AcpError {
    AcpError::new(-32602, message.into())
}

fn daemon_error(e: ClientError) -> AcpError {
    internal(format!("botcoderd: {e}"))
}

/// Whether the daemon lacks a method (an older daemon).
fn is_method_missing(e: &ClientError) -> bool {
    matches!(e, ClientError::Rpc { kind: None, message } if message.to_lowercase().contains("method not found"))
}

/// The ACP mode id of an approval policy.
pub fn mode_id(p: ApprovalPolicy) -> SessionModeId {
    SessionModeId::new(match p {
        ApprovalPolicy::Auto => "auto",
        ApprovalPolicy::Ask => "ask",
        ApprovalPolicy::ReadOnly => "read-only",
    })
}

fn modes(current: ApprovalPolicy) -> SessionModeState {
    let m = |p: ApprovalPolicy, name: &str, what: &str| {
        SessionMode::new(mode_id(p), name).description(what.to_owned())
    };
    SessionModeState::new(
        mode_id(current),
        vec![
            m(
                ApprovalPolicy::Ask,
                "Ask",
                "Edits and commands wait for approval",
            ),
            m(
                ApprovalPolicy::Auto,
                "Auto",
                "Everything runs without asking",
            ),
            m(
                ApprovalPolicy::ReadOnly,
                "Read-only",
                "Only reading tools; nothing changes",
            ),
        ],
    )
}

const MODEL_OPTION: &str = "model";

/// The model selector: every configured provider's model, the session's current.
fn model_options(providers: &[ProviderInfo], info: &SessionInfo) -> Vec<SessionConfigOption> {
    let value = |p: &str, m: &str| format!("{p}/{m}");
    let mut choices: Vec<SessionConfigSelectOption> = providers
        .iter()
        .map(|p| {
            SessionConfigSelectOption::new(
                value(&p.name, &p.model),
                format!("{} ({})", p.model, p.name),
            )
        })
        .collect();
    let current = match (&info.provider, &info.model) {
        (Some(p), Some(m)) => value(p, m),
        _ => match providers.first() {
            Some(p) => value(&p.name, &p.model),
            None => return Vec::new(),
        },
    };
    if !choices.iter().any(|c| *c.value.0 == *current) {
        choices.push(SessionConfigSelectOption::new(
            current.clone(),
            current.clone(),
        ));
    }
    vec![
        SessionConfigOption::select(MODEL_OPTION, "Model", current, choices)
            .category(SessionConfigOptionCategory::Model),
    ]
}

/// `acp:<editor>`, printable and within the daemon's limit.
fn client_name(info: Option<&Implementation>) -> String {
    let editor = info.map_or("editor", |i| i.name.as_str());
    let clean: String = editor
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CLIENT_NAME_CHARS - 4)
        .collect();
    let clean = if clean.trim().is_empty() {
        "editor".to_owned()
    } else {
        clean
    };
    format!("acp:{clean}")
}

impl Bridge {
    /// The daemon connection, once `initialize` made it.
    pub fn daemon_opt(&self) -> Option<&DaemonClient> {
        self.daemon.get()
    }

    fn daemon(&self) -> Result<&DaemonClient, AcpError> {
        self.daemon
            .get()
            .ok_or_else(|| AcpError::new(-32600, "call initialize first".to_owned()))
    }

    /// The name this bridge gave the daemon.
    pub fn client_name(&self) -> &str {
        self.name.get().map_or("acp:editor", String::as_str)
    }

    fn link(&self, id: &str) -> Result<Arc<Link>, AcpError> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(id).cloned().ok_or_else(|| {
            invalid(format!(
                "session {id} is not open in this agent: use session/new or session/load"
            ))
        })
    }

    /// `initialize`: connects to the daemon (starting it when needed) as `acp:<editor>`.
    pub async fn initialize(
        self: Arc<Self>,
        req: InitializeRequest,
    ) -> Result<InitializeResponse, AcpError> {
        let name = client_name(req.client_info.as_ref());
        if self.daemon.get().is_none() {
            let offered = EditorFs {
                read: req.client_capabilities.fs.read_text_file,
                write: req.client_capabilities.fs.write_text_file,
            };
            let mut opts = ConnectOptions::new(&name, botcoder_config::paths::socket_path());
            opts.capabilities = vec!["approvals".to_owned()];
            if offered.any() {
                opts.capabilities.push(CAPABILITY_FS.to_owned());
            }
            let client = DaemonClient::connect(&opts).await.map_err(|e| {
                internal(format!(
                    "{e} (is botcoderd installed? `botcoder doctor` checks the setup)"
                ))
            })?;
            // An older daemon without `client.fs.serve`: the tools keep using the disk.
            if client
                .hello()
                .capabilities
                .iter()
                .any(|c| c == CAPABILITY_FS)
            {
                let _ = self.fs.set(offered);
            } else if offered.any() {
                eprintln!(
                    "botcoder acp: this botcoderd cannot read files through the editor; the agent sees the files on disk"
                );
            }
            let _ = self.name.set(name);
            let _ = self.daemon.set(client);
        }
        let caps = AgentCapabilities::new()
            .load_session(true)
            .mcp_capabilities(McpCapabilities::new().http(true))
            .prompt_capabilities(PromptCapabilities::new().embedded_context(true))
            .session_capabilities(SessionCapabilities::new().list(SessionListCapabilities::new()));
        Ok(
            InitializeResponse::new(agent_client_protocol::schema::ProtocolVersion::V1)
                .agent_capabilities(caps)
                .agent_info(
                    Implementation::new("botcoder", env!("CARGO_PKG_VERSION")).title("botcoder"),
                ),
        )
    }

    async fn providers(&self) -> Vec<ProviderInfo> {
        match self.daemon() {
            Ok(d) => d
                .call::<ProviderList>(&Default::default())
                .await
                .map(|r| r.providers)
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    async fn context_window(&self, info: &SessionInfo) -> Option<u64> {
        let providers = self.providers().await;
        let p = match &info.provider {
            Some(name) => providers.iter().find(|p| p.name == *name),
            None => providers.first(),
        };
        p.and_then(|p| p.capabilities.context_window)
    }

    /// The model selector as it stands now for `session` (empty when it cannot be read).
    pub async fn config_options(&self, session: &SessionId) -> Vec<SessionConfigOption> {
        let Ok(daemon) = self.daemon() else {
            return Vec::new();
        };
        let r = SessionRef {
            session_id: session.clone(),
        };
        match daemon.call::<SessionGet>(&r).await {
            Ok(info) => model_options(&self.providers().await, &info),
            Err(_) => Vec::new(),
        }
    }

    /// Serves `link`'s files from the editor when it offered its file system.
    async fn serve_files(self: &Arc<Self>, link: &Arc<Link>, cx: &ConnectionTo<Client>) {
        let fs = self.fs.get().copied().unwrap_or_default();
        if let Some(task) = files::serve(self.clone(), link.clone(), cx.clone(), fs).await {
            link.set_files_task(task);
        }
    }

    fn register(&self, link: Arc<Link>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = sessions.insert(link.id.0.clone(), link) {
            old.stop();
        }
    }

    /// `session/new`: a daemon session for the editor's working directory.
    pub async fn new_session(
        self: Arc<Self>,
        req: NewSessionRequest,
        cx: ConnectionTo<Client>,
    ) -> Result<NewSessionResponse, AcpError> {
        let root = project_root(&req.cwd).await?;
        let daemon = self.daemon()?;
        let params = SessionCreateParams {
            project_path: root.display().to_string(),
            // The editor's provider settings (keys included) win for the session, as a
            // terminal's do.
            env: botcoder_config::client_env(),
            require_provider: true,
            ..Default::default()
        };
        let info = daemon
            .call::<SessionCreate>(&params)
            .await
            .map_err(daemon_error)?;
        let providers = self.providers().await;
        super::mcp::use_servers(daemon, &info.session_id, &req.mcp_servers).await;
        let link = Arc::new(Link::new(info.session_id.clone(), root.clone()));
        self.register(link.clone());
        let tr = Translator::new(root, self.context_window(&info).await);
        self.serve_files(&link, &cx).await;
        link::follow(self.clone(), link, cx, tr, info.last_seq, Vec::new());
        Ok(NewSessionResponse::new(info.session_id.0.clone())
            .modes(modes(info.approval))
            .config_options(model_options(&providers, &info)))
    }

    /// `session/load`: the session's history as updates, then live.
    pub async fn load_session(
        self: Arc<Self>,
        req: LoadSessionRequest,
        cx: ConnectionTo<Client>,
    ) -> Result<LoadSessionResponse, AcpError> {
        let daemon = self.daemon()?;
        let session_id = SessionId(req.session_id.0.to_string());
        let info = daemon
            .call::<SessionGet>(&SessionRef {
                session_id: session_id.clone(),
            })
            .await
            .map_err(daemon_error)?;
        let root = PathBuf::from(&info.project_path);
        super::mcp::use_servers(daemon, &session_id, &req.mcp_servers).await;
        let link = Arc::new(Link::new(session_id.clone(), root.clone()));
        self.register(link.clone());
        let mut tr = Translator::new(root, self.context_window(&info).await);
        let mut pending: Vec<Asked> = Vec::new();
        let mut after_seq = 0;
        loop {
            let page = daemon
                .call::<SessionHistory>(&SessionHistoryParams {
                    session_id: session_id.clone(),
                    after_seq,
                    limit: None,
                })
                .await
                .map_err(daemon_error)?;
            for event in &page.events {
                after_seq = event.seq.unwrap_or(after_seq);
                match &event.body {
                    EventBody::ApprovalRequested {
                        call_id,
                        tool,
                        summary,
                        diff,
                        scope,
                        ..
                    } => pending.push(Asked {
                        call_id: call_id.clone(),
                        tool: tool.clone(),
                        summary: summary.clone(),
                        diff: diff.clone(),
                        scope: scope.clone(),
                    }),
                    EventBody::ApprovalResolved { call_id, .. } => {
                        pending.retain(|a| a.call_id != *call_id)
                    }
                    _ => {}
                }
                for u in tr.updates(&event.body) {
                    cx.send_notification(SessionNotification::new(req.session_id.clone(), u))
                        .map_err(|e| internal(format!("cannot reach the editor: {e}")))?;
                }
            }
            if !page.has_more || page.events.is_empty() {
                break;
            }
        }
        let providers = self.providers().await;
        self.serve_files(&link, &cx).await;
        link::follow(self.clone(), link, cx, tr, after_seq, pending);
        Ok(LoadSessionResponse::new()
            .modes(modes(info.approval))
            .config_options(model_options(&providers, &info)))
    }

    /// `session/list`: the daemon's sessions (of one directory when `cwd` is given).
    pub async fn list_sessions(
        self: Arc<Self>,
        req: ListSessionsRequest,
    ) -> Result<ListSessionsResponse, AcpError> {
        let params = SessionListParams {
            project_path: req.cwd.as_ref().map(|c| c.display().to_string()),
        };
        let list = self
            .daemon()?
            .call::<SessionList>(&params)
            .await
            .map_err(daemon_error)?;
        let sessions = list
            .sessions
            .into_iter()
            .map(|s| {
                AcpSessionInfo::new(s.session_id.0.clone(), s.project_path)
                    .title(s.title)
                    .updated_at(Some(s.updated_at))
            })
            .collect();
        Ok(ListSessionsResponse::new(sessions))
    }

    /// `session/prompt`: one user message; answers when its turn ends.
    pub async fn prompt(self: Arc<Self>, req: PromptRequest) -> Result<PromptResponse, AcpError> {
        let link = self.link(&req.session_id.0)?;
        let daemon = self.daemon()?;
        let text = prompt_text(&req.prompt);
        if text.trim().is_empty() {
            return Err(invalid("the prompt is empty"));
        }
        link.expect_own(&text);
        let params = SessionSendParams {
            session_id: link.id.clone(),
            text: text.clone(),
            approval: link.mode_override(),
            env: Default::default(),
        };
        let sent = match daemon.call::<SessionSend>(&params).await {
            Ok(s) => s,
            Err(e) => {
                link.forget_own(&text);
                return Err(daemon_error(e));
            }
        };
        let done = link.wait_turn(&sent.turn_id);
        let outcome = tokio::select! {
            o = done => o.unwrap_or_else(|_| Err("the session stopped being followed".into())),
            () = daemon.closed() => Err("lost the connection to botcoderd".into()),
        };
        outcome.map(PromptResponse::new).map_err(internal)
    }

    /// `session/cancel`: cancels the running turn and withdraws its permission requests.
    pub async fn cancel(self: Arc<Self>, n: CancelNotification) {
        let Ok(link) = self.link(&n.session_id.0) else {
            return;
        };
        link.withdraw_all();
        if let Ok(daemon) = self.daemon() {
            let params = TurnCancelParams {
                session_id: link.id.clone(),
                turn_id: None,
            };
            if let Err(e) = daemon.call::<TurnCancel>(&params).await {
                eprintln!("botcoder acp: cannot cancel the turn: {e}");
            }
        }
    }

    /// `session/set_mode`: the approval policy, from the next turn on.
    pub async fn set_mode(
        self: Arc<Self>,
        req: SetSessionModeRequest,
        cx: ConnectionTo<Client>,
    ) -> Result<SetSessionModeResponse, AcpError> {
        let link = self.link(&req.session_id.0)?;
        let policy = match &*req.mode_id.0 {
            "auto" => ApprovalPolicy::Auto,
            "ask" => ApprovalPolicy::Ask,
            "read-only" => ApprovalPolicy::ReadOnly,
            other => {
                return Err(invalid(format!(
                    "unknown mode {other:?}: use ask, auto or read-only"
                )));
            }
        };
        let params = SessionConfigureParams {
            session_id: link.id.clone(),
            provider: None,
            model: None,
            approval: Some(policy),
            env: botcoder_config::client_env(),
        };
        match self.daemon()?.call::<SessionConfigure>(&params).await {
            // `session.configured` tells every client, this editor included.
            Ok(_) => {}
            Err(e) if is_method_missing(&e) => {
                // An older daemon: the mode goes with each prompt instead.
                link.set_mode_override(policy);
                let update =
                    SessionUpdate::CurrentModeUpdate(CurrentModeUpdate::new(mode_id(policy)));
                let _ = cx.send_notification(SessionNotification::new(link.acp_id(), update));
            }
            Err(e) => return Err(daemon_error(e)),
        }
        Ok(SetSessionModeResponse::new())
    }

    /// `session/set_config_option`: the model selector.
    pub async fn set_config_option(
        self: Arc<Self>,
        req: SetSessionConfigOptionRequest,
    ) -> Result<SetSessionConfigOptionResponse, AcpError> {
        let link = self.link(&req.session_id.0)?;
        if &*req.config_id.0 != MODEL_OPTION {
            return Err(invalid(format!("unknown option {:?}", req.config_id.0)));
        }
        let SessionConfigOptionValue::ValueId { value } = &req.value else {
            return Err(invalid("the model option takes a value id"));
        };
        let (provider, model) = value
            .0
            .split_once('/')
            .ok_or_else(|| invalid(format!("{:?} is not one of the offered models", value.0)))?;
        let params = SessionConfigureParams {
            session_id: link.id.clone(),
            provider: Some(provider.to_owned()),
            model: Some(model.to_owned()),
            approval: None,
            env: botcoder_config::client_env(),
        };
        let info = self
            .daemon()?
            .call::<SessionConfigure>(&params)
            .await
            .map_err(|e| {
                if is_method_missing(&e) {
                    internal("this botcoderd cannot switch a session's model (no session.configure); update it")
                } else {
                    daemon_error(e)
                }
            })?;
        let providers = self.providers().await;
        Ok(SetSessionConfigOptionResponse::new(model_options(
            &providers, &info,
        )))
    }
}

/// The project root for `cwd`: an existing directory, absolute as ACP requires.
async fn project_root(cwd: &Path) -> Result<PathBuf, AcpError> {
    if !cwd.is_absolute() {
        return Err(invalid(format!(
            "cwd {} is not an absolute path",
            cwd.display()
        )));
    }
    match tokio::fs::canonicalize(cwd).await {
        Ok(p) if tokio::fs::metadata(&p).await.is_ok_and(|m| m.is_dir()) => Ok(p),
        _ => Err(invalid(format!("cwd {} is not a directory", cwd.display()))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn the_client_name_names_the_editor_within_the_limit() {
        assert_eq!(client_name(None), "acp:editor");
        let zed = Implementation::new("zed", "1.0");
        assert_eq!(client_name(Some(&zed)), "acp:zed");
        let long = Implementation::new("x\n".repeat(100), "1");
        let name = client_name(Some(&long));
        assert_eq!(name.chars().count(), MAX_CLIENT_NAME_CHARS);
        assert!(!name.contains('\n'));
    }
}
