//! Media storage: one interface for uploaded files, a local folder by
//! default. Keys are relative paths such as `avatars/7/3fa2c1-80.jpg`; a key
//! changes whenever its content does, so files are served as immutable.

pub mod images;
pub mod pipeline;
pub mod serve;

use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;

#[derive(Clone)]
pub struct MediaStore {
    backend: Backend,
    /// Small files recently served, kept in memory (see [`serve`]).
    pub(crate) hot: std::sync::Arc<serve::HotFiles>,
}

#[derive(Clone)]
enum Backend {
    Folder(FolderStore),
}

impl MediaStore {
    pub fn from_url(url: &str) -> anyhow::Result<MediaStore> {
        let backend = match url.split_once("://") {
            Some(("file", path)) => Backend::Folder(FolderStore::new(PathBuf::from(path))?),
            _ => anyhow::bail!("unsupported media URL {url:?}: this build supports file://PATH"),
        };
        Ok(MediaStore { backend, hot: std::sync::Arc::new(serve::HotFiles::new(64 * 1024 * 1024)) })
    }

    pub async fn put(&self, key: &str, data: Bytes) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Folder(s) => s.put(key, data).await,
        }
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        match &self.backend {
            Backend::Folder(s) => s.get(key).await,
        }
    }

    /// Deletes a file; this process stops serving it from memory at once
    /// (other processes within [`serve::HOT_SECONDS`]).
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.hot.forget(key).await;
        match &self.backend {
            Backend::Folder(s) => s.delete(key).await,
        }
    }

    /// Every key under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        match &self.backend {
            Backend::Folder(s) => s.list(prefix).await,
        }
    }

    /// Can we write and read back a file?
    pub async fn check(&self) -> anyhow::Result<()> {
        let key = "_check/probe";
        self.put(key, Bytes::from_static(b"ok")).await?;
        let back = self.get(key).await?;
        self.delete(key).await?;
        anyhow::ensure!(back.as_deref() == Some(&b"ok"[..]), "media storage did not return what was written");
        Ok(())
    }
}

/// The public URL path of a stored file.
pub fn url(key: &str) -> String {
    format!("/media/{key}")
}

/// A key is a relative path of plain parts: no `..`, no absolute paths.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && Path::new(key).components().all(|c| matches!(c, Component::Normal(_)))
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

#[derive(Clone)]
pub struct FolderStore {
    root: PathBuf,
}

impl FolderStore {
    pub fn new(root: PathBuf) -> anyhow::Result<FolderStore> {
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create the media folder {}", root.display()))?;
        Ok(FolderStore { root })
    }

    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        anyhow::ensure!(valid_key(key), "invalid media key {key:?}");
        Ok(self.root.join(key))
    }

    /// Writes to a temporary name and renames, so a reader never sees half a file.
    async fn put(&self, key: &str, data: Bytes) -> anyhow::Result<()> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
        tokio::fs::write(&tmp, &data).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if let Some(key) = path.strip_prefix(&root).ok().and_then(|p| p.to_str()) {
                        if valid_key(key) && key.starts_with(&prefix) && !key.contains(".tmp") {
                            keys.push(key.to_string());
                        }
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await?
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_store() {
        assert!(valid_key("avatars/1/ab-40.jpg"));
        assert!(!valid_key("../etc/passwd"));
        assert!(!valid_key("/etc/passwd"));
        assert!(!valid_key("a/./b"));
        assert!(!valid_key("a b"));
        assert!(!valid_key(""));
    }

    #[tokio::test]
    async fn folder_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::from_url(&format!("file://{}", dir.path().display())).unwrap();
        store.check().await.unwrap();
        store.put("a/b.txt", Bytes::from_static(b"hi")).await.unwrap();
        assert_eq!(store.get("a/b.txt").await.unwrap().as_deref(), Some(&b"hi"[..]));
        store.delete("a/b.txt").await.unwrap();
        assert!(store.get("a/b.txt").await.unwrap().is_none());
        assert!(store.put("../x", Bytes::new()).await.is_err());
    }
}
