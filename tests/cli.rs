//! The `coterie` command line, run as a real process.

use std::io::Write;
use std::process::{Command, Stdio};

fn coterie(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coterie"))
        .args(["--data-dir", data.to_str().unwrap()])
        .args(args)
        .env_remove("COTERIE_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn migrate_create_users_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = coterie(dir.path(), &["migrate"], None);
    assert!(ok, "{out}");
    assert!(out.contains("applied on SQLite"), "{out}");
    let (ok, out) = coterie(dir.path(), &["migrate"], None);
    assert!(ok && out.contains("0 migration(s)"), "migrating twice does nothing: {out}");

    let create = ["user", "create", "--username", "studio_lead", "--email", "lead@example.com", "--password-stdin", "--staff"];
    let (ok, out) = coterie(dir.path(), &create, Some("velvet-harbor-lantern-91\n"));
    assert!(ok && out.contains("created staff studio_lead"), "{out}");
    let (ok, out) = coterie(dir.path(), &create, Some("velvet-harbor-lantern-91\n"));
    assert!(!ok && out.contains("already exists"), "{out}");
    let weak = ["user", "create", "--username", "zoe", "--email", "zoe@example.com", "--password-stdin"];
    let (ok, out) = coterie(dir.path(), &weak, Some("password\n"));
    assert!(!ok && out.contains("password refused"), "{out}");
    let reserved = ["user", "create", "--username", "admin", "--email", "a@example.com", "--password-stdin"];
    let (ok, out) = coterie(dir.path(), &reserved, Some("velvet-harbor-lantern-91\n"));
    assert!(!ok && out.contains("reserved"), "{out}");

    let (ok, out) = coterie(dir.path(), &["check"], None);
    assert!(ok, "{out}");
    for part in ["ok      configuration", "ok      database: SQLite", "ok      cache: memory", "ok      media storage", "ok      email: outbox"] {
        assert!(out.contains(part), "{part} in {out}");
    }
}

#[test]
fn check_reports_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_coterie"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "check"])
        .env("COTERIE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("COTERIE_CACHE_URL", "carrier-pigeon://coop")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("FAILED  database"), "{text}");
    assert!(text.contains("FAILED  cache") && text.contains("carrier-pigeon"), "{text}");
    assert!(text.contains("ok      media storage"), "the rest is still checked: {text}");
}

#[test]
fn a_bad_configuration_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("coterie.toml");
    std::fs::write(&config, "site_nmae = \"typo\"\n").unwrap();
    let (ok, out) = coterie(dir.path(), &["--config", config.to_str().unwrap(), "check"], None);
    assert!(!ok);
    assert!(out.contains("site_nmae"), "{out}");
}

#[test]
fn backup_copies_the_database_while_it_is_in_use() {
    let site = tempfile::tempdir().unwrap();
    let create = ["user", "create", "--username", "archivist", "--email", "arch@example.com", "--password-stdin"];
    let (ok, out) = coterie(site.path(), &create, Some("velvet-harbor-lantern-91\n"));
    assert!(ok, "{out}");
    let copy = site.path().join("backup.db");
    let (ok, out) = coterie(site.path(), &["backup", copy.to_str().unwrap()], None);
    assert!(ok && out.contains("database copied"), "{out}");
    let (ok, out) = coterie(site.path(), &["backup", copy.to_str().unwrap()], None);
    assert!(!ok && out.contains("exists already"), "an existing file is never overwritten: {out}");

    // Restore: the copy becomes another site's database, with the member in it.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored.path().join("coterie.db")).unwrap();
    let (ok, out) = coterie(restored.path(), &create, Some("velvet-harbor-lantern-91\n"));
    assert!(!ok && out.contains("already exists"), "the restored site has the member: {out}");
}

#[test]
fn collect_static_writes_hashed_and_compressed_files() {
    let site = tempfile::tempdir().unwrap();
    let out_dir = site.path().join("static");
    let (ok, out) = coterie(site.path(), &["collect-static", out_dir.to_str().unwrap()], None);
    assert!(ok && out.contains("files written"), "{out}");
    let css: Vec<String> = std::fs::read_dir(out_dir.join("css"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(css.iter().any(|n| n == "coterie.css"), "{css:?}");
    let hashed = css.iter().find(|n| n.starts_with("coterie.") && n.ends_with(".css") && n.len() == "coterie.0123456789.css".len());
    let hashed = hashed.unwrap_or_else(|| panic!("a hashed stylesheet in {css:?}"));
    assert!(css.contains(&format!("{hashed}.gz")) && css.contains(&format!("{hashed}.br")), "{css:?}");
}
