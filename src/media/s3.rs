//! Media in an S3-compatible object store (AWS S3, MinIO, Ceph, ...), through
//! `object_store`. `s3://bucket/prefix` names the bucket and an optional key
//! prefix; the `[s3]` settings say where the store is and who we are.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions, RetryConfig};

use crate::config::S3Config;

#[derive(Clone)]
pub struct S3Store {
    store: std::sync::Arc<PrefixStore<AmazonS3>>,
    /// `s3://bucket/prefix at endpoint`, for `coterie check` and errors.
    describe: String,
}

/// Where in the store: the bucket and the key prefix (no slashes at its ends).
#[derive(Debug, PartialEq)]
struct Location<'a> {
    bucket: &'a str,
    prefix: &'a str,
}

/// `bucket/prefix` (what follows `s3://`), checked as S3 names buckets.
fn parse_location(rest: &str) -> anyhow::Result<Location<'_>> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    anyhow::ensure!(
        bucket_ok,
        "media URL s3://{rest}: the bucket name must be 3 to 63 lowercase letters, digits, dots and hyphens"
    );
    anyhow::ensure!(
        prefix.is_empty() || super::valid_key(prefix),
        "media URL s3://{rest}: the prefix may hold only letters, digits and - _ . / in plain path parts"
    );
    Ok(Location { bucket, prefix })
}

/// A key pair, and the session token that temporary keys come with.
#[derive(Debug, PartialEq)]
struct Credentials {
    key_id: String,
    secret: String,
    token: Option<String>,
}

/// The configured key pair, else the standard AWS variables from `env`.
/// Neither: `object_store` asks the instance's role (EC2, ECS, web identity).
fn credentials(s3: &S3Config, env: impl Fn(&str) -> Option<String>) -> Credentials {
    if !(s3.access_key_id.is_empty() && s3.secret_access_key.is_empty()) {
        return Credentials { key_id: s3.access_key_id.clone(), secret: s3.secret_access_key.clone(), token: None };
    }
    Credentials {
        key_id: env("AWS_ACCESS_KEY_ID").unwrap_or_default(),
        secret: env("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
        token: env("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()),
    }
}

impl S3Store {
    /// `rest` is what follows `s3://`. Nothing is sent until first use.
    pub fn new(rest: &str, s3: &S3Config) -> anyhow::Result<S3Store> {
        let Location { bucket, prefix } = parse_location(rest)?;
        anyhow::ensure!(
            s3.allow_http || !s3.endpoint.starts_with("http://"),
            "s3.endpoint {} is plain http: set s3.allow_http = true to use it",
            s3.endpoint
        );
        let keys = credentials(s3, |var| std::env::var(var).ok());
        anyhow::ensure!(
            keys.key_id.is_empty() == keys.secret.is_empty(),
            "s3.access_key_id and s3.secret_access_key must be set together (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        );
        // A page waiting on a store that is down should fail in seconds, not
        // after object_store's default of retrying for three minutes.
        let retry = RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(15), ..Default::default() };
        let client = ClientOptions::new()
            .with_allow_http(s3.allow_http)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(30));
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&s3.region)
            .with_client_options(client)
            .with_retry(retry);
        if !keys.key_id.is_empty() {
            builder = builder.with_access_key_id(keys.key_id).with_secret_access_key(keys.secret);
        }
        if let Some(token) = keys.token {
            builder = builder.with_token(token);
        }
        // AWS itself wants bucket.s3.region.amazonaws.com; other stores (and
        // anything on localhost) are addressed path-style: endpoint/bucket/key.
        builder = if s3.endpoint.is_empty() {
            builder.with_virtual_hosted_style_request(true)
        } else {
            builder.with_endpoint(s3.endpoint.trim_end_matches('/')).with_virtual_hosted_style_request(false)
        };
        let store = builder.build().with_context(|| format!("cannot set up the S3 store for s3://{rest}"))?;
        let at = if s3.endpoint.is_empty() { format!("AWS {}", s3.region) } else { s3.endpoint.clone() };
        Ok(S3Store {
            store: std::sync::Arc::new(PrefixStore::new(store, Path::from(prefix))),
            describe: format!("s3://{bucket}{}{prefix} at {at}", if prefix.is_empty() { "" } else { "/" }),
        })
    }

    pub fn describe(&self) -> &str {
        &self.describe
    }

    fn path(key: &str) -> anyhow::Result<Path> {
        anyhow::ensure!(super::valid_key(key), "invalid media key {key:?}");
        Ok(Path::parse(key)?)
    }

    /// One request; S3 makes the object visible whole or not at all. The
    /// object carries its Content-Type, so it can also be served straight
    /// from the bucket.
    pub async fn put(&self, key: &str, data: Bytes) -> anyhow::Result<()> {
        let path = Self::path(key)?;
        let attributes = Attributes::from_iter([(Attribute::ContentType, crate::web::assets::content_type(key))]);
        let options = PutOptions { attributes, ..Default::default() };
        self.store.put_opts(&path, data.into(), options).await.with_context(|| self.failed("write", key))?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        let path = Self::path(key)?;
        let found = match self.store.get(&path).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e).with_context(|| self.failed("read", key)),
        };
        Ok(Some(found.bytes().await.with_context(|| self.failed("read", key))?))
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let path = Self::path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| self.failed("delete", key)),
        }
    }

    /// Every key under the folder `prefix` ("" for all), a page of the
    /// bucket listing at a time. Objects whose names are not media keys
    /// (put there by something else) are left out.
    pub fn list(&self, prefix: &str) -> BoxStream<'static, anyhow::Result<String>> {
        let describe = self.describe.clone();
        let under = if prefix.is_empty() { None } else { Some(Path::from(prefix)) };
        self.store
            .list(under.as_ref())
            .filter_map(move |meta| {
                let item = match meta {
                    Ok(meta) => Some(meta.location.to_string()).filter(|key| super::valid_key(key)).map(Ok),
                    Err(e) => Some(Err(anyhow::Error::new(e).context(format!("cannot list {describe}")))),
                };
                std::future::ready(item)
            })
            .boxed()
    }

    fn failed(&self, what: &str, key: &str) -> String {
        format!("cannot {what} {key} in {}", self.describe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_bucket_and_optional_prefix() {
        assert_eq!(parse_location("media").unwrap(), Location { bucket: "media", prefix: "" });
        assert_eq!(parse_location("media/").unwrap(), Location { bucket: "media", prefix: "" });
        assert_eq!(parse_location("my.bucket-1/site/a/").unwrap(), Location { bucket: "my.bucket-1", prefix: "site/a" });
        for bad in ["", "ab", "Media", "-media", "media-", "me_dia", "media/../x", "media/a b", "media/a?x=1"] {
            assert!(parse_location(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn configured_keys_win_over_the_aws_environment() {
        let env = |var: &str| Some(format!("env-{var}"));
        let from_env = Credentials {
            key_id: "env-AWS_ACCESS_KEY_ID".into(),
            secret: "env-AWS_SECRET_ACCESS_KEY".into(),
            token: Some("env-AWS_SESSION_TOKEN".into()),
        };
        assert_eq!(credentials(&S3Config::default(), env), from_env);
        let s3 = S3Config { access_key_id: "id".into(), secret_access_key: "secret".into(), ..Default::default() };
        assert_eq!(credentials(&s3, env), Credentials { key_id: "id".into(), secret: "secret".into(), token: None });
        let none = Credentials { key_id: String::new(), secret: String::new(), token: None };
        assert_eq!(credentials(&S3Config::default(), |_| None), none);
        let half = S3Config { access_key_id: "id".into(), ..Default::default() };
        assert!(S3Store::new("media", &half).is_err(), "a key id without its secret is refused");
        let http = S3Config { endpoint: "http://127.0.0.1:9000".into(), ..Default::default() };
        assert!(S3Store::new("media", &http).is_err(), "plain http only when allowed");
    }

    #[test]
    fn s3_settings_come_from_the_file_and_environment() {
        let env: Vec<(String, String)> = [
            ("COTERIE_MEDIA_URL", "s3://media/site"),
            ("COTERIE_S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("COTERIE_S3_ALLOW_HTTP", "true"),
            ("COTERIE_S3_REGION", "eu-west-3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = crate::config::Config::load_from(None, &env).unwrap();
        assert_eq!(c.media_url(), "s3://media/site");
        assert_eq!((c.s3.endpoint.as_str(), c.s3.allow_http, c.s3.region.as_str()), ("http://127.0.0.1:9000", true, "eu-west-3"));
        let store = S3Store::new("media/site", &c.s3).unwrap();
        assert_eq!(store.describe(), "s3://media/site at http://127.0.0.1:9000");
        assert_eq!(S3Store::new("media", &S3Config::default()).unwrap().describe(), "s3://media at AWS us-east-1");
    }
}
