#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use pretty_assertions::assert_eq;

use super::*;

fn conn(fs: bool) -> ConnFs {
    let c = ConnFs::new(CancellationToken::new());
    c.declare(fs);
    c
}

fn params(timeout_ms: u64) -> ClientFsServeParams {
    ClientFsServeParams {
        session_id: SessionId::from("s1"),
        read: true,
        write: true,
        timeout_ms: Some(timeout_ms),
    }
}

fn answer(id: u64, content: &str) -> ClientFsRespondParams {
    ClientFsRespondParams {
        session_id: SessionId::from("s1"),
        request_id: id,
        content: Some(content.to_owned()),
        error: None,
    }
}

#[test]
fn only_a_declared_connection_may_serve_and_the_creator_alone_while_it_is_open() {
    let slot = FsSlot::default();
    let (creator, other) = (conn(true), conn(true));
    slot.note_creator(&creator);
    let kind = |r: Result<_, DaemonError>| r.map(|_| ()).map_err(|e| e.kind);
    assert_eq!(
        kind(slot.claim(&conn(false), &params(1000))),
        Err(ErrorKind::PermissionDenied)
    );
    assert_eq!(
        kind(slot.claim(&other, &params(1000))),
        Err(ErrorKind::PermissionDenied)
    );
    let (served, _rx) = slot.claim(&creator, &params(1000)).unwrap();
    // While the creator serves, nobody else may; once it is gone, another may.
    creator.ended.cancel();
    assert_eq!(
        kind(slot.claim(&other, &params(1000))),
        Err(ErrorKind::PermissionDenied)
    );
    slot.release(&served);
    assert!(slot.claim(&other, &params(1000)).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_taken_only_from_the_server_and_only_for_open_requests() {
    let slot = Arc::new(FsSlot::default());
    let (server, attacker) = (conn(true), conn(true));
    let (_s, mut rx) = slot.claim(&server, &params(5000)).unwrap();
    let editor = slot.editor().unwrap();
    let read = tokio::task::spawn_blocking(move || {
        editor.read(Path::new("/p/a.txt"), "a.txt", &CancellationToken::new())
    });
    let request = rx.recv().await.unwrap();
    assert_eq!(
        request.op,
        ClientFsOp::Read {
            path: "/p/a.txt".into()
        }
    );
    let id = request.request_id;
    let refused = slot.answer(&attacker, answer(id, "fake")).unwrap_err();
    assert_eq!(refused.kind, ErrorKind::PermissionDenied);
    assert_eq!(
        slot.answer(&server, answer(id + 1000, "x"))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidParams
    );
    slot.answer(&server, answer(id, "buffer")).unwrap();
    assert_eq!(read.await.unwrap(), Ok("buffer".to_owned()));
    // Answered once: a second answer finds nothing open.
    assert!(slot.answer(&server, answer(id, "again")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_that_never_answers_fails_the_request_within_its_timeout() {
    let slot = FsSlot::default();
    let (_s, _rx) = slot.claim(&conn(true), &params(200)).unwrap();
    let editor = slot.editor().unwrap();
    let started = std::time::Instant::now();
    let r = tokio::task::spawn_blocking(move || {
        editor.write(Path::new("/p/a"), "a", "x", &CancellationToken::new())
    })
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        r,
        Err(EditorError::Failed(
            "the editor did not write a: the editor did not answer within 0.2 s".to_owned()
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_leaves_sends_reads_to_the_disk_and_fails_writes_in_flight() {
    let slot = Arc::new(FsSlot::default());
    let (server, mut rx) = slot.claim(&conn(true), &params(5000)).unwrap();
    let editor = slot.editor().unwrap();
    let e2 = editor.clone();
    let write = tokio::task::spawn_blocking(move || {
        e2.write(Path::new("/p/a"), "a", "x", &CancellationToken::new())
    });
    let _ = rx.recv().await.unwrap();
    slot.release(&server);
    assert!(
        matches!(write.await.unwrap(), Err(EditorError::Failed(m)) if m.contains("disconnected"))
    );
    assert!(slot.editor().is_none());
    let read = tokio::task::spawn_blocking(move || {
        editor.read(Path::new("/p/a"), "a", &CancellationToken::new())
    });
    assert_eq!(read.await.unwrap(), Err(EditorError::Unavailable));
}
