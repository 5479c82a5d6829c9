//! The bubblewrap command line for one command.

use std::ffi::OsString;
use std::path::Path;

/// `bwrap` arguments (without the program) that run `program` confined: see the module doc
/// of `sandbox` for what each part is for. `tmp` is the command's private host temp dir.
pub fn args(
    policy: &super::Policy,
    project: &Path,
    tmp: &Path,
    program: &[OsString],
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |parts: &[&dyn AsRef<std::ffi::OsStr>]| {
        a.extend(parts.iter().map(|p| p.as_ref().to_os_string()));
    };
    push(&[
        &"--die-with-parent",
        &"--new-session",
        &"--unshare-pid",
        &"--unshare-ipc",
        &"--unshare-uts",
    ]);
    if !policy.network {
        push(&[&"--unshare-net"]);
    }
    push(&[
        &"--ro-bind",
        &"/",
        &"/",
        &"--dev",
        &"/dev",
        &"--proc",
        &"/proc",
    ]);
    push(&[&"--bind", &tmp, &"/tmp"]);
    // A hidden dir that contains the project is mounted before the project so the project
    // stays visible inside it; every other one after, so it also hides itself inside the
    // project (e.g. a data dir under a project that is $HOME). Under /tmp they are hidden
    // by the private /tmp already.
    let hidden: Vec<&Path> = policy
        .hidden_dirs
        .iter()
        .map(|p| p.as_path())
        .filter(|d| !d.starts_with("/tmp") && d.is_dir() && *d != project)
        .collect();
    for d in hidden.iter().filter(|d| project.starts_with(d)) {
        push(&[&"--tmpfs", d]);
    }
    push(&[&"--bind", &project, &project]);
    for d in hidden.iter().filter(|d| !project.starts_with(d)) {
        push(&[&"--tmpfs", d]);
    }
    for f in &policy.hidden_files {
        if !f.starts_with("/tmp") && f.is_file() && !f.starts_with(project) {
            push(&[&"--ro-bind", &"/dev/null", f]);
        }
    }
    push(&[&"--chdir", &project, &"--setenv", &"TMPDIR", &"/tmp", &"--"]);
    a.extend(program.iter().cloned());
    a
}
