#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use pretty_assertions::assert_eq;
use std::os::unix::fs::{PermissionsExt, symlink};

fn setup() -> (tempfile::TempDir, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    (dir, root, outside)
}

#[test]
fn plain_relative_paths_resolve_inside() {
    let (_d, root, _o) = setup();
    assert_eq!(
        resolve(&root, "src/main.rs").unwrap(),
        root.join("src/main.rs")
    );
    assert_eq!(
        resolve(&root, "./src/../src/new.rs").unwrap(),
        root.join("src/new.rs")
    );
    assert_eq!(resolve(&root, "a/b/c.txt").unwrap(), root.join("a/b/c.txt"));
    assert_eq!(resolve(&root, "").unwrap(), root);
}

#[test]
fn traversal_and_absolute_paths_are_refused() {
    let (_d, root, _o) = setup();
    for bad in [
        "../x",
        "/etc/passwd",
        "a/../../x",
        "src/../../etc",
        "..",
        "../../../../../../etc/shadow",
    ] {
        let err = resolve(&root, bad).unwrap_err();
        assert!(err.contains("refused"), "{bad}: {err}");
    }
}

#[test]
fn symlinks_leading_outside_are_refused_for_read_and_write() {
    let (_d, root, outside) = setup();
    symlink(outside.path().join("secret"), root.join("link")).unwrap();
    symlink(outside.path(), root.join("outdir")).unwrap();
    symlink(outside.path().join("missing"), root.join("dangling")).unwrap();
    symlink(root.join("src"), root.join("inlink")).unwrap();
    assert!(resolve(&root, "link").is_err());
    assert!(resolve(&root, "outdir/secret").is_err());
    assert!(
        resolve(&root, "outdir/new-file").is_err(),
        "writing through a dir symlink"
    );
    assert!(resolve(&root, "dangling").is_err());
    // A symlink that stays inside is fine.
    assert_eq!(
        resolve(&root, "inlink/main.rs").unwrap(),
        root.join("src/main.rs")
    );
}

fn never() -> bool {
    false
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn root_reads_and_writes_inside_and_follows_in_tree_symlinks() {
    let (_d, root, _o) = setup();
    symlink(root.join("src"), root.join("abslink")).unwrap();
    symlink("src", root.join("rellink")).unwrap();
    symlink("main.rs", root.join("src/alias.rs")).unwrap();
    let r = Root::open(&root).unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut r.open_file("src/main.rs").unwrap().file, &mut s).unwrap();
    assert_eq!(s, "fn main() {}");
    assert_eq!(r.open_file("abslink/main.rs").unwrap().size, 12);
    assert_eq!(r.open_file("rellink/main.rs").unwrap().size, 12);
    assert_eq!(
        r.write("a/b/c.txt", b"x", &never).unwrap(),
        Written { created: true }
    );
    assert_eq!(
        r.write("a/b/c.txt", b"yy", &never).unwrap(),
        Written { created: false }
    );
    assert_eq!(std::fs::read(root.join("a/b/c.txt")).unwrap(), b"yy");
    // Writing through an in-tree symlink replaces its target and keeps the link.
    r.write("src/alias.rs", b"fn alias() {}", &never).unwrap();
    assert_eq!(
        std::fs::read(root.join("src/main.rs")).unwrap(),
        b"fn alias() {}"
    );
    assert!(
        std::fs::symlink_metadata(root.join("src/alias.rs"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(matches!(r.open_file("src"), Err(ConfineError::IsDir(_))));
    assert!(matches!(
        r.open_file("nope"),
        Err(ConfineError::NotFound(_))
    ));
    assert!(matches!(
        r.write("src", b"", &never),
        Err(ConfineError::IsDir(_))
    ));
    assert!(r.is_dir("src") && r.is_dir("") && !r.is_dir("src/main.rs"));
    assert_eq!(names(&root.join("a/b")), vec!["c.txt"]);
}

#[test]
fn root_refuses_what_leaves_the_root_with_the_usual_messages() {
    let (_d, root, outside) = setup();
    symlink(outside.path().join("secret"), root.join("link")).unwrap();
    symlink(outside.path(), root.join("outdir")).unwrap();
    symlink("../../../../../../../../tmp", root.join("climb")).unwrap();
    symlink(outside.path().join("missing"), root.join("dangling")).unwrap();
    let r = Root::open(&root).unwrap();
    for bad in [
        "link",
        "outdir/secret",
        "climb",
        "dangling",
        "../x",
        "/etc/passwd",
    ] {
        let err = r.open_file(bad).unwrap_err().to_string();
        assert!(err.contains("refused"), "{bad}: {err}");
    }
    for bad in [
        "link",
        "outdir/new",
        "outdir/deep/new",
        "dangling",
        "climb/x",
        "../x",
    ] {
        let err = r.write(bad, b"pwned", &never).unwrap_err().to_string();
        assert!(err.contains("refused"), "{bad}: {err}");
    }
    assert_eq!(names(outside.path()), vec!["secret"]);
    assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"s");
}

/// The TOCTOU of issue 11 item 7: a hostile project swaps a directory for a symlink to an
/// outside directory while writes run. Nothing may ever land outside.
#[test]
fn swapping_a_dir_for_a_symlink_during_writes_never_escapes() {
    let (_d, root, outside) = setup();
    std::fs::create_dir(root.join("d")).unwrap();
    symlink(outside.path(), root.join("spare")).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, root) = (stop.clone(), root.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    root.join("d"),
                    rustix::fs::CWD,
                    root.join("spare"),
                    rustix::fs::RenameFlags::EXCHANGE,
                );
                swaps += 1;
            }
            swaps
        })
    };
    let r = Root::open(&root).unwrap();
    let mut landed = 0;
    for i in 0..256 {
        if r.write(&format!("d/f{i}.txt"), b"data", &never).is_ok() {
            landed += 1;
        }
        let _ = r.write(&format!("d/sub{i}/g.txt"), b"data", &never);
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 100, "the swapper ran {swaps} times");
    assert_eq!(
        names(outside.path()),
        vec!["secret"],
        "{landed} writes landed inside"
    );
}

#[test]
fn new_files_get_0666_less_umask_and_existing_files_keep_their_mode() {
    let (_d, root, _o) = setup();
    // Each nextest test is its own process, so setting the umask here is contained.
    let old = rustix::process::umask(Mode::from_raw_mode(0o022));
    let r = Root::open(&root).unwrap();
    r.write("new.txt", b"x", &never).unwrap();
    r.write("dir/deeper/new.txt", b"x", &never).unwrap();
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("new.txt"), 0o644);
    assert_eq!(mode("dir/deeper"), 0o755);
    std::fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o751)).unwrap();
    r.write("run.sh", b"#!/bin/sh\necho\n", &never).unwrap();
    assert_eq!(mode("run.sh"), 0o751);
    rustix::process::umask(old);
}

#[test]
fn a_failed_replace_leaves_no_temp_file() {
    let (_d, root, _o) = setup();
    // A non-empty directory where the file should go: renameat fails after the temp file
    // was written (root ignores permission bits, so a read-only dir would not fail here).
    std::fs::create_dir_all(root.join("target/full")).unwrap();
    let dir = rustix::fs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    let err = replace_in_dir(&dir, OsStr::new("target"), b"data", None).unwrap_err();
    assert!(err.raw_os_error().is_some(), "{err}");
    assert_eq!(names(&root), vec!["src", "target"]);
    let r = Root::open(&root).unwrap();
    assert!(r.write("target", b"x", &never).is_err());
    assert!(
        r.write("src/main.rs", b"x", &|| true)
            .unwrap_err()
            .to_string()
            .contains("cancelled")
    );
    assert_eq!(names(&root.join("src")), vec!["main.rs"]);
    assert_eq!(
        std::fs::read(root.join("src/main.rs")).unwrap(),
        b"fn main() {}"
    );
}

#[test]
fn fifos_sockets_and_devices_are_refused_at_once() {
    let (_d, root, _o) = setup();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("pipe"),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let r = Root::open(&root).unwrap();
    let t = std::time::Instant::now();
    let err = r.open_file("pipe").unwrap_err();
    assert!(t.elapsed() < std::time::Duration::from_millis(200));
    assert_eq!(
        err,
        ConfineError::NotRegular("pipe".into(), "FIFO (named pipe)")
    );
    assert!(
        r.open_file("sock")
            .unwrap_err()
            .to_string()
            .contains("socket")
    );
    assert!(
        r.write("pipe", b"x", &never)
            .unwrap_err()
            .to_string()
            .contains("FIFO")
    );
}

#[test]
fn the_walk_without_openat2_refuses_every_symlink() {
    let (_d, root, outside) = setup();
    symlink(outside.path(), root.join("outdir")).unwrap();
    symlink("src", root.join("rellink")).unwrap();
    let r = Root::open(&root).unwrap();
    let flags = OFlags::RDONLY;
    assert!(r.walk_nofollow(Path::new("src/main.rs"), flags).is_ok());
    assert!(r.walk_nofollow(Path::new("outdir/secret"), flags).is_err());
    assert!(
        r.walk_nofollow(Path::new("rellink/main.rs"), flags)
            .is_err()
    );
    assert!(
        r.walk_nofollow(Path::new(""), flags | OFlags::DIRECTORY)
            .is_ok()
    );
}
