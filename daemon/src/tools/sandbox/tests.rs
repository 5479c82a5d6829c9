#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::path::PathBuf;

use super::*;

fn policy(mechanism: Mechanism, network: bool) -> Policy {
    Policy {
        mechanism,
        network,
        ..Policy::off()
    }
}

#[test]
fn modes_parse() {
    assert_eq!(Requested::parse(" Off "), Some(Requested::Off));
    assert_eq!(Requested::parse("bubblewrap"), Some(Requested::Bwrap));
    assert_eq!(Requested::parse("landlock"), Some(Requested::Landlock));
    assert_eq!(Requested::parse("auto"), Some(Requested::Auto));
    assert_eq!(Requested::parse("sometimes"), None);
}

#[test]
fn a_sandbox_failure_gets_a_note_and_other_failures_do_not() {
    let bw = policy(Mechanism::Bwrap(PathBuf::from("/usr/bin/bwrap")), false);
    let note = failure_note(&bw, "sh: 1: cannot create /etc/x: Read-only file system").unwrap();
    assert!(note.contains("bwrap") && note.contains("project"), "{note}");
    let net = failure_note(&bw, "curl: (6) Could not resolve host: example.com").unwrap();
    assert!(net.contains("BOTCODER_SANDBOX_NETWORK"), "{net}");
    assert_eq!(failure_note(&bw, "error[E0425]: cannot find value"), None);
    // With the network allowed, a refused connection is not the sandbox's doing.
    let open = policy(Mechanism::Bwrap(PathBuf::from("bwrap")), true);
    assert_eq!(failure_note(&open, "Connection refused"), None);
    assert_eq!(failure_note(&Policy::off(), "Read-only file system"), None);
}

#[test]
fn bwrap_hides_the_daemon_dirs_but_keeps_a_project_inside_one_visible() {
    let base = tempfile::tempdir_in("/var/tmp").unwrap();
    let data = base.path().join("data");
    let project = data.join("proj");
    let other = base.path().join("config");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let mut p = policy(Mechanism::Bwrap(PathBuf::from("bwrap")), false);
    p.hidden_dirs = vec![data.clone(), other.clone(), PathBuf::from("/tmp/x")];
    let args: Vec<String> = bwrap::args(
        &p,
        &project,
        std::path::Path::new("/var/tmp/t"),
        &[OsString::from("sh")],
    )
    .into_iter()
    .map(|a| a.to_string_lossy().into_owned())
    .collect();
    let pos = |s: &str| args.iter().position(|a| a == s).unwrap();
    assert!(args.contains(&"--unshare-net".to_owned()));
    assert!(args.contains(&"--unshare-pid".to_owned()));
    // data (which holds the project) is covered first, then the project bound over it.
    let data_s = data.display().to_string();
    let proj_s = project.display().to_string();
    assert!(pos(&data_s) < pos(&proj_s), "{args:?}");
    assert!(pos(&other.display().to_string()) > pos(&proj_s), "{args:?}");
    assert!(!args.contains(&"/tmp/x".to_owned()), "{args:?}");
    assert_eq!(args.last().unwrap(), "sh");
    let open = policy(Mechanism::Bwrap(PathBuf::from("bwrap")), true);
    let args = bwrap::args(
        &open,
        &project,
        std::path::Path::new("/t"),
        &[OsString::from("sh")],
    );
    assert!(!args.contains(&OsString::from("--unshare-net")));
}

#[test]
fn uninitialised_means_off_and_status_says_why_it_is_weaker() {
    assert_eq!(current().mechanism, Mechanism::Off);
    let info = policy(Mechanism::Unavailable("install bubblewrap".into()), false).info();
    assert_eq!(info.mode, SandboxMode::Unavailable);
    assert_eq!(info.note.as_deref(), Some("install bubblewrap"));
}
