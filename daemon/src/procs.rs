//! Processes the daemon started for tools (commands, git, later MCP servers), so that the
//! control socket can refuse a connection that comes from one of them or their descendants
//! (invariant I9: nothing a tool starts can answer an approval or drive the daemon).
//!
//! The runner registers the pid of the process it spawned (the sandbox wrapper or the
//! per-command reaper) for as long as it runs; every descendant, `setsid` ones included,
//! stays below that pid in the process tree while it lives (the wrapper is a subreaper or
//! the init of a PID namespace).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

fn registry() -> &'static Mutex<HashSet<u32>> {
    static PIDS: OnceLock<Mutex<HashSet<u32>>> = OnceLock::new();
    PIDS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Keeps a tool process registered; unregisters it when dropped.
#[derive(Debug)]
pub struct ToolProcess {
    pid: u32,
}

impl Drop for ToolProcess {
    fn drop(&mut self) {
        if let Ok(mut pids) = registry().lock() {
            pids.remove(&self.pid);
        }
    }
}

/// Registers `pid` as a process started for a tool.
pub fn register(pid: u32) -> ToolProcess {
    if let Ok(mut pids) = registry().lock() {
        pids.insert(pid);
    }
    ToolProcess { pid }
}

/// The parent of `pid`, from `/proc/<pid>/stat` (readable for every process).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is a registered tool process or descends from one. Blocking (reads
/// `/proc`); cheap enough to call once per connection.
pub fn is_tool_descendant(pid: u32) -> bool {
    let tools: HashSet<u32> = match registry().lock() {
        Ok(p) if p.is_empty() => return false,
        Ok(p) => p.clone(),
        Err(_) => return false,
    };
    let mut current = pid;
    // Bounded walk: pid chains are short, and a loop in a racing /proc must not hang us.
    for _ in 0..4096 {
        if tools.contains(&current) {
            return true;
        }
        match parent_of(current) {
            Some(p) if p > 1 && p != current => current = p,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_child_of_a_registered_process_is_a_tool_descendant() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id();
        assert!(!is_tool_descendant(child.id()));
        let guard = register(me);
        assert!(is_tool_descendant(child.id()));
        assert!(is_tool_descendant(me));
        drop(guard);
        assert!(!is_tool_descendant(child.id()));
        let _ = child.kill();
        let _ = child.wait();
    }
}
