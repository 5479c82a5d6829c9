//! Running under systemd: socket activation (an inherited listening socket, passed the way
//! systemd passes it) and readiness notification.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::Duration;

use botcoder_protocol::methods::{DaemonStatus, Empty};
use botcoder_tests::harness::{TestEnv, bin};

/// Starts botcoderd through `sh` so that `LISTEN_PID` can be the daemon's own pid (`exec`
/// keeps the shell's pid) and the listener lands on fd 3, as systemd does it.
fn spawn_activated(
    env: &TestEnv,
    listener: &std::os::unix::net::UnixListener,
) -> std::process::Child {
    rustix::io::fcntl_setfd(listener, rustix::io::FdFlags::empty()).expect("clear CLOEXEC");
    let script = format!(
        "export LISTEN_PID=$$ LISTEN_FDS=1; exec {} 3<&{}",
        bin("botcoderd").display(),
        listener.as_raw_fd()
    );
    env.command(std::path::Path::new("/bin/sh"))
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn botcoderd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_an_inherited_socket_and_leaves_it_to_systemd() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.socket.parent().expect("parent")).expect("mkdir");
    let listener = std::os::unix::net::UnixListener::bind(&env.socket).expect("bind");
    let mut daemon = env.adopt(spawn_activated(&env, &listener));
    drop(listener); // the daemon has its own copy now

    let client = env.client("activation-test").await;
    let status = client
        .call::<DaemonStatus>(&Empty {})
        .await
        .expect("status");
    assert_eq!(status.pid, daemon.pid());

    daemon.signal(rustix::process::Signal::TERM);
    let (code, stderr) = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("daemon exits");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        env.socket.exists(),
        "the daemon deleted a socket that systemd owns"
    );
    assert!(
        stderr.contains("serving the socket passed by systemd"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifies_ready_and_stopping() {
    let mut env = TestEnv::new();
    let notify_path = env.root().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("bind notify");
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    env.set("NOTIFY_SOCKET", &notify_path.display().to_string());
    let mut daemon = env.start_daemon();
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("READY datagram");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    daemon.signal(rustix::process::Signal::TERM);
    let n = notify.recv(&mut buf).expect("STOPPING datagram");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    let (code, _) = daemon.wait_exit(Duration::from_secs(5)).expect("exit");
    assert_eq!(code, 0);
    assert!(
        !env.socket.exists(),
        "a daemon that bound its own socket removes it"
    );
}
