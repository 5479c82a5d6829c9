//! The on-disk journal of one session: `<data>/sessions/<id>/events.jsonl`, one durable
//! [`Event`] per line, append-only, plus `partial.json` holding the assistant text of the
//! running reply so that a crash loses at most about a second of it (invariant I4).
//!
//! All functions here do blocking file I/O; callers on the async runtime go through
//! `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use botcoder_protocol::{Event, TurnId};
use serde::{Deserialize, Serialize};

const EVENTS_FILE: &str = "events.jsonl";
const PARTIAL_FILE: &str = "partial.json";

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a journal file.
    #[error("session journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A line in the middle of the journal is not an event.
    #[error("session journal {path} line {line} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Parser message.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The assistant text streamed so far in a running reply, saved about once a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialReply {
    /// The turn.
    pub turn_id: TurnId,
    /// Text so far.
    pub text: String,
}

/// What loading a journal found.
#[derive(Debug)]
pub struct Loaded {
    /// Every durable event, in order.
    pub events: Vec<Event>,
    /// Bytes cut from a torn last line, if any.
    pub repaired_bytes: u64,
}

/// An open journal, appended to by its session only.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Creates the session directory and an empty journal. Fails if it already exists.
    pub fn create(dir: &Path) -> Result<Journal, StoreError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(EVENTS_FILE);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(Journal {
            dir: dir.to_owned(),
            path,
            file,
        })
    }

    /// Opens an existing journal, repairing a torn last line, and returns every event.
    pub fn open(dir: &Path) -> Result<(Journal, Loaded), StoreError> {
        let path = dir.join(EVENTS_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&path))?;
        let (events, good_len) = parse_events(&path, &bytes)?;
        let repaired_bytes = bytes.len() as u64 - good_len;
        if repaired_bytes > 0 {
            tracing::warn!(path = %path.display(), repaired_bytes, "truncating torn last journal line");
            file.set_len(good_len).map_err(io_err(&path))?;
            file.sync_data().map_err(io_err(&path))?;
        }
        let journal = Journal {
            dir: dir.to_owned(),
            path,
            file,
        };
        Ok((
            journal,
            Loaded {
                events,
                repaired_bytes,
            },
        ))
    }

    /// Appends one serialized event (without its newline). With `sync`, waits until the
    /// data is on stable storage; without, until the OS has it (which survives `kill -9`).
    pub fn append(&mut self, line: &str, sync: bool) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let before = self.file.metadata().map_err(io_err(&self.path))?.len();
        // One write call per line keeps lines whole under concurrent readers.
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // A full disk or a file-size limit can leave part of the line behind: cut it off
            // so a later successful append never follows garbage.
            let _ = self.file.set_len(before);
            return Err(io_err(&self.path)(e));
        }
        Ok(())
    }

    /// Flushes the journal to stable storage.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(io_err(&self.path))
    }

    /// Path of the journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves the running reply's text (temp file + rename, so it is never half-written).
    pub fn save_partial(&self, partial: &PartialReply) -> Result<(), StoreError> {
        let path = self.dir.join(PARTIAL_FILE);
        let tmp = self.dir.join(".partial.json.tmp");
        let json = serde_json::to_vec(partial).map_err(|e| StoreError::Io {
            path: tmp.clone(),
            source: io::Error::other(e),
        })?;
        fs::write(&tmp, json).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Forgets the saved running reply.
    pub fn clear_partial(&self) -> Result<(), StoreError> {
        let path = self.dir.join(PARTIAL_FILE);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            _ => Ok(()),
        }
    }

    /// The saved running reply, if any.
    pub fn load_partial(&self) -> Option<PartialReply> {
        let bytes = fs::read(self.dir.join(PARTIAL_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Parses journal bytes. A last line that is incomplete (no newline) or does not parse is
/// a torn write and is dropped; a bad line anywhere else is corruption.
fn parse_events(path: &Path, bytes: &[u8]) -> Result<(Vec<Event>, u64), StoreError> {
    let mut events = Vec::new();
    let mut good_len = 0u64;
    let mut start = 0usize;
    let mut line_no = 0usize;
    while start < bytes.len() {
        line_no += 1;
        let Some(nl) = bytes[start..].iter().position(|&b| b == b'\n') else {
            break; // torn: no newline
        };
        let line = &bytes[start..start + nl];
        let next = start + nl + 1;
        if !line.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Event>(line) {
                Ok(ev) => events.push(ev),
                Err(e) if next >= bytes.len() => {
                    tracing::warn!(path = %path.display(), error = %e, "torn last journal line");
                    break;
                }
                Err(e) => {
                    return Err(StoreError::Corrupt {
                        path: path.to_owned(),
                        line: line_no,
                        message: e.to_string(),
                    });
                }
            }
        }
        start = next;
        good_len = next as u64;
    }
    Ok((events, good_len))
}

/// Calls `f` with each raw journal line whose event has `seq > after_seq`, in order, up to
/// `limit` lines. Reads the file as it is now; lines appended later are not seen.
pub fn replay_lines(
    dir: &Path,
    after_seq: u64,
    limit: usize,
    mut f: impl FnMut(u64, &str),
) -> Result<(), StoreError> {
    let path = dir.join(EVENTS_FILE);
    let file = File::open(&path).map_err(io_err(&path))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = String::new();
    let mut sent = 0usize;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io_err(&path))?;
        if n == 0 || !line.ends_with('\n') || sent >= limit {
            return Ok(());
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(seq) = line_seq(trimmed)
            && seq > after_seq
        {
            f(seq, trimmed);
            sent += 1;
        }
    }
}

/// The seq of a journal line. The daemon writes `seq` first, so the fast path reads the
/// number straight after `{"seq":`; anything else falls back to a JSON parse.
fn line_seq(line: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    if let Some(rest) = line.strip_prefix("{\"seq\":") {
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end > 0 && rest[end..].starts_with(',') {
            return rest[..end].parse().ok();
        }
    }
    serde_json::from_str::<SeqOnly>(line).ok().map(|s| s.seq)
}

/// Seq and time of the last complete event in a journal, read from its tail only.
pub fn tail(dir: &Path) -> Option<(u64, String)> {
    #[derive(Deserialize)]
    struct Tail {
        seq: u64,
        time: String,
    }
    let mut file = File::open(dir.join(EVENTS_FILE)).ok()?;
    let len = file.metadata().ok()?.len();
    let window = len.min(256 * 1024);
    file.seek(SeekFrom::Start(len - window)).ok()?;
    let mut buf = Vec::with_capacity(window as usize);
    file.take(window).read_to_end(&mut buf).ok()?;
    buf.split(|&b| b == b'\n')
        .rev()
        .find_map(|l| serde_json::from_slice::<Tail>(l).ok())
        .map(|t| (t.seq, t.time))
}

#[cfg(test)]
mod tests {
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
        replay_lines(dir.path(), 2, 2, |seq, _| seen.push(seq)).unwrap();
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
}
