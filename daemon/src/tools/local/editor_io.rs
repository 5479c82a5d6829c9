//! The file tools' way through the editor (`crate::client_fs`): when an editor serves the
//! session's files, reads take the editor's text (unsaved buffers included) and writes go
//! to the editor. Every path passes the same confinement as on disk first (I6: lexical
//! check, symlinks resolved inside the root, only regular files), so a refused path never
//! reaches the editor. `None` from these functions means "use the disk": no editor, the
//! editor does not serve this kind of request, or it went away before being asked.

use std::path::PathBuf;

use super::textio::{CANCELLED, EDIT_CAP, Job, Text, looks_binary, read_text};
use crate::client_fs::EditorError;
use crate::tools::confine::{ConfineError, resolve};

/// The absolute path the editor is asked about, after the disk's checks. `Ok(None)`: the
/// disk path is to be used (the file is larger than the editor cap); `Err`: refused.
fn target(job: &Job, shown: &str) -> Result<(PathBuf, bool), ConfineError> {
    let exists = match job.root.open_file(shown) {
        Ok(_) => true,
        Err(ConfineError::NotFound(_)) => false,
        Err(e) => return Err(e),
    };
    let abs = resolve(job.root.path(), shown).map_err(ConfineError::Refused)?;
    Ok((abs, exists))
}

/// The editor's whole text of `shown`. `None`: read the disk (no editor, a path the disk
/// refuses, which then says why, or a file too large to pass through the editor).
pub fn read_whole(job: &Job, shown: &str) -> Option<Result<String, String>> {
    let editor = job.editor.as_ref().filter(|e| e.reads())?;
    match job.root.open_file(shown) {
        Ok(o) if o.size > EDIT_CAP => return None,
        Ok(_) | Err(ConfineError::NotFound(_)) => {}
        Err(_) => return None,
    }
    let (abs, _) = target(job, shown).ok()?;
    match editor.read(&abs, shown, &job.cancel) {
        Ok(text) => Some(Ok(text)),
        Err(EditorError::Unavailable) => None,
        Err(EditorError::Failed(why)) => Some(Err(why)),
        Err(EditorError::Cancelled) => Some(Err(CANCELLED.to_owned())),
    }
}

/// `shown` whole for an edit, from the editor when it serves reads, else from the disk.
/// A file the editor cannot read that is not on disk either is missing (a new file).
pub fn load(job: &Job, shown: &str) -> Result<Text, String> {
    match read_whole(job, shown) {
        None => read_text(&job.root, shown),
        Some(Ok(text)) if looks_binary(text.as_bytes()) => Ok(Text::Opaque(format!(
            "{shown} is a binary file; it cannot be read or edited as text"
        ))),
        Some(Ok(text)) => Ok(Text::Text(text)),
        Some(Err(why)) => match job.root.open_file(shown) {
            Err(ConfineError::NotFound(_)) if why != CANCELLED => Ok(Text::Missing),
            _ => Err(why),
        },
    }
}

/// Writes `content` to `rel` through the editor when it serves writes; says whether the
/// file is new on disk. `None`: write the disk.
pub fn write(job: &Job, rel: &str, content: &str) -> Option<Result<bool, String>> {
    let editor = job.editor.as_ref().filter(|e| e.writes())?;
    let (abs, exists) = match target(job, rel) {
        Ok(t) => t,
        Err(e) => return Some(Err(e.to_string())),
    };
    if job.cancelled() {
        return Some(Err(CANCELLED.to_owned()));
    }
    match editor.write(&abs, rel, content, &job.cancel) {
        Ok(()) => Some(Ok(!exists)),
        Err(EditorError::Unavailable) => None,
        Err(EditorError::Failed(why)) => Some(Err(why)),
        Err(EditorError::Cancelled) => Some(Err(CANCELLED.to_owned())),
    }
}
