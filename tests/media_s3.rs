//! Media on an S3-compatible store (the server named by COTERIE_TEST_S3_URL,
//! `scripts/s3-server` starts one): the store itself, the app uploading and
//! serving through it, and `coterie check`. Each test has a bucket of its own.

mod common;

use bytes::Bytes;
use common::{Backend, TestApp, TestBucket};
use coterie::media::MediaStore;
use futures_util::TryStreamExt;
use object_store::{path::Path, Attribute, ObjectStoreExt};
use reqwest::multipart::Form;
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";
/// Hidden in an upload's GPS block; must never be served.
const SECRET: &[u8] = b"COTERIE-S3-GPS-48.85N";

/// An object as another S3 client sees it: its Content-Type and bytes.
async fn read_past_the_app(bucket: &TestBucket, name: &str) -> (String, Bytes) {
    let found = bucket.client().get(&Path::parse(name).unwrap()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    let content_type = found.attributes.get(&Attribute::ContentType).map(|v| v.to_string()).unwrap_or_default();
    (content_type, found.bytes().await.unwrap())
}

async fn keys(store: &MediaStore, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = store.list(prefix).try_collect().await.unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn store_round_trip_on_s3() {
    let Some(bucket) = TestBucket::create().await else { return };
    let store = MediaStore::open(&format!("s3://{}/site", bucket.name), &bucket.settings()).unwrap();
    store.check().await.unwrap();
    let files = [("avatars/7/a-40.jpg", &b"forty"[..]), ("photos/1/b-thumb.webp", b"thumb"), ("photos/12/c-large.jpg", b"large")];
    for (key, body) in files {
        store.put(key, Bytes::from_static(body)).await.unwrap();
    }
    for (key, body) in files {
        assert_eq!(store.get(key).await.unwrap().as_deref(), Some(body), "{key}");
    }
    assert_eq!(store.get("photos/1/missing.jpg").await.unwrap(), None, "a missing key is None, not an error");

    // The objects sit under the prefix, typed, where any S3 client finds them.
    assert_eq!(read_past_the_app(&bucket, "site/avatars/7/a-40.jpg").await, ("image/jpeg".into(), Bytes::from_static(b"forty")));
    // Something else in the bucket, outside the prefix or not named like a key, is not ours.
    for stray in [Path::from("outside.jpg"), Path::from_iter(["site", "photos", "1", "odd name.jpg"])] {
        bucket.client().put(&stray, Bytes::from_static(b"x").into()).await.unwrap();
    }

    assert_eq!(keys(&store, "").await, ["avatars/7/a-40.jpg", "photos/1/b-thumb.webp", "photos/12/c-large.jpg"], "the probe of check() is gone");
    assert_eq!(keys(&store, "photos/1").await, ["photos/1/b-thumb.webp"], "a prefix is a folder, not a string prefix");
    assert!(keys(&store, "nothing").await.is_empty());

    store.delete("photos/1/b-thumb.webp").await.unwrap();
    assert_eq!(store.get("photos/1/b-thumb.webp").await.unwrap(), None);
    store.delete("photos/1/b-thumb.webp").await.unwrap();
    assert_eq!(keys(&store, "photos").await, ["photos/12/c-large.jpg"]);

    // Keys that could escape or confuse the store are refused before any request.
    for bad in ["../x.jpg", "/abs.jpg", "a//b.jpg", "a b.jpg", ""] {
        assert!(store.put(bad, Bytes::from_static(b"x")).await.is_err(), "{bad:?}");
        assert!(store.get(bad).await.is_err(), "{bad:?}");
        assert!(store.delete(bad).await.is_err(), "{bad:?}");
    }
    assert!(store.list("../site").try_collect::<Vec<_>>().await.is_err());
    assert_eq!(keys(&store, "").await, ["avatars/7/a-40.jpg", "photos/12/c-large.jpg"], "refused calls changed nothing");
}

#[tokio::test]
async fn a_missing_bucket_or_a_store_that_is_down_fails_the_check() {
    let Some(bucket) = TestBucket::create().await else { return };
    let missing = MediaStore::open(&format!("s3://{}-none/site", bucket.name), &bucket.settings()).unwrap();
    let err = missing.check().await.expect_err("no such bucket");
    assert!(format!("{err:#}").contains(&format!("{}-none", bucket.name)), "the error names the bucket: {err:#}");
    let down = coterie::config::S3Config { endpoint: "http://127.0.0.1:1".into(), ..bucket.settings() };
    assert!(MediaStore::open(&format!("s3://{}", bucket.name), &down).unwrap().check().await.is_err());
    assert!(MediaStore::open("s3://Not_A_Bucket/x", &bucket.settings()).is_err(), "a bad bucket name is refused at start");
}

/// A JPEG as a phone makes it: pixels, then an EXIF block whose GPS IFD
/// holds [`SECRET`] (as GPSAreaInformation).
fn camera_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(900, 600, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8]));
    let mut plain = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut plain), image::ImageFormat::Jpeg).unwrap();
    // A one-entry IFD: count, tag, type, count, value or offset, next IFD (none).
    let ifd = |tag: u16, kind: u16, count: u32, value: u32| {
        let mut out = 1u16.to_be_bytes().to_vec();
        out.extend(tag.to_be_bytes());
        out.extend(kind.to_be_bytes());
        out.extend(count.to_be_bytes());
        out.extend(value.to_be_bytes());
        out.extend([0; 4]);
        out
    };
    // Big-endian TIFF: IFD0 at 8 points to the GPS IFD at 26, whose entry points to the secret at 44.
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend(ifd(0x8825, 4, 1, 26));
    tiff.extend(ifd(0x001C, 7, SECRET.len() as u32, 44));
    tiff.extend_from_slice(SECRET);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut jpeg = plain[..2].to_vec();
    jpeg.extend([0xFF, 0xE1]);
    jpeg.extend(((app1.len() + 2) as u16).to_be_bytes());
    jpeg.extend(app1);
    jpeg.extend_from_slice(&plain[2..]);
    assert!(contains(&jpeg, SECRET));
    jpeg
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The app on SQLite (the database plays no part in where media goes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_stores_and_serves_media_from_s3() {
    let Some(bucket) = TestBucket::create().await else { return };
    let app = TestApp::with(Backend::Sqlite).media_s3(&bucket, "site").spawn().await;
    let media = &app.state.media;
    app.member("ava", PW, "member").await;
    assert_eq!(app.login("ava", PW).await.status, StatusCode::SEE_OTHER);
    assert!(!app.data.path().join("media").exists(), "nothing goes to the data folder");

    // An avatar: every size in the bucket, served typed, immutable, and in ranges.
    let done = app.post_multipart("/accounts/settings", "/accounts/settings/avatar", common::with_file(Form::new(), common::png(300, 240), "me.png"), true).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let avatars = keys(media, "avatars").await;
    assert_eq!(avatars.len(), 3, "{avatars:?}");
    let profile = app.get("/u/ava").await;
    let start = profile.text.find("/media/avatars/").expect("the profile shows the uploaded avatar");
    let url: String = profile.text[start..].chars().take_while(|c| *c != '"').collect();
    assert!(avatars.iter().any(|k| url == format!("/media/{k}")), "{url} is one of {avatars:?}");
    let served = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert!(served.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let body = served.bytes().await.unwrap();
    assert_eq!(image::load_from_memory(&body).unwrap().width(), image::load_from_memory(&body).unwrap().height());
    let (_, stored) = read_past_the_app(&bucket, &format!("site/{}", url.trim_start_matches("/media/"))).await;
    assert_eq!(stored, body, "served bytes are the object in the bucket");
    let part = app.client.get(app.url(&url)).header("range", "bytes=2-11").send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], format!("bytes 2-11/{}", body.len()).as_str());
    assert_eq!(part.bytes().await.unwrap(), body.slice(2..12));
    assert_eq!(app.get("/media/avatars/1/0000-40.jpg").await.status, StatusCode::NOT_FOUND, "a missing object is a 404");

    // A photo: the sizes served from S3 are exactly what the pipeline made, with no EXIF or GPS.
    let upload = camera_jpeg();
    let token = app.get("/photos/upload").await.csrf();
    let form = common::with_file(Form::new().text("csrf_token", token).text("title", "Linen"), upload.clone(), "look.jpg");
    let done = app.client.post(app.url("/photos/upload")).multipart(form).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "{}", done.text().await.unwrap());
    let photos = keys(media, "photos").await;
    let sizes = &app.state.config.photos.sizes;
    let limits = coterie::media::images::ImageLimits { max_bytes: usize::MAX, max_pixels: u64::MAX };
    let made = coterie::media::pipeline::render(&upload, &limits, sizes).unwrap();
    assert_eq!(photos.len(), made.outputs.len(), "{photos:?}");
    for output in &made.outputs {
        let size = sizes.iter().find(|s| s.name == output.size).unwrap();
        let spec = coterie::photos::files::spec(size, output.format);
        let suffix = format!("/{}-{spec}.{}", output.size, output.format.extension());
        let key = photos.iter().find(|k| k.ends_with(&suffix)).unwrap_or_else(|| panic!("no {suffix} in {photos:?}"));
        let served = app.client.get(app.url(&format!("/media/{key}"))).send().await.unwrap();
        assert_eq!(served.headers()["content-type"], output.format.content_type(), "{key}");
        let bytes = served.bytes().await.unwrap();
        assert!(bytes == output.bytes, "{key}: the served file is what the pipeline made");
        assert!(!contains(&bytes, SECRET) && !contains(&bytes, b"Exif"), "{key} carries no metadata");
    }
    let originals = keys(media, "originals").await;
    assert_eq!(originals.len(), 1, "the upload is kept: {originals:?}");
    assert_eq!(app.get(&format!("/media/{}", originals[0])).await.status, StatusCode::NOT_FOUND, "originals are never served");

    // Deleting the photo removes its objects, and stops serving them at once.
    let id = app.count("SELECT MAX(id) FROM photos").await;
    let gone = app.post(&format!("/photos/{id}"), &format!("/photos/{id}/delete"), &[]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.text);
    assert!(keys(media, "photos").await.is_empty() && keys(media, "originals").await.is_empty());
    assert_eq!(app.get(&format!("/media/{}", photos[0])).await.status, StatusCode::NOT_FOUND);
    assert_eq!(keys(media, "").await, avatars, "the avatar is untouched");
}

#[test]
fn coterie_check_reports_the_s3_store() {
    let Some(bucket) = tokio::runtime::Runtime::new().unwrap().block_on(TestBucket::create()) else { return };
    let check = |url: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coterie"))
            .args(["--data-dir", dir.path().to_str().unwrap(), "check"])
            .env_remove("COTERIE_DATABASE_URL")
            .env("COTERIE_MEDIA_URL", url)
            .env("COTERIE_S3_ENDPOINT", &bucket.endpoint)
            .env("COTERIE_S3_ALLOW_HTTP", "true")
            // Keys from the standard AWS variables when the configuration has none.
            .env("AWS_ACCESS_KEY_ID", "coterie-test")
            .env("AWS_SECRET_ACCESS_KEY", "coterie-test-secret")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let (ok, out) = check(&format!("s3://{}/site", bucket.name));
    assert!(ok, "{out}");
    assert!(out.contains(&format!("ok      media storage: s3://{}/site at {}", bucket.name, bucket.endpoint)), "{out}");
    let (ok, out) = check(&format!("s3://{}-none", bucket.name));
    assert!(!ok && out.contains("FAILED  media storage"), "{out}");
}
