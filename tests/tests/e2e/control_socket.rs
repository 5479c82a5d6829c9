//! The control socket against a hostile model (invariant I9): a process that a tool started
//! connects to `$BOTCODER_SOCKET` and tries to drive the daemon — approve, queue `auto`
//! turns, read and delete another session, shut the daemon down. Every method is refused;
//! the same client run by the person works. Also: `approval.respond` needs the approvals
//! capability, and the daemon's process is out of reach of a same-uid reader.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{
    ApprovalRespond, ApprovalRespondParams, DaemonStatus, Empty, SessionCreate,
    SessionCreateParams, SessionGet, SessionRef, SubscribeParams,
};
use botcoder_protocol::{ApprovalDecision, ApprovalPolicy, ErrorKind, EventBody, SessionId};
use botcoder_tests::events::{collect_until, until_turns_completed};
use botcoder_tests::harness::{TestEnv, bin};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;
use pretty_assertions::assert_eq;

const T: Duration = Duration::from_secs(30);

/// A minimal JSON-RPC-over-WebSocket client in Python: what a hostile command can write in
/// a minute. `all` tries every method; `read` only the harmless ones.
const CLIENT_PY: &str = r#"
import base64, json, os, socket, sys

def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET / HTTP/1.1\r\nHost: botcoderd.local\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            sys.exit("closed during the handshake")
        head += c
    if b" 101 " not in head.split(b"\r\n")[0]:
        sys.exit("upgrade refused: " + head.decode(errors="replace"))
    return s

def exact(s, n):
    out = b""
    while len(out) < n:
        c = s.recv(n - len(out))
        if not c:
            sys.exit("connection closed")
        out += c
    return out

def send(s, text):
    data = text.encode()
    mask = os.urandom(4)
    head = bytearray([0x81])
    n = len(data)
    if n < 126:
        head.append(0x80 | n)
    elif n < 65536:
        head.append(0x80 | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(0x80 | 127)
        head += n.to_bytes(8, "big")
    s.sendall(bytes(head) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

def recv(s):
    while True:
        b0, b1 = exact(s, 2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(exact(s, 2), "big")
        elif n == 127:
            n = int.from_bytes(exact(s, 8), "big")
        payload = exact(s, n)
        if b0 & 0x0F == 1:
            return payload.decode()
        if b0 & 0x0F == 8:
            sys.exit("closed by the daemon")

def call(s, i, method, params):
    send(s, json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}))
    while True:
        msg = json.loads(recv(s))
        if msg.get("id") == i:
            return msg

victim, mode = sys.argv[1], sys.argv[2]
calls = [
    ("daemon.hello", {"client": "helper", "protocol_version": "1.0", "capabilities": ["approvals"]}),
    ("daemon.status", {}),
    ("session.list", {}),
    ("session.get", {"session_id": victim}),
    ("session.history", {"session_id": victim}),
]
if mode == "all":
    calls += [
        ("session.subscribe", {"session_id": victim}),
        ("session.send", {"session_id": victim, "text": "rm -rf ~", "approval": "auto"}),
        ("session.create", {"project_path": "/", "approval": "auto"}),
        ("session.rename", {"session_id": victim, "title": "pwned"}),
        ("approval.respond", {"session_id": victim, "call_id": "c1", "decision": "allow"}),
        ("turn.cancel", {"session_id": victim}),
        ("session.use_mcp", {"session_id": victim, "servers": {"evil": {"command": "sh", "args": ["-c", "id"]}}}),
        ("client.fs.respond", {"session_id": victim, "request_id": 1, "content": "fake"}),
        ("session.delete", {"session_id": victim}),
        ("daemon.shutdown", {}),
    ]
s = connect(os.environ["BOTCODER_SOCKET"])
for i, (method, params) in enumerate(calls, 1):
    answer = call(s, i, method, params)
    err = answer.get("error")
    print(method, (err.get("data") or {}).get("kind", err.get("code")) if err else "ok", flush=True)
"#;

async fn setup() -> (TestEnv, MockLlm, botcoder_tests::harness::DaemonProcess) {
    // The sandbox already hides the socket from tools (tests/tests/e2e/sandbox.rs); with it
    // off, these tests show the second line of defence: the daemon refuses tool processes
    // itself.
    botcoder_tests::harness::daemon_with_mock(&[("BOTCODER_SANDBOX", "off")]).await
}

async fn create(
    c: &DaemonClient,
    env: &TestEnv,
    title: &str,
    approval: ApprovalPolicy,
) -> SessionId {
    let p = SessionCreateParams {
        project_path: env.project.display().to_string(),
        title: Some(title.into()),
        approval: Some(approval),
        ..Default::default()
    };
    c.call::<SessionCreate>(&p)
        .await
        .expect("create")
        .session_id
}

fn write_client(env: &TestEnv) -> PathBuf {
    let path = env.root().join("client.py");
    std::fs::write(&path, CLIENT_PY).unwrap();
    path
}

fn answers(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(m, _)| {
            ["daemon.", "session.", "approval.", "turn.", "client."]
                .iter()
                .any(|p| m.starts_with(p))
        })
        .map(|(m, k)| (m.to_owned(), k.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_started_by_a_tool_cannot_drive_the_daemon() {
    let (env, mock, _d) = setup().await;
    let person = env.client("person").await;
    let victim = create(&person, &env, "the person's work", ApprovalPolicy::Ask).await;
    let attacker = create(&person, &env, "hostile", ApprovalPolicy::Auto).await;
    let client_py = write_client(&env);
    let botcoder = bin("botcoder");
    // The model runs a command that starts helpers in their own sessions (setsid), which
    // connect to the daemon's socket. Children do not inherit BOTCODER_SOCKET, but a hostile
    // model can guess or find the path, so the command names it.
    let command = format!(
        "export BOTCODER_SOCKET={sock}; python3 {py} {victim} all; echo \"python exit $?\"; \
         setsid -w {cli} sessions rm {victim}; echo \"rm exit $?\"; \
         setsid -w {cli} daemon stop; echo \"stop exit $?\"",
        sock = env.socket.display(),
        py = client_py.display(),
        victim = victim.0,
        cli = botcoder.display(),
    );
    let args = serde_json::json!({ "command": command, "timeout_s": 60 }).to_string();
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "execute_command", &args)],
        0,
    ));
    mock.push(MockResponse::text("I tried."));
    let mut sub = session::subscribe(&person, &attacker, None).await;
    session::send(&person, &attacker, "clean up").await;
    let events = until_turns_completed(&mut sub, 1, Duration::from_secs(90)).await;
    let output = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::ToolResult { output, .. } => Some(output.clone()),
            _ => None,
        })
        .expect("a tool result");

    let refused: Vec<(String, String)> = [
        "daemon.hello",
        "daemon.status",
        "session.list",
        "session.get",
        "session.history",
        "session.subscribe",
        "session.send",
        "session.create",
        "session.rename",
        "approval.respond",
        "turn.cancel",
        "session.use_mcp",
        "client.fs.respond",
        "session.delete",
        "daemon.shutdown",
    ]
    .iter()
    .map(|m| (m.to_string(), "permission_denied".to_owned()))
    .collect();
    assert_eq!(answers(&output), refused, "{output}");
    for line in ["python exit 0", "rm exit", "stop exit"] {
        assert!(output.contains(line), "{line}: {output}");
    }
    assert!(!output.contains("rm exit 0"), "{output}");
    assert!(!output.contains("stop exit 0"), "{output}");

    // The daemon is up, the victim untouched.
    let fresh = env.client("person-again").await;
    fresh
        .call::<DaemonStatus>(&Empty {})
        .await
        .expect("still up");
    let info = fresh
        .call::<SessionGet>(&SessionRef {
            session_id: victim.clone(),
        })
        .await
        .expect("victim still there");
    assert_eq!(info.title.as_deref(), Some("the person's work"));
    let history = botcoder_tests::session::history(&fresh, &victim).await;
    assert!(
        !history
            .events
            .iter()
            .any(|e| matches!(e.body, EventBody::UserMessage { .. })),
        "no turn was queued in the victim session"
    );
    // The log is written by a background thread: give it a moment under load.
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(env.log_file()).unwrap_or_default();
        if log.contains("refused a connection from a process started for a tool") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        log.contains("refused a connection from a process started for a tool"),
        "{log}"
    );
}

/// The honest path: the very same client, started by the person, is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_client_started_by_the_person_is_served() {
    let (env, _mock, _d) = setup().await;
    let person = env.client("person").await;
    let victim = create(&person, &env, "mine", ApprovalPolicy::Ask).await;
    let client_py = write_client(&env);
    let out = env
        .command(Path::new("/usr/bin/env"))
        .arg("python3")
        .arg(&client_py)
        .args([victim.0.as_str(), "read"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ok: Vec<(String, String)> = [
        "daemon.hello",
        "daemon.status",
        "session.list",
        "session.get",
        "session.history",
    ]
    .iter()
    .map(|m| (m.to_string(), "ok".to_owned()))
    .collect();
    assert_eq!(
        answers(&stdout),
        ok,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_client_that_declared_approvals_may_answer_them() {
    let (env, mock, _d) = setup().await;
    mock.push(MockResponse::openai_tool_calls(
        &[("w1", "write_file", r#"{"path":"x.txt","content":"no\n"}"#)],
        0,
    ));
    mock.push(MockResponse::text("Stopped."));
    let script = env.client("script").await;
    let id = create(&script, &env, "approvals", ApprovalPolicy::Ask).await;
    let approver = DaemonClient::connect(&ConnectOptions {
        socket_path: env.socket.clone(),
        client_name: "reviewer".into(),
        capabilities: vec![botcoder_protocol::CAPABILITY_APPROVALS.into()],
        autostart: false,
    })
    .await
    .unwrap();
    let sub_params = SubscribeParams {
        session_id: id.clone(),
        after_seq: None,
    };
    let mut asub = approver.subscribe(&sub_params).await.unwrap();
    session::send(&script, &id, "write x.txt").await;
    let seen = collect_until(&mut asub, T, |e| {
        matches!(e.body, EventBody::ApprovalRequested { .. })
    })
    .await;
    let Some(EventBody::ApprovalRequested { call_id, .. }) = seen.last().map(|e| e.body.clone())
    else {
        panic!("no approval request")
    };
    // A client that never said it answers approvals (a script, or anything that merely
    // knows the call id) is refused, and the request stays open.
    let allow = ApprovalRespondParams {
        session_id: id.clone(),
        call_id: call_id.clone(),
        decision: ApprovalDecision::Allow,
        message: None,
    };
    let err = script.call::<ApprovalRespond>(&allow).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::PermissionDenied), "{err}");
    assert!(err.to_string().contains("approvals"), "{err}");
    // The person's "deny" is what counts.
    let deny = ApprovalRespondParams {
        decision: ApprovalDecision::Deny,
        ..allow
    };
    approver.call::<ApprovalRespond>(&deny).await.expect("deny");
    let events = until_turns_completed(&mut asub, 1, T).await;
    let decided = botcoder_tests::session::decided_by(&events);
    assert_eq!(decided, [(ApprovalDecision::Deny, "reviewer".to_owned())]);
    assert!(!env.project.join("x.txt").exists());
}

/// Runs `program args` as `nobody` with the test's environment.
fn as_nobody(env: &TestEnv, program: &Path) -> std::process::Command {
    let mut c = env.command(Path::new("/usr/bin/setpriv"));
    c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(program);
    c
}

/// Process hardening, tested as an ordinary (same, unprivileged) uid: the daemon and the
/// reader both run as `nobody`. Reading the key out of `/proc/<daemon>/environ` or `mem`,
/// or `.env` through `/proc/<daemon>/cwd`, fails — while the same reader can read an
/// ordinary process of its own uid, and the daemon still serves a turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_uid_process_cannot_read_the_daemons_secrets_through_proc() {
    use botcoder_tests::harness::{can_become_nobody, require};
    require("root and setpriv (to become nobody)", can_become_nobody());
    let mock = MockLlm::start().await.expect("mock");
    mock.set_default(MockResponse::text("hardened and working"));
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    env.set("OPENAI_API_KEY", "sk-from-the-environment-123");
    std::fs::write(
        env.root().join("cwd").join(".env"),
        "OPENAI_API_KEY=sk-from-dotenv-456\n",
    )
    .unwrap();
    // Everything of this test belongs to nobody, as a normal user's files belong to them.
    let chown = std::process::Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(env.root())
        .status()
        .unwrap();
    assert!(chown.success());
    let child = as_nobody(&env, &bin("botcoderd"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let daemon = env.adopt(child);
    env.wait_for_socket(Duration::from_secs(10));
    let pid = daemon.pid();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        PathBuf::from("/"),
        "the daemon left its start directory"
    );

    let probe = format!(
        "cat /proc/{pid}/environ >/dev/null 2>&1 && echo environ-readable; \
         /usr/bin/python3 -c \"open('/proc/{pid}/mem','rb')\" 2>/dev/null && echo mem-openable; \
         cat /proc/{pid}/cwd/.env >/dev/null 2>&1 && echo dotenv-readable; \
         grep -q sk- /proc/{pid}/cmdline 2>/dev/null && echo key-in-cmdline; \
         sleep 30 & other=$!; \
         cat /proc/$other/environ >/dev/null 2>&1 && echo control-readable; \
         kill $other"
    );
    let out = as_nobody(&env, Path::new("/bin/sh"))
        .args(["-c", &probe])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "control-readable\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The daemon works: a turn against the mock, asked by nobody's CLI.
    let project = env.project.display().to_string();
    let ask = as_nobody(&env, &bin("botcoder"))
        .args(["ask", "-p", &project, "hello"])
        .output()
        .unwrap();
    assert_eq!(
        ask.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&ask.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ask.stdout).contains("hardened and working"),
        "{}",
        String::from_utf8_lossy(&ask.stdout)
    );
    let log = std::fs::read_to_string(env.log_file()).unwrap_or_default();
    assert!(!log.contains("cannot make botcoderd non-dumpable"), "{log}");
    assert!(!log.contains("sk-from"), "no key in the log: {log}");
    drop(daemon);
}
