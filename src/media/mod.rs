//! Media storage: one interface for uploaded files, a local folder by
//! default or an S3-compatible store ([`s3`]). Keys are relative paths such
//! as `avatars/7/3fa2c1-80.jpg`; a key changes whenever its content does, so
//! files are served as immutable.

pub mod images;
pub mod pipeline;
pub mod s3;
pub mod serve;

use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::config::S3Config;

#[derive(Clone)]
pub struct MediaStore {
    backend: Backend,
    /// Small files recently served, kept in memory (see [`serve`]).
    pub(crate) hot: std::sync::Arc<serve::HotFiles>,
    /// Where deletions are announced to the other app processes.
    shared: Option<crate::cache::Cache>,
}

#[derive(Clone)]
enum Backend {
    Folder(FolderStore),
    S3(s3::S3Store),
}

impl MediaStore {
    /// `file://PATH` or `s3://bucket/prefix` (where the store is: `s3`).
    pub fn open(url: &str, s3: &S3Config) -> anyhow::Result<MediaStore> {
        let backend = match url.split_once("://") {
            Some(("file", path)) => Backend::Folder(FolderStore::new(PathBuf::from(path))?),
            Some(("s3", rest)) => Backend::S3(s3::S3Store::new(rest, s3)?),
            _ => anyhow::bail!("unsupported media URL {url:?}: use file://PATH or s3://bucket/prefix"),
        };
        Ok(MediaStore { backend, hot: std::sync::Arc::new(serve::HotFiles::new(64 * 1024 * 1024)), shared: None })
    }

    /// Announces each deletion through `cache`, so that the other processes
    /// sharing it stop serving the file from memory.
    pub fn announcing_deletions(mut self, cache: crate::cache::Cache) -> MediaStore {
        self.shared = Some(cache);
        self
    }

    /// Where files go, for `coterie check`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Folder(s) => format!("file://{}", s.root.display()),
            Backend::S3(s) => s.describe().to_string(),
        }
    }

    pub async fn put(&self, key: &str, data: Bytes) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Folder(s) => s.put(key, data).await,
            Backend::S3(s) => s.put(key, data).await,
        }
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        match &self.backend {
            Backend::Folder(s) => s.get(key).await,
            Backend::S3(s) => s.get(key).await,
        }
    }

    /// Deletes a file; this process stops serving it from memory at once,
    /// the others within a second (see [`serve`]).
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.hot.forget(key).await;
        let deleted = match &self.backend {
            Backend::Folder(s) => s.delete(key).await,
            Backend::S3(s) => s.delete(key).await,
        };
        if let Some(cache) = &self.shared {
            serve::HotFiles::announce_deletion(cache).await;
        }
        deleted
    }

    /// Every key under the folder `prefix` (`""`: every file in the store),
    /// in no particular order, read a folder or a listing page at a time.
    pub fn list(&self, prefix: &str) -> BoxStream<'static, anyhow::Result<String>> {
        if !(prefix.is_empty() || valid_key(prefix)) {
            return stream::once(std::future::ready(Err(anyhow::anyhow!("invalid media key prefix {prefix:?}")))).boxed();
        }
        match &self.backend {
            Backend::Folder(s) => s.list(prefix),
            Backend::S3(s) => s.list(prefix),
        }
    }

    /// Every key under the folder `prefix`, sorted, gathered from [`Self::list`].
    pub async fn keys(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut keys: Vec<String> = self.list(prefix).try_collect().await?;
        keys.sort();
        Ok(keys)
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

    /// Writes to a temporary name and renames, so a reader never sees half a
    /// file. The `~` keeps temporary names from ever being listed as keys.
    async fn put(&self, key: &str, data: Bytes) -> anyhow::Result<()> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!("~{}", rand::random::<u32>()));
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

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Depth first, one folder per step; names that are not keys (files
    /// being written) are left out.
    fn list(&self, prefix: &str) -> BoxStream<'static, anyhow::Result<String>> {
        let root = self.root.clone();
        let folders = vec![self.root.join(prefix)];
        stream::try_unfold(folders, move |mut folders| {
            let root = root.clone();
            async move {
                while let Some(folder) = folders.pop() {
                    let keys = read_folder(&root, &folder, &mut folders)
                        .await
                        .with_context(|| format!("cannot list the media folder {}", folder.display()))?;
                    if !keys.is_empty() {
                        return anyhow::Ok(Some((keys, folders)));
                    }
                }
                Ok(None)
            }
        })
        .map_ok(|keys| stream::iter(keys.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

/// The keys of the files in `folder`; its subfolders go onto `folders`. A
/// folder that is missing (nothing stored under it yet) holds no keys.
async fn read_folder(root: &Path, folder: &Path, folders: &mut Vec<PathBuf>) -> std::io::Result<Vec<String>> {
    let mut entries = match tokio::fs::read_dir(folder).await {
        Ok(entries) => entries,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return Ok(vec![])
        }
        Err(e) => return Err(e),
    };
    let mut keys = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        let kind = entry.file_type().await?;
        if kind.is_dir() {
            folders.push(entry.path());
        } else if kind.is_file() {
            let path = entry.path();
            let key = path.strip_prefix(root).ok().and_then(|p| p.to_str()).filter(|k| valid_key(k));
            keys.extend(key.map(str::to_string));
        }
    }
    Ok(keys)
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
        let store = MediaStore::open(&format!("file://{}", dir.path().display()), &S3Config::default()).unwrap();
        store.check().await.unwrap();
        store.put("a/b.txt", Bytes::from_static(b"hi")).await.unwrap();
        assert_eq!(store.get("a/b.txt").await.unwrap().as_deref(), Some(&b"hi"[..]));
        store.delete("a/b.txt").await.unwrap();
        assert!(store.get("a/b.txt").await.unwrap().is_none());
        assert!(store.put("../x", Bytes::new()).await.is_err());
    }

    #[tokio::test]
    async fn folder_store_lists_keys_but_not_files_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(&format!("file://{}", dir.path().display()), &S3Config::default()).unwrap();
        for key in ["photos/1/a.jpg", "photos/1/b.webp", "photos/12/c.jpg", "avatars/2/d.png", "top.txt"] {
            store.put(key, Bytes::from_static(b"x")).await.unwrap();
        }
        std::fs::write(dir.path().join("photos/1/a.jpg~123"), b"half").unwrap();
        let list = |prefix: &'static str| {
            let store = store.clone();
            async move {
                let mut keys: Vec<String> = store.list(prefix).try_collect().await.unwrap();
                keys.sort();
                keys
            }
        };
        assert_eq!(list("").await, ["avatars/2/d.png", "photos/1/a.jpg", "photos/1/b.webp", "photos/12/c.jpg", "top.txt"]);
        assert_eq!(list("photos/1").await, ["photos/1/a.jpg", "photos/1/b.webp"]);
        assert!(list("nothing/here").await.is_empty());
        assert!(list("top.txt").await.is_empty(), "a file is not a folder");
        assert!(store.list("../etc").try_collect::<Vec<_>>().await.is_err());
    }
}
