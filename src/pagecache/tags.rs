//! What a page shows, named as tags, and the version each tag has now.
//!
//! A page lists the tags of everything it shows (`topic:7`, `user:3`,
//! `forums`, ...). A write, after its transaction commits, calls [`touch`]
//! with the tags of what it changed: that deletes their version keys, so
//! every cached page that showed them stops matching, in this process and in
//! every other one sharing the cache. A missing version is made afresh, at
//! random, by the first page that needs it; a random version can never
//! collide with one a page was stored under before an eviction or restart.

use std::time::Duration;

use bytes::Bytes;

use crate::app::AppState;
use crate::cache::Cache;

/// Every write touches this too: a page is stored only if it did not move
/// while the page was being made (see `super`).
pub const WRITES: &str = "_writes";

/// Rare, site-wide changes (forum structure, site settings): every page
/// depends on it.
pub const SITE: &str = "site";
/// The member directory, the home page's newest members, member counts.
pub const MEMBERS: &str = "members";
/// The forum index: counts and latest posts of every forum.
pub const FORUMS: &str = "forums";
/// Blog lists: latest, hot, top, featured, tags, archives, feeds.
pub const BLOG: &str = "blog";
/// Every list of photo tiles: grids, tag pages, profiles (tiles move and
/// show scores and comment counts, so uploads, edits, votes, comments and
/// gallery changes all touch it).
pub const PHOTOS: &str = "photos";
/// Which photos there are, with their titles and galleries: what a photo
/// page's neighbours and a gallery's tiles are made of. Uploads, edits,
/// deletes and gallery changes touch it; votes and comments do not.
pub const PHOTO_SETS: &str = "photo_sets";

/// How long a version lives unused. Longer than any page entry, so an entry
/// never outlives the versions it was checked against.
const VERSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn user(id: i64) -> String {
    format!("user:{id}")
}

pub fn forum(id: i64) -> String {
    format!("forum:{id}")
}

/// A gallery's page (votes and comments on its photos).
pub fn gallery(id: i64) -> String {
    format!("gallery:{id}")
}

pub fn topic(id: i64) -> String {
    format!("topic:{id}")
}

/// A member's own blog page.
pub fn member_blog(user_id: i64) -> String {
    format!("blog:{user_id}")
}

/// One item of a content kind (its page, its comments, its score).
pub fn item(kind: &str, id: i64) -> String {
    format!("{kind}:{id}")
}

/// After a member's name, picture or profile changes, or they join: every
/// page that shows them, and the member lists.
pub async fn touch_member(state: &AppState, id: i64) {
    touch(state, &[user(id), MEMBERS.to_string()]).await
}

fn version_key(tag: &str) -> String {
    format!("v:{tag}")
}

/// Marks `tags` as changed, everywhere. Call it after the write commits.
pub async fn touch<S: AsRef<str>>(state: &AppState, tags: &[S]) {
    let cache = &state.cache;
    // `_writes` first: a page rendered across this write then sees it move
    // before it could read any old version of these tags.
    cache.delete(&version_key(WRITES)).await;
    for tag in tags {
        cache.delete(&version_key(tag.as_ref())).await;
    }
}

/// The current versions of `tags`, in order; None where a tag has none
/// (then no entry can match it).
pub async fn current(cache: &Cache, tags: &[String]) -> Vec<Option<Bytes>> {
    let keys: Vec<String> = tags.iter().map(|t| version_key(t)).collect();
    cache.get_many(&keys).await
}

/// The current versions of `tags`, making one for each tag that has none.
/// None if the cache could not keep one (it is down): then nothing may be
/// stored.
pub async fn current_or_new(cache: &Cache, tags: &[String]) -> Option<Vec<Bytes>> {
    let mut versions = current(cache, tags).await;
    for (tag, version) in tags.iter().zip(versions.iter_mut()) {
        if version.is_none() {
            let key = version_key(tag);
            let fresh = Bytes::from(format!("{:016x}", rand::random::<u64>()));
            // Another process may make one at the same moment: the one stored wins.
            cache.add(&key, fresh, VERSION_TTL).await;
            *version = Some(cache.get(&key).await?);
        }
    }
    versions.into_iter().collect()
}
