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

/// Where a peer process stands relative to the tools the daemon started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lineage {
    /// A registered tool process, a descendant of one, or any other descendant of the daemon
    /// (the daemon starts no clients, so whatever runs below it was started for a tool).
    Tool,
    /// The process is gone (or its `/proc` entry unreadable): a connection whose peer left
    /// before it could be checked may have been handed to anyone, so it is not trusted.
    Gone,
    /// Neither: an ordinary client.
    Outside,
}

/// Where `pid` stands: walks its ancestors through `/proc`. Blocking (reads `/proc`); call
/// through `spawn_blocking`, once per connection.
pub fn lineage(pid: u32) -> Lineage {
    let tools: HashSet<u32> = registry().lock().map(|p| p.clone()).unwrap_or_default();
    let me = std::process::id();
    let Some(mut parent) = parent_of(pid) else {
        return Lineage::Gone;
    };
    if tools.contains(&pid) {
        return Lineage::Tool;
    }
    // Bounded walk: pid chains are short, and a loop in a racing /proc must not hang us.
    for _ in 0..4096 {
        if parent == me || tools.contains(&parent) {
            return Lineage::Tool;
        }
        match parent_of(parent) {
            Some(p) if p > 1 && p != parent => parent = p,
            _ => return Lineage::Outside,
        }
    }
    Lineage::Outside
}

/// Whether `pid` is a registered tool process or descends from one (or from the daemon
/// itself). Blocking (reads `/proc`); cheap enough to call once per connection.
pub fn is_tool_descendant(pid: u32) -> bool {
    lineage(pid) == Lineage::Tool
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn wait_for_child_of(pid: u32) -> u32 {
        for _ in 0..500 {
            let children =
                std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
            if let Some(c) = children.split_whitespace().next() {
                return c.parse().unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{pid} started no child");
    }

    #[test]
    fn the_test_runner_is_outside() {
        // Our parent (cargo / nextest) is an ancestor, not a descendant.
        let parent = parent_of(std::process::id()).unwrap();
        assert_eq!(lineage(parent), Lineage::Outside);
    }

    #[test]
    fn a_child_of_a_registered_process_is_a_tool_descendant() {
        // A grandchild (through `sh`) so the walk goes past one parent.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & wait"])
            .spawn()
            .unwrap();
        let sh = child.id();
        let grandchild = wait_for_child_of(sh);
        let me = std::process::id();
        assert_eq!(
            lineage(me),
            Lineage::Outside,
            "the daemon itself is no tool"
        );
        assert_eq!(lineage(grandchild), Lineage::Tool, "below the daemon");
        let guard = register(sh);
        assert!(is_tool_descendant(grandchild));
        assert!(is_tool_descendant(sh));
        drop(guard);
        // The grandchild first, so nothing outlives the test holding its output pipes.
        if let Some(pid) = rustix::process::Pid::from_raw(grandchild as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(lineage(sh), Lineage::Gone, "a reaped pid is gone");
    }
}
