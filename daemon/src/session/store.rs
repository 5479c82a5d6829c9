//! The on-disk journal of one session: `<data>/sessions/<id>/events.jsonl`, one durable
//! [`Event`] per line, append-only, plus `partial.json` holding the assistant text of the
//! running reply so that a crash loses at most about a second of it (invariant I4).
//!
//! Reading is forgiving where a newer or crashed writer left something odd: a torn last
//! line is cut off, lines of event types this build does not know are kept in the file but
//! skipped, and a seq that repeats or goes backwards is skipped (warned once per load) so
//! readers never see an event twice and new events never reuse a seq. Writing is strict:
//! before every append the journal checks that the file it holds is still the one at its
//! path, so a sessions directory removed or replaced under the daemon fails the append
//! instead of silently writing into an unlinked file.
//!
//! All functions here do blocking file I/O; callers on the async runtime go through
//! `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use botcoder_protocol::{Event, EventBody, TurnId};
use serde::{Deserialize, Serialize};

use super::index::SeqIndex;
use crate::error::DaemonError;

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
    /// The journal file (or its directory) is no longer the one the daemon opened.
    #[error(
        "the session journal {path} was removed or replaced while botcoderd ran ({detail}), \
         so nothing more can be saved for this session; restore the directory, or restart \
         botcoderd (`botcoder daemon restart`) to continue from what is on disk"
    )]
    Vanished {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// A line in the middle of the journal is not an event.
    #[error(
        "session journal {path} line {line} is corrupt: {message}; move the line out of the \
         file (or the session directory away) to open the session"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Parser message.
        message: String,
    },
}

/// A storage failure as clients see it. Here rather than in `crate::error`, so that the
/// error module does not depend on the session module.
impl From<StoreError> for DaemonError {
    fn from(e: StoreError) -> Self {
        DaemonError::new(
            botcoder_protocol::ErrorKind::StorageFailed,
            format!("{e}; nothing was accepted (check disk space and permissions)"),
        )
    }
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
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every durable event of a known type, in strictly increasing seq order.
    pub events: Vec<Event>,
    /// Bytes cut from a torn last line, if any.
    pub repaired_bytes: u64,
    /// The highest seq in the file, skipped lines included: new events continue after it.
    pub last_seq: u64,
    /// Lines of event types this build does not know (kept in the file, skipped).
    pub unknown: usize,
    /// Lines whose seq repeated or went backwards, or that had none (skipped).
    pub misordered: usize,
    /// Where the events are in the file.
    index: SeqIndex,
}

/// Device and inode of a file or directory: what it *is*, as opposed to its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of what is at `path` now.
    pub fn of(path: &Path) -> io::Result<FileId> {
        fs::metadata(path).map(|m| FileId::from(&m))
    }

    /// Why `path` is no longer `self`, or `None` when it still is.
    pub fn changed(&self, path: &Path) -> Option<String> {
        match FileId::of(path) {
            Ok(now) if now == *self => None,
            Ok(_) => Some(format!("{} is now a different file", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Some(format!("{} no longer exists", path.display()))
            }
            Err(e) => Some(format!("{}: {e}", path.display())),
        }
    }
}

impl From<&fs::Metadata> for FileId {
    fn from(m: &fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// An open journal, appended to by its session only.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    id: FileId,
    /// Seq → offset of the lines in the file, for replays that start late.
    index: SeqIndex,
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
        let id = FileId::from(&file.metadata().map_err(io_err(&path))?);
        Ok(Journal {
            dir: dir.to_owned(),
            path,
            file,
            id,
            index: SeqIndex::default(),
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
        let (mut loaded, good_len) = parse_events(&path, &bytes)?;
        loaded.repaired_bytes = bytes.len() as u64 - good_len;
        if loaded.repaired_bytes > 0 {
            tracing::warn!(path = %path.display(), repaired_bytes = loaded.repaired_bytes, "truncating torn last journal line");
            file.set_len(good_len).map_err(io_err(&path))?;
            file.sync_data().map_err(io_err(&path))?;
        }
        if loaded.unknown > 0 || loaded.misordered > 0 {
            // Once per load, not once per line: a journal of a newer daemon may hold many.
            tracing::warn!(
                path = %path.display(),
                unknown_types = loaded.unknown,
                bad_seq = loaded.misordered,
                last_seq = loaded.last_seq,
                "skipped journal lines: unknown event types (written by a newer botcoderd?) \
                 or a seq that repeats or goes backwards; they stay in the file"
            );
        }
        let id = FileId::from(&file.metadata().map_err(io_err(&path))?);
        let journal = Journal {
            dir: dir.to_owned(),
            path,
            file,
            id,
            index: std::mem::take(&mut loaded.index),
        };
        Ok((journal, loaded))
    }

    /// Fails when the file at the journal's path is no longer the open file: the session
    /// directory (or the whole sessions directory) was removed, moved or replaced.
    pub fn check_in_place(&self) -> Result<(), StoreError> {
        match self.id.changed(&self.path) {
            None => Ok(()),
            Some(detail) => Err(StoreError::Vanished {
                path: self.path.clone(),
                detail,
            }),
        }
    }

    /// Appends one serialized event (without its newline). With `sync`, waits until the
    /// data is on stable storage; without, until the OS has it (which survives `kill -9`).
    pub fn append(&mut self, line: &str, sync: bool) -> Result<(), StoreError> {
        self.check_in_place()?;
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
        if let Some(seq) = line_seq(line) {
            self.index.note(seq, before);
        }
        Ok(())
    }

    /// The offset a reader of the events after `after_seq` starts at (see [`SeqIndex`]);
    /// pass it to [`replay_lines`] or [`history`].
    pub fn replay_start(&self, after_seq: u64) -> u64 {
        self.index.start_for(after_seq)
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
/// a torn write and is dropped; a bad line anywhere else is corruption. Lines of unknown
/// types and lines whose seq does not increase are skipped and counted.
fn parse_events(path: &Path, bytes: &[u8]) -> Result<(Loaded, u64), StoreError> {
    let mut loaded = Loaded::default();
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
                Ok(ev) => loaded.take(ev, start as u64),
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
    Ok((loaded, good_len))
}

impl Loaded {
    fn take(&mut self, ev: Event, offset: u64) {
        let Some(seq) = ev.seq.filter(|&s| s > self.last_seq) else {
            // Its seq (if any) is already taken: the first event to claim a seq wins, and
            // `last_seq` stays the highest, so no later event reuses it.
            self.misordered += 1;
            return;
        };
        self.last_seq = seq;
        self.index.note(seq, offset);
        if ev.body == EventBody::Unknown {
            self.unknown += 1;
        } else {
            self.events.push(ev);
        }
    }
}

/// Calls `f` with each raw journal line whose event has `seq > after_seq`, in order, up to
/// `limit` lines, reading from byte `start` (0, or [`Journal::replay_start`] for
/// `after_seq`). Returns the offset of the first line it did not consume, where the next
/// batch starts. Reads the file as it is now; lines appended later are not seen. A line
/// whose seq is not above the last one passed on is skipped, so a reader never gets an
/// event twice (I1) even from a journal with a repeated seq.
pub fn replay_lines(
    dir: &Path,
    start: u64,
    after_seq: u64,
    limit: usize,
    mut f: impl FnMut(u64, &str),
) -> Result<u64, StoreError> {
    let path = dir.join(EVENTS_FILE);
    let mut file = File::open(&path).map_err(io_err(&path))?;
    file.seek(SeekFrom::Start(start)).map_err(io_err(&path))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = String::new();
    let mut sent = 0usize;
    let mut last = after_seq;
    let mut pos = start;
    loop {
        line.clear();
        if sent >= limit {
            return Ok(pos);
        }
        let n = reader.read_line(&mut line).map_err(io_err(&path))?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(pos);
        }
        pos += n as u64;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(seq) = line_seq(trimmed)
            && seq > last
        {
            f(seq, trimmed);
            last = seq;
            sent += 1;
        }
    }
}

/// One page of `session.history`: up to `limit` events with `seq > after_seq` whose JSON
/// adds up to at most `max_bytes` (at least one event, which [`crate::session::limits`]
/// keeps under the message cap), reading from byte `start` as [`replay_lines`] does.
/// Unknown types are skipped; they never count.
pub fn history(
    dir: &Path,
    start: u64,
    after_seq: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    let mut bytes = 0usize;
    let mut full = false;
    let mut from = after_seq;
    let mut offset = start;
    // Batches, so that a long run of skipped lines still fills the page.
    while !full {
        let mut scanned = 0usize;
        offset = replay_lines(dir, offset, from, HISTORY_BATCH, |seq, line| {
            scanned += 1;
            from = seq;
            if full {
                return;
            }
            if events.len() >= limit || (!events.is_empty() && bytes + line.len() > max_bytes) {
                full = true;
                return;
            }
            match serde_json::from_str::<Event>(line) {
                Ok(ev) if ev.body == EventBody::Unknown => {}
                Ok(ev) => {
                    bytes += line.len() + 1;
                    events.push(ev);
                }
                Err(e) => {
                    tracing::warn!(path = %dir.display(), seq, error = %e, "skipped an unreadable journal line")
                }
            }
        })?;
        if scanned < HISTORY_BATCH {
            break;
        }
    }
    Ok(events)
}

/// Lines read per pass of [`history`].
const HISTORY_BATCH: usize = 1024;

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

/// The first events of a journal (at most `max_bytes` of it, complete lines only), for
/// rebuilding lost metadata without reading a whole long journal.
pub fn head(dir: &Path, max_bytes: u64) -> Vec<Event> {
    let Ok(file) = File::open(dir.join(EVENTS_FILE)) else {
        return Vec::new();
    };
    let mut reader = BufReader::new(file.take(max_bytes));
    let mut out = Vec::new();
    let mut line = String::new();
    while matches!(reader.read_line(&mut line), Ok(n) if n > 0) && line.ends_with('\n') {
        if let Ok(ev) = serde_json::from_str::<Event>(&line) {
            out.push(ev);
        }
        line.clear();
    }
    out
}

/// Whether `dir` holds a journal.
pub fn exists(dir: &Path) -> bool {
    dir.join(EVENTS_FILE).is_file()
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
