//! Photo sharing through the real router: uploads (good and hostile),
//! pages, galleries, editing and deleting.

mod common;

use common::{Backend, TestApp};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    upload_into_a_gallery_and_see_every_page,
    bad_uploads_store_nothing,
    hostile_targets_and_visitors_store_nothing,
    animated_gif_keeps_its_first_frame,
    owners_edit_and_delete_moderators_remove,
    galleries_reorder_choose_a_cover_and_delete,
    grids_page_by_keyset_and_sort_by_score,
    concurrent_uploads_to_one_gallery_lose_nothing,
    member_pages_are_never_stored,
    a_deleted_account_takes_its_photos_along,
    zip_uploads_open_and_hostile_zips_store_nothing,
    demo_adds_galleries_of_outfits,
    uploads_are_rate_limited,
    a_large_upload_streams_past_the_csrf_check,
    uploads_past_the_memory_budget_are_asked_to_wait,
    moderators_remove_any_gallery_with_a_reason,
    a_script_upload_is_told_where_to_go,
);

/// A striped JPEG, so it is a real picture and not a flat colour.
fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let band = ((x + y) / 8) as u8;
        image::Rgb([band.wrapping_mul(37).wrapping_add(seed), seed.wrapping_mul(3), 255 - band.wrapping_mul(11)])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

fn form(files: &[(&str, Vec<u8>)], fields: &[(&str, &str)]) -> Form {
    let mut form = Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    for (name, bytes) in files {
        form = form.part("file", Part::bytes(bytes.clone()).file_name(name.to_string()).mime_str("image/jpeg").unwrap());
    }
    form
}

/// Uploads as `client`, with the token of its upload page.
async fn upload_with(app: &TestApp, client: &reqwest::Client, files: &[(&str, Vec<u8>)], fields: &[(&str, &str)]) -> common::Page {
    let token = app.get_with(client, "/photos/upload").await.csrf();
    let form = form(files, fields).text("csrf_token", token);
    let response = client.post(app.url("/photos/upload")).multipart(form).send().await.unwrap();
    common::Page { status: response.status(), headers: response.headers().clone(), text: response.text().await.unwrap() }
}

async fn upload(app: &TestApp, files: &[(&str, Vec<u8>)], fields: &[(&str, &str)]) -> common::Page {
    upload_with(app, &app.client, files, fields).await
}

async fn gallery(app: &TestApp, client: &reqwest::Client, title: &str) -> i64 {
    let done = app.post_with(client, "/galleries/new", "/galleries/new", &[("title", title), ("description", "A *summer* set")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    done.location().trim_start_matches("/photos/upload?gallery=").parse().unwrap()
}

/// Every stored media file under photos/ and originals/.
fn stored_files(app: &TestApp) -> Vec<String> {
    let mut found: Vec<String> = common::files_under(&app.data.path().join("media"))
        .into_iter()
        .filter(|rel| rel.starts_with("photos/") || rel.starts_with("originals/"))
        .collect();
    found.sort();
    found
}

async fn with_member(b: Backend) -> TestApp {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    app
}

async fn nothing_stored(app: &TestApp, why: &str) {
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 0, "{why}: no photo row");
    assert_eq!(app.count("SELECT COUNT(*) FROM photo_tags").await, 0, "{why}: no tag row");
    assert_eq!(stored_files(app), Vec::<String>::new(), "{why}: no media file");
}

async fn upload_into_a_gallery_and_see_every_page(b: Backend) {
    let app = with_member(b).await;
    let g = gallery(&app, &app.client, "Linen summer").await;
    let done = upload(
        &app,
        &[("look-one.jpg", jpeg(1200, 1600, 10)), ("look-two.jpg", jpeg(900, 600, 90))],
        &[("title", "Linen"), ("caption", "Worn **twice** <script>alert(1)</script>"), ("tags", "Linen, summer look"), ("gallery", &g.to_string())],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(done.location(), format!("/galleries/{g}"));
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 2);
    assert_eq!(app.sum("SELECT photo_count FROM galleries").await, 2, "the gallery's counter");
    let first = app.count("SELECT MIN(id) FROM photos").await;
    let second = app.count("SELECT MAX(id) FROM photos").await;
    assert_eq!(app.count("SELECT cover_photo_id FROM galleries").await, first, "the first photo is the cover");
    // Every size in both formats, and the original, which is never served.
    let files = stored_files(&app);
    assert_eq!(files.len(), 2 * (3 * 2 + 1), "{files:?}");
    let original = files.iter().find(|f| f.starts_with("originals/")).unwrap();
    assert_eq!(app.get(&format!("/media/{original}")).await.status, StatusCode::NOT_FOUND);
    let large = files.iter().find(|f| f.contains("/large-") && f.ends_with(".webp")).unwrap();
    let served = app.client.get(app.url(&format!("/media/{large}"))).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/webp");

    let page = app.get(&format!("/photos/{first}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<strong>twice</strong>") && !page.text.contains("<script>alert"), "caption rendered and sanitized");
    assert!(page.text.contains("<picture") && page.text.contains("type=\"image/webp\""), "responsive picture");
    assert!(page.text.contains(".webp 640w") && page.text.contains("/display-") && page.text.contains("width=\"1200\" height=\"1600\""), "srcset and size");
    assert!(page.text.contains("href=\"/tags/summer-look\""), "tags link to their pages");
    assert!(page.text.contains(&format!("href=\"/photos/{second}\"")) && page.text.contains("rel=\"next\""), "next in the gallery");
    assert!(page.text.contains("class=\"score\"") && page.text.contains("id=\"comments\""), "votes and comments");
    assert!(page.text.contains("Linen (2)") || app.get(&format!("/photos/{second}")).await.text.contains("Linen (2)"));
    app.get(&format!("/photos/{first}")).await;
    // Views are written in batches: flush as the server does every few seconds.
    app.state.views.flush(&app.state.db).await.unwrap();
    assert_eq!(app.count("SELECT view_count FROM photos WHERE id = (SELECT MIN(id) FROM photos)").await, 2);

    let grid = app.get("/photos").await;
    assert!(grid.text.contains(&format!("/photos/{first}")) && grid.text.contains(&format!("/photos/{second}")));
    assert!(grid.text.contains("loading") || grid.text.contains("<picture"));
    let tag = app.get("/tags/summer-look").await;
    assert_eq!(tag.status, StatusCode::OK);
    assert!(tag.text.contains(&format!("/photos/{first}")));
    assert_eq!(app.get("/tags/Summer%20Look").await.status, StatusCode::PERMANENT_REDIRECT);
    assert!(!app.get("/tags/denim").await.text.contains(&format!("/photos/{first}")));
    let gallery_page = app.get(&format!("/galleries/{g}")).await;
    assert!(gallery_page.text.contains("Linen summer") && gallery_page.text.contains("<em>summer</em>"));
    let profile = app.get("/u/ava").await;
    assert!(profile.text.contains(&format!("/photos/{second}")) && profile.text.contains(&format!("/galleries/{g}")));
    // Comments and votes attach to photos by kind.
    let leo = app.member("leo", PW, "member").await;
    let leo = app.client_for(leo).await;
    let path = format!("/photos/{first}");
    let voted = app.post_with(&leo, &path, &format!("/votes/photo/{first}"), &[("value", "1"), ("next", &path)]).await;
    assert_eq!(voted.status, StatusCode::SEE_OTHER, "{}", voted.text);
    let said = app.post_with(&leo, &path, &format!("/comments/photo/{first}"), &[("body", "Great colours"), ("next", &path)]).await;
    assert_eq!(said.status, StatusCode::SEE_OTHER, "{}", said.text);
    assert_eq!(app.count("SELECT score FROM photos WHERE id = (SELECT MIN(id) FROM photos)").await, 1);
    assert_eq!(app.count("SELECT comment_count FROM photos WHERE id = (SELECT MIN(id) FROM photos)").await, 1);
    assert!(app.get(&path).await.text.contains("Great colours"));
}

async fn bad_uploads_store_nothing(b: Backend) {
    let app = TestApp::with(b).config(|c| c.photos.max_bytes = 200_000).spawn().await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    let bomb = common::png_claiming(100_000, 100_000);
    let good = jpeg(64, 64, 1);
    let truncated = good[..good.len() / 2].to_vec();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (truncated, "damaged or incomplete"),
        (b"#!/bin/sh\necho this is not a picture\n".to_vec(), "not a JPEG, PNG, WebP or GIF"),
        (Vec::new(), "That file is empty"),
        (vec![0xFF; 300_000], "larger than"),
        (bomb, "the limit is"),
    ];
    for (bytes, message) in cases {
        // A good file first: refusing one file stores none of them.
        let page = upload(&app, &[("good.jpg", good.clone()), ("bad.jpg", bytes)], &[("title", "Look")]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}: {}", page.text);
        assert!(page.text.contains(message), "expected {message:?} in the form");
        assert!(page.text.contains("bad.jpg"), "the message names the file");
        nothing_stored(&app, message).await;
    }
    let tags = upload(&app, &[("good.jpg", good.clone())], &[("tags", "<script>")]).await;
    assert_eq!(tags.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(tags.text.contains("letters, digits and hyphens"));
    let none = upload(&app, &[], &[("title", "Nothing")]).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none.text.contains("Choose a photo"));
    nothing_stored(&app, "bad tags or no file").await;
}

async fn hostile_targets_and_visitors_store_nothing(b: Backend) {
    let app = TestApp::with(b).config(|c| c.photos.max_files_per_upload = 2).spawn().await;
    app.member("ava", PW, "member").await;
    let leo = app.member("leo", PW, "member").await;
    app.login("ava", PW).await;
    let leo = app.client_for(leo).await;
    let theirs = gallery(&app, &leo, "Leo's").await;
    let into_theirs = upload(&app, &[("a.jpg", jpeg(40, 40, 2))], &[("gallery", &theirs.to_string())]).await;
    assert_eq!(into_theirs.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(into_theirs.text.contains("Choose one of your own galleries"));
    let nonsense = upload(&app, &[("a.jpg", jpeg(40, 40, 2))], &[("gallery", "12abc")]).await;
    assert_eq!(nonsense.status, StatusCode::UNPROCESSABLE_ENTITY);
    let many = upload(&app, &[("a.jpg", jpeg(40, 40, 2)), ("b.jpg", jpeg(40, 40, 3)), ("c.jpg", jpeg(40, 40, 4))], &[]).await;
    assert_eq!(many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(many.text.contains("at most 2 photos"));
    // No CSRF token.
    let forged = app.post_multipart("/photos/upload", "/photos/upload", form(&[("a.jpg", jpeg(40, 40, 2))], &[]), false).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // A visitor is sent to log in, for the form and for a post.
    let visitor = common::client();
    let form_page = app.get_with(&visitor, "/photos/upload").await;
    assert_eq!(form_page.status, StatusCode::SEE_OTHER);
    assert!(form_page.location().starts_with("/accounts/login?next="));
    let token = app.get_with(&visitor, "/accounts/login").await.csrf();
    let sent = visitor
        .post(app.url("/photos/upload"))
        .multipart(form(&[("a.jpg", jpeg(40, 40, 2))], &[]).text("csrf_token", token))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    assert!(sent.headers()["location"].to_str().unwrap().starts_with("/accounts/login"));
    nothing_stored(&app, "hostile targets").await;
    assert_eq!(app.sum("SELECT photo_count FROM galleries").await, 0);
}

async fn animated_gif_keeps_its_first_frame(b: Backend) {
    let app = with_member(b).await;
    // Three thousand frames: only the first is decoded, so this is quick and small.
    let mut gif = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
        let frames = (0..3000u32).map(|i| {
            let buffer = image::RgbaImage::from_pixel(16, 12, image::Rgba([(i % 255) as u8, 40, 90, 255]));
            image::Frame::new(buffer)
        });
        encoder.encode_frames(frames).unwrap();
    }
    let done = upload(&app, &[("dance.gif", gif)], &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 1);
    assert_eq!(app.count("SELECT width FROM photos").await, 16);
    assert_eq!(app.count("SELECT height FROM photos").await, 12);
    let page = app.get(done.location()).await;
    assert!(page.text.contains("dance"), "titled after its file");
}

async fn owners_edit_and_delete_moderators_remove(b: Backend) {
    let app = with_member(b).await;
    let leo = app.member("leo", PW, "member").await;
    let nina = app.member("nina", PW, "moderator").await;
    let (leo, nina) = (app.client_for(leo).await, app.client_for(nina).await);
    let g = gallery(&app, &app.client, "Capsule").await;
    let done = upload(&app, &[("a.jpg", jpeg(80, 60, 5)), ("b.jpg", jpeg(80, 60, 6))], &[("gallery", &g.to_string()), ("tags", "wool")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let first = app.count("SELECT MIN(id) FROM photos").await;
    let second = app.count("SELECT MAX(id) FROM photos").await;
    let edit = format!("/photos/{first}/edit");

    let saved = app.post(&edit, &edit, &[("title", "Grey wool"), ("caption", "_soft_"), ("tags", "wool, Winter")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let page = app.get(&format!("/photos/{first}")).await;
    assert!(page.text.contains("Grey wool") && page.text.contains("<em>soft</em>") && page.text.contains("/tags/winter"));
    let bad = app.post(&edit, &edit, &[("title", &"x".repeat(201))]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos WHERE title = 'Grey wool'").await, 1, "a refused edit changes nothing");

    // Another member can neither edit nor delete.
    assert_eq!(app.get_with(&leo, &edit).await.status, StatusCode::FORBIDDEN);
    let token = app.get_with(&leo, "/photos").await.csrf();
    let refused = app.post_raw(&leo, &format!("/photos/{first}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Missing CSRF token.
    let forged = app.post_raw(&app.client, &format!("/photos/{first}/delete"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 2);

    // Comments and votes go with the photo; the gallery's count and cover follow.
    let path = format!("/photos/{first}");
    app.post_with(&leo, &path, &format!("/votes/photo/{first}"), &[("value", "1"), ("next", &path)]).await;
    app.post_with(&leo, &path, &format!("/comments/photo/{first}"), &[("body", "Nice"), ("next", &path)]).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM votes WHERE kind = 'photo'").await, 1);
    let gone = app.post(&path, &format!("/photos/{first}/delete"), &[]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.text);
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT COUNT(*) FROM votes WHERE kind = 'photo'").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM comments WHERE kind = 'photo'").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM photo_tags WHERE photo_id NOT IN (SELECT id FROM photos)").await, 0);
    assert_eq!(app.sum("SELECT photo_count FROM galleries").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM galleries WHERE cover_photo_id IS NULL").await, 1, "the deleted cover is cleared");
    assert_eq!(stored_files(&app).len(), 3 * 2 + 1, "only the other photo's files remain");

    // A moderator removes anyone's photo; the removal is in the audit log.
    let path = format!("/photos/{second}");
    let page = app.get_with(&nina, &path).await;
    assert!(page.text.contains("Remove"));
    let removed = app.post_with(&nina, &path, &format!("/photos/{second}/delete"), &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 0);
    assert_eq!(app.sum("SELECT photo_count FROM galleries").await, 0);
    assert_eq!(stored_files(&app), Vec::<String>::new());
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'photo.remove'").await, 1);
}

async fn galleries_reorder_choose_a_cover_and_delete(b: Backend) {
    let app = with_member(b).await;
    let g = gallery(&app, &app.client, "Order").await;
    let files: Vec<(String, Vec<u8>)> = (0..3).map(|i| (format!("p{i}.jpg"), jpeg(50, 50, i * 40))).collect();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    upload(&app, &files, &[("gallery", &g.to_string())]).await;
    let rows = app.state.db.query("SELECT id FROM photos ORDER BY id").fetch_all(app.state.db.w()).await.unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| sqlx::Row::get::<i64, _>(r, 0)).collect();
    let edit = format!("/galleries/{g}/edit");
    let (p0, p1, p2) = (ids[0].to_string(), ids[1].to_string(), ids[2].to_string());
    let saved = app
        .post(
            &edit,
            &edit,
            &[("title", "Reordered"), ("description", ""), ("cover", &p2), (&format!("position_{p0}"), "3"), (&format!("position_{p1}"), "1"), (&format!("position_{p2}"), "2")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let page = app.get(&format!("/galleries/{g}")).await;
    let at = |id: &str| page.text.find(&format!("href=\"/photos/{id}\"")).unwrap();
    assert!(at(&p1) < at(&p2) && at(&p2) < at(&p0), "shown in the new order");
    assert!(page.text.contains("Reordered"));
    assert_eq!(app.count("SELECT cover_photo_id FROM galleries").await, ids[2]);
    // The photo page's neighbours follow the order too.
    let middle = app.get(&format!("/photos/{p2}")).await;
    assert!(middle.text.contains(&format!("rel=\"prev\" href=\"/photos/{p1}\"")) && middle.text.contains(&format!("rel=\"next\" href=\"/photos/{p0}\"")));

    // A cover from elsewhere, or a position that is not a number, is refused.
    let other = gallery(&app, &app.client, "Other").await;
    upload(&app, &[("x.jpg", jpeg(30, 30, 7))], &[("gallery", &other.to_string())]).await;
    let outsider = app.count("SELECT MAX(id) FROM photos").await.to_string();
    let bad_cover = app.post(&edit, &edit, &[("title", "Bad"), ("cover", &outsider)]).await;
    assert_eq!(bad_cover.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_position = app.post(&edit, &edit, &[("title", "Bad"), (&format!("position_{p0}"), "first")]).await;
    assert_eq!(bad_position.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) FROM galleries WHERE title = 'Bad'").await, 0);

    // Another member cannot change it.
    let leo = app.member("leo", PW, "member").await;
    let leo = app.client_for(leo).await;
    assert_eq!(app.get_with(&leo, &edit).await.status, StatusCode::FORBIDDEN);

    // Deleting keeps the photos, standalone, or takes them along.
    let kept = app.post(&edit, &format!("/galleries/{g}/delete"), &[("photos", "keep")]).await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos WHERE gallery_id IS NULL").await, 3);
    let other_edit = format!("/galleries/{other}/edit");
    let unsure = app.post(&other_edit, &format!("/galleries/{other}/delete"), &[]).await;
    assert_eq!(unsure.status, StatusCode::BAD_REQUEST);
    let both = app.post(&other_edit, &format!("/galleries/{other}/delete"), &[("photos", "delete")]).await;
    assert_eq!(both.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM galleries").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 3);
    assert_eq!(stored_files(&app).len(), 3 * (3 * 2 + 1));
}

async fn grids_page_by_keyset_and_sort_by_score(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ava = app.member("ava", PW, "member").await;
    // Rows only: the grid reads no files.
    let new: Vec<_> = (0..30)
        .map(|i| coterie::photos::store::NewPhoto {
            text: coterie::photos::store::PhotoText { title: format!("Look {i:02}"), caption: String::new(), tags: vec!["denim".into()] },
            width: 640,
            height: 800,
            content_hash: format!("{i:020}"),
        })
        .collect();
    let ids = coterie::photos::store::create_photos(&app.state.db, ava, None, &new).await.unwrap();
    let first = app.get("/photos").await;
    assert!(first.text.contains("Look 29") && first.text.contains("Look 06") && !first.text.contains("Look 05"));
    let next = format!("/photos?after={}", ids[6]);
    assert!(first.text.contains(&format!("href=\"{next}\"")), "a keyset link to the next page");
    let second = app.get(&next).await;
    assert!(second.text.contains("Look 05") && second.text.contains("Look 00") && !second.text.contains("Look 06"));
    assert!(!second.text.contains("rel=\"next\""));
    assert_eq!(app.get("/photos?after=abc").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/photos?sort=sideways").await.status, StatusCode::NOT_FOUND);

    app.state.db.query("UPDATE photos SET score = 5 WHERE id = ?").bind(ids[3]).execute(app.state.db.w()).await.unwrap();
    app.state.db.query("UPDATE photos SET score = 2 WHERE id = ?").bind(ids[1]).execute(app.state.db.w()).await.unwrap();
    let top = app.get("/photos?sort=top").await;
    let at = |t: &str| top.text.find(t).unwrap();
    assert!(at("Look 03") < at("Look 01") && at("Look 01") < at("Look 29"), "by score, then newest");
    let top_next = format!("/photos?sort=top&amp;after=0_{}", ids[8]);
    assert!(top.text.contains(&top_next), "the top order pages by (score, id): {}", top_next);
    let top2 = app.get(&format!("/photos?sort=top&after=0_{}", ids[8])).await;
    assert!(top2.text.contains("Look 07") && top2.text.contains("Look 00") && !top2.text.contains("Look 03"));
    let tag = app.get("/tags/denim").await;
    assert!(tag.text.contains("Look 29") && tag.text.contains(&format!("?after={}", ids[6])));

    // Trending: the hot rank (votes, decaying with age), paged by (rank, id).
    app.state.db.query("UPDATE photos SET hot = hot + 100000 WHERE id = ?").bind(ids[2]).execute(app.state.db.w()).await.unwrap();
    let hot = app.get("/photos?sort=hot").await;
    assert_eq!(hot.status, StatusCode::OK);
    let at = |t: &str| hot.text.find(t).unwrap();
    assert!(at("Look 02") < at("Look 29") && at("Look 29") < at("Look 28"), "by rank, then newest");
    assert!(hot.text.contains("aria-current=\"true\">Trending"));
    let hot_next = hot.text.split("rel=\"next\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert!(hot_next.starts_with("/photos?sort=hot&after="), "{hot_next}");
    let hot2 = app.get(&hot_next).await;
    assert!(hot2.text.contains("Look 06") && hot2.text.contains("Look 00") && !hot2.text.contains("Look 02") && !hot2.text.contains("Look 07"));
    assert_eq!(app.get("/photos?sort=hot&after=1").await.status, StatusCode::NOT_FOUND);
}

async fn concurrent_uploads_to_one_gallery_lose_nothing(b: Backend) {
    let app = with_member(b).await;
    let g = gallery(&app, &app.client, "Busy").await;
    let gs = g.to_string();
    let uploads = (0..4u8).map(|i| {
        let (app, gs) = (&app, gs.clone());
        async move { upload(app, &[(&format!("c{i}.jpg"), jpeg(60, 40, i * 50))], &[("gallery", &gs)]).await }
    });
    for page in futures_util::future::join_all(uploads).await {
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 4);
    assert_eq!(app.sum("SELECT photo_count FROM galleries").await, 4);
}

async fn member_pages_are_never_stored(b: Backend) {
    let app = with_member(b).await;
    let g = gallery(&app, &app.client, "Mine").await;
    upload(&app, &[("a.jpg", jpeg(40, 40, 9))], &[("gallery", &g.to_string()), ("tags", "silk")]).await;
    let id = app.count("SELECT MAX(id) FROM photos").await;
    let paths = [
        "/photos".to_string(), "/photos?sort=top".into(), "/photos/upload".into(), format!("/photos/{id}"), format!("/photos/{id}/edit"),
        format!("/galleries/{g}"), format!("/galleries/{g}/edit"), "/galleries/new".into(), "/tags/silk".into(), "/u/ava".into(),
    ];
    for path in &paths {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header("cache-control"), "private, no-store", "{path}");
    }
    // Visitors' copies may be cached (and revalidated).
    let visitor = common::client();
    assert_eq!(app.get_with(&visitor, &format!("/photos/{id}")).await.header("cache-control"), "no-cache");
}

async fn a_deleted_account_takes_its_photos_along(b: Backend) {
    let app = with_member(b).await;
    let leo = app.member("leo", PW, "member").await;
    let leo = app.client_for(leo).await;
    upload(&app, &[("a.jpg", jpeg(40, 40, 9)), ("b.jpg", jpeg(40, 40, 19))], &[("tags", "silk")]).await;
    let id = app.count("SELECT MAX(id) FROM photos").await;
    let path = format!("/photos/{id}");
    app.post_with(&leo, &path, &format!("/comments/photo/{id}"), &[("body", "Lovely"), ("next", &path)]).await;
    assert_eq!(stored_files(&app).len(), 2 * 7);
    let gone = app.post("/accounts/settings", "/accounts/delete", &[("password", PW)]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM photo_tags").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM comments WHERE kind = 'photo'").await, 0);
    assert_eq!(stored_files(&app), Vec::<String>::new());
}

/// One ZIP entry: its name, its bytes, and the uncompressed size its
/// headers claim (the real size unless a test lies).
struct Entry<'a> {
    name: &'a str,
    bytes: Vec<u8>,
    claimed: Option<u32>,
}

/// A ZIP with deflated entries, written by hand so a test can lie in it.
fn zip(entries: &[Entry]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(&e.bytes).unwrap();
        let data = deflate.finish().unwrap();
        let mut crc = flate2::Crc::new();
        crc.update(&e.bytes);
        let size = e.claimed.unwrap_or(e.bytes.len() as u32);
        let offset = out.len() as u32;
        let common = |b: &mut Vec<u8>| {
            b.extend_from_slice(&20u16.to_le_bytes()); // version needed
            b.extend_from_slice(&0u16.to_le_bytes()); // flags
            b.extend_from_slice(&8u16.to_le_bytes()); // deflate
            b.extend_from_slice(&[0; 4]); // time, date
            b.extend_from_slice(&crc.sum().to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(b"PK\x03\x04");
        common(&mut out);
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&data);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&[0; 4]); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
    }
    let at = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn entry(name: &str, bytes: Vec<u8>) -> Entry<'_> {
    Entry { name, bytes, claimed: None }
}

async fn zip_uploads_open_and_hostile_zips_store_nothing(b: Backend) {
    let app = TestApp::with(b).config(|c| {
        c.photos.max_bytes = 300_000;
        c.photos.max_files_per_upload = 3;
    })
    .spawn()
    .await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    let zeros = vec![0u8; 2_000_000]; // deflates to a few KB
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (zip(&[entry("ok.jpg", jpeg(30, 30, 1)), entry("../evil.jpg", jpeg(30, 30, 2))]), "a path outside the folder"),
        (zip(&[entry("/etc/evil.jpg", jpeg(30, 30, 2))]), "a path outside the folder"),
        (zip(&[entry("bomb.jpg", zeros.clone())]), "larger than"),
        (zip(&[Entry { name: "liar.jpg", bytes: zeros, claimed: Some(1_000) }]), "larger than"),
        (zip(&[entry("a.jpg", jpeg(30, 30, 1)), entry("b.jpg", jpeg(30, 30, 2)), entry("c.jpg", jpeg(30, 30, 3)), entry("d.jpg", jpeg(30, 30, 4))]), "at most 3 photos"),
        (zip(&[entry("notes.jpg", b"just words".to_vec())]), "not a JPEG"),
        (b"PK\x03\x04 and then nothing".to_vec(), "damaged"),
    ];
    for (bytes, message) in cases {
        let page = upload(&app, &[("looks.zip", bytes)], &[]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}: {}", page.text);
        assert!(page.text.contains(message), "expected {message:?}: {}", page.text.split("field-error").nth(1).unwrap_or(""));
        nothing_stored(&app, message).await;
    }
    // A good one: its images, in order, with the folder junk left out.
    let good = zip(&[entry("looks/", Vec::new()), entry("looks/red-coat.jpg", jpeg(40, 30, 1)), entry("__MACOSX/looks/._red-coat.jpg", vec![0; 10]), entry("looks/blue-scarf.jpg", jpeg(30, 40, 2))]);
    let done = upload(&app, &[("looks.zip", good)], &[("tags", "zip")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos WHERE title = 'red coat'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM photo_tags WHERE tag = 'zip'").await, 2);
}

async fn demo_adds_galleries_of_outfits(b: Backend) {
    let app = TestApp::spawn(b).await;
    coterie::demo::fill_if_empty(&app.state).await.unwrap();
    let photos = app.count("SELECT COUNT(*) FROM photos").await;
    assert!(photos >= 15, "{photos} demo photos");
    assert!(app.count("SELECT COUNT(*) FROM galleries").await >= 5);
    assert!(app.count("SELECT COUNT(DISTINCT user_id) FROM photos").await >= 5, "a few per member");
    assert_eq!(app.sum("SELECT photo_count FROM galleries").await, photos, "gallery counters agree with their rows");
    assert_eq!(app.count("SELECT COUNT(*) FROM galleries WHERE cover_photo_id IS NULL").await, 0, "every gallery has a cover");
    assert_eq!(stored_files(&app).len() as i64, photos * 7, "every size of every photo, and its original");
    let grid = app.get("/photos").await;
    assert_eq!(grid.status, StatusCode::OK);
    assert!(grid.text.contains("Trench and stripes"));
    assert!(app.get("/tags/capsule").await.text.contains("Linen Sunday"));
}

async fn uploads_are_rate_limited(b: Backend) {
    let app = with_member(b).await;
    let token = app.get("/photos/upload").await.csrf();
    let tiny = jpeg(8, 8, 3);
    let send = || async {
        let form = form(&[("t.jpg", tiny.clone())], &[]).text("csrf_token", token.clone());
        app.client.post(app.url("/photos/upload")).multipart(form).send().await.unwrap().status()
    };
    for n in 1..=30 {
        assert_eq!(send().await, StatusCode::SEE_OTHER, "upload {n} is within the limit");
    }
    assert_eq!(send().await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 30, "the refused upload stored nothing");
}

/// The CSRF check reads only as far as the token; the rest of a large body
/// streams to the upload handler and its own, larger limit.
async fn a_large_upload_streams_past_the_csrf_check(b: Backend) {
    let app = with_member(b).await;
    let token = app.get("/photos/upload").await.csrf();
    let big = vec![b'x'; 17 * 1024 * 1024];
    let mut form = Form::new().text("csrf_token", token);
    for n in 0..4 {
        form = form.part("file", Part::bytes(big.clone()).file_name(format!("big{n}.jpg")));
    }
    let response = app.client.post(app.url("/photos/upload")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "68 MB reach the handler, which reads every file");
    assert!(response.text().await.unwrap().contains("big0.jpg: That file is not a JPEG"));
    nothing_stored(&app, "a large upload of non-images").await;
}

/// A moderator (or staff member) removes another member's gallery with a
/// reason for the audit log; its photos stay the owner's, outside any
/// gallery. Members cannot, and a post without its CSRF token changes nothing.
async fn moderators_remove_any_gallery_with_a_reason(b: Backend) {
    let app = with_member(b).await;
    let leo = app.member("leo", PW, "member").await;
    let nina = app.member("nina", PW, "moderator").await;
    let sam = app.member("sam", PW, "staff").await;
    let (leo, nina, sam) = (app.client_for(leo).await, app.client_for(nina).await, app.client_for(sam).await);
    let g = gallery(&app, &app.client, "Festival").await;
    let done = upload(&app, &[("a.jpg", jpeg(80, 60, 5)), ("b.jpg", jpeg(80, 60, 6))], &[("gallery", &g.to_string())]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let page = format!("/galleries/{g}");
    let action = format!("/galleries/{g}/remove");
    let button = format!("action=\"{action}\"");
    // Visitors see the cached page until the gallery goes.
    let visitor = common::client();
    assert_eq!(app.get_with(&visitor, &page).await.status, StatusCode::OK);
    assert!(app.get_with(&visitor, "/u/ava").await.text.contains(&page));

    // Only moderators and staff see the button; owners delete from the edit page.
    assert!(app.get_with(&nina, &page).await.text.contains(&button), "a moderator sees it");
    assert!(!app.get_with(&leo, &page).await.text.contains(&button), "a member does not");
    assert!(!app.get(&page).await.text.contains(&button), "nor does the owner");
    assert!(!app.get_with(&visitor, &page).await.text.contains(&button), "nor a visitor");

    let app = &app;
    let unchanged = |why: &'static str| async move {
        assert_eq!(app.count("SELECT COUNT(*) FROM galleries").await, 1, "{why}: the gallery stays");
        assert_eq!(app.count("SELECT COUNT(*) FROM photos WHERE gallery_id IS NOT NULL").await, 2, "{why}: its photos stay in it");
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'gallery.remove'").await, 0, "{why}: nothing logged");
    };
    let refused = app.post_with(&leo, &page, &action, &[("reason", "I do not like it")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    unchanged("a member").await;
    let forged = app.post_raw(&nina, &action, &[("reason", "Spam")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    unchanged("no CSRF token").await;
    let silent = app.post_with(&nina, &page, &action, &[("reason", "   ")]).await;
    assert_eq!(silent.status, StatusCode::BAD_REQUEST);
    assert!(silent.text.contains("Give a reason"), "{}", silent.text);
    let long = app.post_with(&nina, &page, &action, &[("reason", &"x".repeat(501))]).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    unchanged("no reason").await;

    let removed = app.post_with(&nina, &page, &action, &[("reason", "Not about clothes at all")]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.text);
    assert_eq!(removed.location(), "/u/ava");
    assert_eq!(app.count("SELECT COUNT(*) FROM galleries").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM photos WHERE gallery_id IS NULL AND user_id = (SELECT id FROM users WHERE username = 'ava')").await, 2, "the photos stay ava's, standalone");
    assert_eq!(stored_files(&app).len(), 2 * (3 * 2 + 1), "and keep their files");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'gallery.remove' AND target_kind = 'gallery' AND detail LIKE '%Not about clothes at all%' AND actor_id = (SELECT id FROM users WHERE username = 'nina')").await, 1);
    assert_eq!(app.count("SELECT target_id FROM audit_log WHERE action = 'gallery.remove'").await, g);
    // The page cache let go of the gallery and the profile.
    assert_eq!(app.get_with(&visitor, &page).await.status, StatusCode::NOT_FOUND);
    let profile = app.get_with(&visitor, "/u/ava").await.text;
    assert!(!profile.contains(&page), "the profile lists the gallery no more");
    let first = app.count("SELECT MIN(id) FROM photos").await;
    assert!(profile.contains(&format!("/photos/{first}")), "but still shows its photos");
    // A second post for the same gallery finds nothing.
    assert_eq!(app.post_with(&nina, "/photos", &action, &[("reason", "Again")]).await.status, StatusCode::NOT_FOUND);

    // Staff may remove galleries too.
    let other = gallery(&app, &app.client, "Other").await;
    let gone = app.post_with(&sam, "/photos", &format!("/galleries/{other}/remove"), &[("reason", "Duplicate")]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.text);
    assert_eq!(app.count("SELECT COUNT(*) FROM galleries").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'gallery.remove'").await, 2);
}

/// The upload page's script asks for JSON: it is told where to go and gets
/// the flash cookie, instead of a redirect its request would follow unseen.
/// A refused upload still answers with the form and its errors.
async fn a_script_upload_is_told_where_to_go(b: Backend) {
    let app = with_member(b).await;
    let send = |files: Vec<(&'static str, Vec<u8>)>| {
        let app = &app;
        async move {
            let token = app.get("/photos/upload").await.csrf();
            let response = app
                .client
                .post(app.url("/photos/upload"))
                .header("accept", "application/json, text/html;q=0.9")
                .header("x-csrf-token", token)
                .multipart(form(&files, &[("title", "Red coat")]))
                .send()
                .await
                .unwrap();
            common::Page { status: response.status(), headers: response.headers().clone(), text: response.text().await.unwrap() }
        }
    };
    let done = send(vec![("coat.jpg", jpeg(120, 90, 4))]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.header("content-type").starts_with("application/json"));
    assert_eq!(done.location(), "", "no redirect to follow");
    let id = app.count("SELECT MAX(id) FROM photos").await;
    let answer: serde_json::Value = serde_json::from_str(&done.text).unwrap();
    assert_eq!(answer["location"], format!("/photos/{id}"));
    let photo = app.get(&format!("/photos/{id}")).await;
    assert!(photo.text.contains("Your photo is up."), "the flash shows on the page the script opens");

    let refused = send(vec![("notes.jpg", b"not a picture".to_vec())]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.header("content-type").starts_with("text/html"));
    assert!(refused.text.contains("class=\"stack photo-upload\"") && refused.text.contains("id=\"file-error\""), "the form with its error");
    assert!(refused.text.contains("value=\"Red coat\""), "the fields as sent");
    assert_eq!(app.count("SELECT COUNT(*) FROM photos").await, 1, "the refused upload stored nothing");
}

/// Uploads held in memory at once are bounded over every request: one that
/// would go past `upload_memory_bytes` is refused (429) and stores nothing,
/// and the room comes back when an upload is done.
async fn uploads_past_the_memory_budget_are_asked_to_wait(b: Backend) {
    let app = TestApp::with(b).config(|c| c.photos.upload_memory_bytes = 256 * 1024).spawn().await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    let token = app.get("/photos/upload").await.csrf();
    let send = |bytes: Vec<u8>| {
        let form = form(&[("look.jpg", bytes)], &[]).text("csrf_token", token.clone());
        let request = app.client.post(app.url("/photos/upload")).multipart(form);
        async move { request.send().await.unwrap().status() }
    };
    let mut big = jpeg(16, 16, 1);
    big.resize(300 * 1024, 0);
    assert_eq!(send(big).await, StatusCode::TOO_MANY_REQUESTS);
    nothing_stored(&app, "past the budget").await;
    let all = 256;
    assert_eq!(app.state.upload_memory.available_permits(), all, "a refused upload gives its room back");
    assert_eq!(send(jpeg(64, 48, 2)).await, StatusCode::SEE_OTHER, "a small upload fits");
    assert_eq!(app.state.upload_memory.available_permits(), all, "a finished upload gives its room back");
}
