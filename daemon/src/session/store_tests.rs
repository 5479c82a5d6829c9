//! Unit tests of the journal.

use super::*;
use botcoder_protocol::{EventBody, SessionId};
use pretty_assertions::assert_eq;

fn ev(seq: u64, text: &str) -> Event {
    Event {
        seq: Some(seq),
        session_id: SessionId::from("s1"),
        time: "2026-01-01T00:00:00.000Z".into(),
        body: EventBody::UserMessage {
            turn_id: TurnId::from("t1"),
            text: text.into(),
            client: "test".into(),
        },
    }
}

#[test]
fn append_then_open_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path()).unwrap();
    for i in 1..=3 {
        j.append(&serde_json::to_string(&ev(i, "hi")).unwrap(), i == 1)
            .unwrap();
    }
    drop(j);
    let (_, loaded) = Journal::open(dir.path()).unwrap();
    assert_eq!(loaded.events, vec![ev(1, "hi"), ev(2, "hi"), ev(3, "hi")]);
    assert_eq!(loaded.repaired_bytes, 0);
}

#[test]
fn torn_last_line_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path()).unwrap();
    j.append(&serde_json::to_string(&ev(1, "kept")).unwrap(), false)
        .unwrap();
    let torn = serde_json::to_string(&ev(2, "torn")).unwrap();
    let path = j.path().to_owned();
    drop(j);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
    drop(f);

    let (mut j, loaded) = Journal::open(dir.path()).unwrap();
    assert_eq!(loaded.events, vec![ev(1, "kept")]);
    assert!(loaded.repaired_bytes > 0);
    j.append(&serde_json::to_string(&ev(2, "after")).unwrap(), false)
        .unwrap();
    drop(j);
    let (_, loaded) = Journal::open(dir.path()).unwrap();
    assert_eq!(loaded.events, vec![ev(1, "kept"), ev(2, "after")]);
}

#[test]
fn complete_but_garbled_last_line_is_dropped_but_middle_garbage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS_FILE);
    let good = serde_json::to_string(&ev(1, "a")).unwrap();
    fs::write(&path, format!("{good}\n{{\"seq\":2,\"sess\n")).unwrap();
    let (_, loaded) = Journal::open(dir.path()).unwrap();
    assert_eq!(loaded.events.len(), 1);

    fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
    let err = Journal::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { line: 2, .. }), "{err}");
}

#[test]
fn replay_filters_by_seq_and_limit_and_tail_reads_last() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path()).unwrap();
    for i in 1..=5 {
        j.append(&serde_json::to_string(&ev(i, "x")).unwrap(), false)
            .unwrap();
    }
    let mut seen = Vec::new();
    replay_lines(dir.path(), 0, 2, 2, |seq, _| seen.push(seq)).unwrap();
    assert_eq!(seen, vec![3, 4]);
    assert_eq!(tail(dir.path()).map(|t| t.0), Some(5));
}

#[test]
fn line_seq_fast_path_and_fallback_agree() {
    let line = serde_json::to_string(&ev(42, "x")).unwrap();
    assert!(line.starts_with("{\"seq\":42,"), "{line}");
    assert_eq!(line_seq(&line), Some(42));
    assert_eq!(line_seq(r#"{"session_id":"s","seq":7}"#), Some(7));
    assert_eq!(line_seq(r#"{"seq":}"#), None);
    assert_eq!(line_seq("garbage"), None);
}

#[test]
fn partial_reply_round_trips_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path()).unwrap();
    assert_eq!(j.load_partial(), None);
    let p = PartialReply {
        turn_id: TurnId::from("t"),
        text: "half".into(),
    };
    j.save_partial(&p).unwrap();
    assert_eq!(j.load_partial(), Some(p));
    j.clear_partial().unwrap();
    j.clear_partial().unwrap();
    assert_eq!(j.load_partial(), None);
}

fn line(json: &str) -> String {
    format!("{json}\n")
}

#[test]
fn unknown_types_and_repeated_seqs_are_skipped_and_new_seqs_never_reuse_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS_FILE);
    let e = |seq, text| serde_json::to_string(&ev(seq, text)).unwrap();
    let future = r#"{"seq":3,"session_id":"s1","time":"t","type":"future.event","x":[1]}"#;
    let text = [
        line(&e(1, "a")),
        line(&e(2, "b")),
        line(future),
        line(&e(2, "dup")),
        line(&e(4, "d")),
        line(&e(4, "dup again")),
        line(r#"{"seq":9,"session_id":"s1","time":"t","type":"another.new.one"}"#),
    ]
    .concat();
    fs::write(&path, &text).unwrap();
    let (_, loaded) = Journal::open(dir.path()).unwrap();
    assert_eq!(loaded.events, vec![ev(1, "a"), ev(2, "b"), ev(4, "d")]);
    assert_eq!(
        (loaded.last_seq, loaded.unknown, loaded.misordered),
        (9, 2, 2)
    );
    // The file is left as it was: a newer daemon can still read its own events.
    assert_eq!(fs::read_to_string(&path).unwrap(), text);

    // Replay never passes a seq twice or backwards; history also drops unknown types.
    let mut seen = Vec::new();
    replay_lines(dir.path(), 0, 0, 100, |seq, _| seen.push(seq)).unwrap();
    assert_eq!(seen, vec![1, 2, 3, 4, 9]);
    let page = history(dir.path(), 0, 0, 100, usize::MAX).unwrap();
    assert_eq!(page, vec![ev(1, "a"), ev(2, "b"), ev(4, "d")]);
}

#[test]
fn history_pages_stop_at_the_byte_budget_but_always_hold_one_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path()).unwrap();
    for i in 1..=10 {
        let text = "x".repeat(1000);
        j.append(&serde_json::to_string(&ev(i, &text)).unwrap(), false)
            .unwrap();
    }
    let seqs = |p: Vec<Event>| p.iter().filter_map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(history(dir.path(), 0, 0, 100, 3500).unwrap()),
        vec![1, 2, 3]
    );
    assert_eq!(
        seqs(history(dir.path(), 0, 3, 2, 1_000_000).unwrap()),
        vec![4, 5]
    );
    assert_eq!(seqs(history(dir.path(), 0, 9, 100, 10).unwrap()), vec![10]);
    assert_eq!(
        seqs(history(dir.path(), 0, 10, 100, 10).unwrap()),
        Vec::<u64>::new()
    );
}

#[test]
fn history_fills_a_page_past_a_long_run_of_unknown_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for seq in 1..=(HISTORY_BATCH as u64 + 10) {
        text.push_str(&line(&format!(
            r#"{{"seq":{seq},"session_id":"s1","time":"t","type":"x.y"}}"#
        )));
    }
    let last = HISTORY_BATCH as u64 + 11;
    text.push_str(&line(&serde_json::to_string(&ev(last, "known")).unwrap()));
    fs::write(dir.path().join(EVENTS_FILE), text).unwrap();
    assert_eq!(
        history(dir.path(), 0, 0, 10, usize::MAX).unwrap(),
        vec![ev(last, "known")]
    );
}

#[test]
fn appends_fail_once_the_journal_is_no_longer_at_its_path() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("sess");
    let mut j = Journal::create(&dir).unwrap();
    j.append(&serde_json::to_string(&ev(1, "a")).unwrap(), false)
        .unwrap();
    fs::remove_dir_all(&dir).unwrap();
    let err = j
        .append(&serde_json::to_string(&ev(2, "b")).unwrap(), false)
        .unwrap_err();
    assert!(matches!(err, StoreError::Vanished { .. }), "{err}");
    assert!(err.to_string().contains("no longer exists"), "{err}");

    // Replaced by a look-alike: still refused, the file is not the one opened.
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(EVENTS_FILE), "").unwrap();
    let err = j.append("{}", false).unwrap_err();
    assert!(err.to_string().contains("different file"), "{err}");
    assert!(err.to_string().contains("botcoder daemon restart"), "{err}");
}

#[test]
fn a_failed_append_leaves_no_partial_line() {
    // A read-only descriptor cannot write: the error path must restore the length.
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path()).unwrap();
    j.append(&serde_json::to_string(&ev(1, "a")).unwrap(), false)
        .unwrap();
    let len = fs::metadata(j.path()).unwrap().len();
    j.file = File::open(j.path()).unwrap();
    assert!(j.append("{\"seq\":2}", false).is_err());
    assert_eq!(
        fs::metadata(dir.path().join(EVENTS_FILE)).unwrap().len(),
        len
    );
}

#[test]
fn head_reads_only_complete_lines_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path()).unwrap();
    for i in 1..=3 {
        j.append(&serde_json::to_string(&ev(i, "x")).unwrap(), false)
            .unwrap();
    }
    let one = serde_json::to_string(&ev(1, "x")).unwrap().len() as u64 + 1;
    assert_eq!(head(dir.path(), one + one / 2), vec![ev(1, "x")]);
    assert_eq!(head(dir.path(), 1 << 20).len(), 3);
    assert!(exists(dir.path()));
}

#[test]
fn a_replay_after_seq_n_of_a_100k_event_journal_reads_only_the_tail() {
    use super::super::index::STRIDE;
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    let mut longest = 0u64;
    for i in 1..=N {
        let line = serde_json::to_string(&ev(i, "hello")).unwrap();
        longest = longest.max(line.len() as u64 + 1);
        text.push_str(&line);
        text.push('\n');
    }
    fs::write(dir.path().join(EVENTS_FILE), &text).unwrap();
    let len = text.len() as u64;
    let (mut j, loaded) = Journal::open(dir.path()).unwrap();
    assert_eq!(loaded.last_seq, N);

    let after = N - 10;
    let start = j.replay_start(after);
    assert!(
        len - start <= STRIDE * longest,
        "a replay after seq {after} starts {} bytes before the end of a {len}-byte journal",
        len - start
    );
    let timed = std::time::Instant::now();
    let mut seen = Vec::new();
    let end = replay_lines(dir.path(), start, after, usize::MAX, |s, _| seen.push(s)).unwrap();
    let indexed = timed.elapsed();
    assert_eq!(seen, (after + 1..=N).collect::<Vec<_>>());
    assert_eq!(
        end, len,
        "the returned offset is where the next batch starts"
    );

    // The same events as a scan from the first line, which reads the whole file.
    let timed = std::time::Instant::now();
    let mut full = Vec::new();
    replay_lines(dir.path(), 0, after, usize::MAX, |s, _| full.push(s)).unwrap();
    let scanned = timed.elapsed();
    assert_eq!(full, seen);
    eprintln!(
        "replay of the last 10 of {N} events: {indexed:?} from the index, {scanned:?} from line 1"
    );

    // A history page starts late too.
    let page = history(dir.path(), j.replay_start(N - 5), N - 5, 3, usize::MAX).unwrap();
    assert_eq!(
        page.iter().filter_map(|e| e.seq).collect::<Vec<_>>(),
        vec![N - 4, N - 3, N - 2]
    );

    // Appends keep the index current.
    for i in N + 1..=N + STRIDE + 1 {
        j.append(&serde_json::to_string(&ev(i, "hello")).unwrap(), false)
            .unwrap();
    }
    let start = j.replay_start(N + STRIDE);
    assert!(start > len, "appended lines are indexed");
    let mut tail = Vec::new();
    replay_lines(dir.path(), start, N + STRIDE, usize::MAX, |s, _| {
        tail.push(s)
    })
    .unwrap();
    assert_eq!(tail, vec![N + STRIDE + 1]);
}

#[test]
fn batches_continue_where_the_previous_one_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path()).unwrap();
    for i in 1..=5 {
        j.append(&serde_json::to_string(&ev(i, "x")).unwrap(), false)
            .unwrap();
    }
    let mut seen = Vec::new();
    let next = replay_lines(dir.path(), 0, 0, 2, |s, _| seen.push(s)).unwrap();
    replay_lines(dir.path(), next, 2, 2, |s, _| seen.push(s)).unwrap();
    assert_eq!(seen, vec![1, 2, 3, 4]);
}
