//! Accounts through the real router: sign-up, confirmation, log-in,
//! log-out, password reset, sessions, and every bad input refused.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    signup_confirm_and_login,
    duplicates_in_other_letter_case_are_refused,
    bad_signups_change_nothing,
    wrong_password_and_unknown_member_read_the_same,
    missing_or_wrong_csrf_token_is_refused,
    cross_site_origin_is_refused,
    next_only_goes_to_this_site,
    password_reset_is_single_use,
    expired_reset_token_is_refused,
    reset_never_reveals_membership,
    login_is_rate_limited,
    deactivated_member_is_logged_out_at_once,
    session_rotates_and_logout_ends_it,
    change_password_ends_other_sessions,
    log_out_everywhere,
    change_email_needs_confirmation,
    delete_account,
    private_pages_are_never_stored,
);

async fn signup_confirm_and_login(b: Backend) {
    let app = TestApp::spawn(b).await;
    let page = app.post("/accounts/signup", "/accounts/signup", &[("username", "Ava_Martin"), ("email", "Ava@Example.com"), ("password", PW)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Ava@Example.com"));
    assert_eq!(app.count("SELECT value FROM counters WHERE name = 'members'").await, 1);

    // Not confirmed yet: log-in is refused and a new link is sent.
    let refused = app.login("ava_martin", PW).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text.contains("confirm"));
    assert_eq!(app.outbox().await.len(), 2);

    let link = app.last_link().await;
    assert!(link.starts_with("/accounts/confirm/"), "{link}");
    let confirmed = app.get(&link).await;
    assert_eq!(confirmed.status, StatusCode::OK);
    // The link works once.
    assert_eq!(app.get(&link).await.status, StatusCode::BAD_REQUEST);

    // Log in by email, in any letter case.
    let ok = app.login("AVA@example.COM", PW).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    assert_eq!(ok.location(), "/");
    let cookie = ok.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).find(|c| c.starts_with("coterie_session=")).unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let home = app.get("/").await;
    assert!(home.text.contains("/u/Ava_Martin"), "the header links to the member's profile");
}

async fn duplicates_in_other_letter_case_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    let same_name = app.post("/accounts/signup", "/accounts/signup", &[("username", "AVA"), ("email", "other@example.com"), ("password", PW)]).await;
    assert_eq!(same_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(same_name.text.contains("taken"), "{}", same_name.text);
    let same_email = app.post("/accounts/signup", "/accounts/signup", &[("username", "ava2"), ("email", "AVA@EXAMPLE.COM"), ("password", PW)]).await;
    assert_eq!(same_email.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(same_email.text.contains("already exists"));
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    // The unique index holds even if the check is bypassed.
    let hash = "x".to_string();
    let direct = coterie::accounts::store::create(
        &app.state.db,
        coterie::accounts::store::NewUser { username: "Ava", email: "new@example.com", password_hash: hash, role: "member", email_confirmed: true, avatar_mode: "gravatar" },
    )
    .await;
    assert!(coterie::db::is_unique_violation(&direct.unwrap_err()));
    assert_eq!(app.count("SELECT value FROM counters WHERE name = 'members'").await, 1);
}

async fn bad_signups_change_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let cases: &[(&str, &str, &str, &str)] = &[
        ("admin", "a@example.com", PW, "reserved"),
        ("static", "a@example.com", PW, "reserved"),
        ("a", "a@example.com", PW, "3 to 30"),
        ("has space", "a@example.com", PW, "letters, digits"),
        ("<script>", "a@example.com", PW, "letters, digits"),
        ("zoe", "not-an-email", PW, "email address"),
        ("zoe", "z@example.com", "short", "at least 10"),
        ("zoe", "z@example.com", "password123", "too common"),
        ("zoe_walker", "z@example.com", "zoe_walker2026", "username"),
    ];
    for (username, email, password, message) in cases {
        let page = app.post("/accounts/signup", "/accounts/signup", &[("username", username), ("email", email), ("password", password)]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{username}");
        assert!(page.text.contains(message), "{username}: expected {message:?}");
        assert!(!page.text.contains(password) || password.len() < 6, "the password is never echoed back");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    assert!(app.outbox().await.is_empty());
}

async fn wrong_password_and_unknown_member_read_the_same(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    let wrong = app.login("ava", "not-the-password-at-all").await;
    let unknown = app.login("nobody", PW).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text.contains("do not match") && unknown.text.contains("do not match"));
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
}

async fn missing_or_wrong_csrf_token_is_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.get("/accounts/signup").await; // gets the visitor's CSRF cookie
    let fields = [("username", "zoe"), ("email", "z@example.com"), ("password", PW)];
    let missing = app.post_raw(&app.client, "/accounts/signup", &fields).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.text.contains("expired"), "a friendly page explains");
    let mut wrong = vec![("csrf_token", "forged")];
    wrong.extend_from_slice(&fields);
    assert_eq!(app.post_raw(&app.client, "/accounts/signup", &wrong).await.status, StatusCode::FORBIDDEN);
    // A token from another visitor does not work either.
    let other = common::client();
    let token = app.get_with(&other, "/accounts/signup").await.csrf();
    let mut stolen = vec![("csrf_token", token.as_str())];
    stolen.extend_from_slice(&fields);
    assert_eq!(app.post_raw(&app.client, "/accounts/signup", &stolen).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);

    // Logged in, the token is bound to the session.
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    let logout = app.post_raw(&app.client, "/accounts/logout", &[]).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1);
}

async fn cross_site_origin_is_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let token = app.get("/accounts/signup").await.csrf();
    let response = app
        .client
        .post(app.url("/accounts/signup"))
        .header("origin", "https://evil.example")
        .form(&[("csrf_token", token.as_str()), ("username", "zoe"), ("email", "z@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

async fn next_only_goes_to_this_site(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    for (next, expected) in [("https://evil.example/x", "/"), ("//evil.example", "/"), ("/\\evil.example", "/"), ("/members?page=2", "/members?page=2")] {
        let client = common::client();
        let page = app.post_with(&client, "/accounts/login", "/accounts/login", &[("login", "ava"), ("password", PW), ("next", next)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(page.location(), expected, "next={next}");
    }
    // A page that needs a member sends visitors to log in and back.
    let settings = app.get("/accounts/settings").await;
    assert_eq!(settings.status, StatusCode::SEE_OTHER);
    assert_eq!(settings.location(), "/accounts/login?next=%2Faccounts%2Fsettings");
}

async fn password_reset_is_single_use(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    let other_device = common::client();
    app.login_with(&other_device, "ava", PW).await;
    let sent = app.post("/accounts/password/reset", "/accounts/password/reset", &[("email", "AVA@example.com")]).await;
    assert_eq!(sent.status, StatusCode::OK);
    let link = app.last_link().await;
    assert!(link.starts_with("/accounts/password/reset/"), "{link}");
    let form = app.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    // A weak password is refused and does not use the link up.
    let weak = app.post(&link, &link, &[("password", "password")]).await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let new_pw = "copper-meadow-violin-27";
    let done = app.post(&link, &link, &[("password", new_pw)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), "/accounts/login");
    // Reused: refused, and the password stays the new one.
    let again = app.get(&link).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let token = app.get("/accounts/password/reset").await.csrf();
    let replay = app.post_raw(&app.client, &link, &[("csrf_token", &token), ("password", "another-long-phrase-55")]).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.login("ava", PW).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.login("ava", new_pw).await.status, StatusCode::SEE_OTHER);
    // Sessions from before the reset are over.
    assert_eq!(app.get_with(&other_device, "/accounts/settings").await.status, StatusCode::SEE_OTHER);
}

async fn expired_reset_token_is_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let id = app.member("ava", PW, "member").await;
    let token = coterie::accounts::tokens::issue(&app.state.db, id, coterie::accounts::tokens::Purpose::Reset, "", 1).await.unwrap();
    app.state.db.query("UPDATE account_tokens SET expires_at = 1").execute(app.state.db.w()).await.unwrap();
    let link = format!("/accounts/password/reset/{token}");
    let page = app.get(&link).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let token = app.get("/accounts/password/reset").await.csrf();
    let post = app.post_raw(&app.client, &link, &[("csrf_token", &token), ("password", "copper-meadow-violin-27")]).await;
    assert_eq!(post.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.login("ava", PW).await.status, StatusCode::SEE_OTHER);
}

async fn reset_never_reveals_membership(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    let known = app.post("/accounts/password/reset", "/accounts/password/reset", &[("email", "ava@example.com")]).await;
    let unknown = app.post("/accounts/password/reset", "/accounts/password/reset", &[("email", "nobody@example.com")]).await;
    assert_eq!(known.status, unknown.status);
    let strip = |t: &str| t.lines().filter(|l| !l.contains("csrf")).collect::<String>();
    assert_eq!(strip(&known.text), strip(&unknown.text));
    assert_eq!(app.outbox().await.len(), 1);
}

async fn login_is_rate_limited(b: Backend) {
    let app = TestApp::with(b).config(|c| c.rate_limits.login_per_account = 3).spawn().await;
    app.member("ava", PW, "member").await;
    for _ in 0..3 {
        assert_eq!(app.login("ava", "wrong-password-here").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let limited = app.login("ava", PW).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!limited.header("retry-after").is_empty());
    assert!(limited.text.contains("too many times"));
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
}

async fn deactivated_member_is_logged_out_at_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("studio_admin", PW, "staff").await;
    app.member("ava", PW, "member").await;
    let ava = common::client();
    app.login_with(&ava, "ava", PW).await;
    assert_eq!(app.get_with(&ava, "/accounts/settings").await.status, StatusCode::OK);

    // A member cannot deactivate anyone.
    let attempt = app.post_with(&ava, "/accounts/settings", "/u/studio_admin/deactivate", &[("active", "0")]).await;
    assert_eq!(attempt.status, StatusCode::FORBIDDEN);

    app.login("studio_admin", PW).await;
    let done = app.post("/u/ava", "/u/ava/deactivate", &[("active", "0")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get_with(&ava, "/accounts/settings").await.status, StatusCode::SEE_OTHER);
    let again = app.login_with(&ava, "ava", PW).await;
    assert!(again.text.contains("deactivated"));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'member.deactivate'").await, 1);
    // Visitors no longer see the profile; staff do.
    assert_eq!(app.get_with(&common::client(), "/u/ava").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/u/ava").await.status, StatusCode::OK);
}

async fn session_rotates_and_logout_ends_it(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    let session_cookie = |p: &common::Page| {
        p.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).find(|c| c.starts_with("coterie_session=")).unwrap()
    };
    let first = session_cookie(&app.login("ava", PW).await);
    // Logging in again while logged in replaces the session with a new id.
    let second = app.post("/accounts/settings", "/accounts/login", &[("login", "ava"), ("password", PW)]).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert_ne!(session_cookie(&second), first);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1);
    let out = app.post("/accounts/settings", "/accounts/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    assert!(!first.is_empty());
    // Replaying the old cookie gets nothing.
    let token = first.split(';').next().unwrap().to_string();
    let replay = app.client.get(app.url("/accounts/settings")).header("cookie", token).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
}

async fn change_password_ends_other_sessions(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    let phone = common::client();
    app.login_with(&phone, "ava", PW).await;
    app.login("ava", PW).await;
    let wrong = app.post("/accounts/settings", "/accounts/settings/password", &[("current_password", "nope-nope-nope"), ("password", "copper-meadow-violin-27")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app.post("/accounts/settings", "/accounts/settings/password", &[("current_password", PW), ("password", "copper-meadow-violin-27")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/accounts/settings").await.status, StatusCode::OK, "this session stays");
    assert_eq!(app.get_with(&phone, "/accounts/settings").await.status, StatusCode::SEE_OTHER, "the other one ends");
}

async fn log_out_everywhere(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    let phone = common::client();
    app.login_with(&phone, "ava", PW).await;
    app.login("ava", PW).await;
    let page = app.get("/accounts/settings").await;
    assert!(page.text.contains('2'), "shows the two sessions");
    app.post("/accounts/settings", "/accounts/settings/sessions", &[]).await;
    assert_eq!(app.get_with(&phone, "/accounts/settings").await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/accounts/settings").await.status, StatusCode::OK);
}

async fn change_email_needs_confirmation(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    app.member("zoe", PW, "member").await;
    app.login("ava", PW).await;
    let taken = app.post("/accounts/settings", "/accounts/settings/email", &[("email", "ZOE@example.com"), ("password", PW)]).await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_pw = app.post("/accounts/settings", "/accounts/settings/email", &[("email", "ava@new.example"), ("password", "wrong")]).await;
    assert_eq!(bad_pw.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app.post("/accounts/settings", "/accounts/settings/email", &[("email", "ava@new.example"), ("password", PW)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert!(app.outbox().await.last().unwrap().contains("ava@new.example"));
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email_key = 'ava@example.com'").await, 1, "unchanged until confirmed");
    let link = app.last_link().await;
    assert_eq!(app.get(&link).await.status, StatusCode::OK);
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email_key = 'ava@new.example'").await, 1);
}

async fn delete_account(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    let wrong = app.post("/accounts/settings", "/accounts/delete", &[("password", "wrong")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    let gone = app.post("/accounts/settings", "/accounts/delete", &[("password", PW)]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(app.count("SELECT value FROM counters WHERE name = 'members'").await, 0);
    assert_eq!(app.get("/u/ava").await.status, StatusCode::NOT_FOUND);
}

/// Every page that depends on the logged-in member says `no-store`.
async fn private_pages_are_never_stored(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    for path in ["/", "/members", "/u/ava", "/accounts/settings", "/accounts/login", "/accounts/signup", "/accounts/password/reset"] {
        let page = app.get(path).await;
        let cache = page.header("cache-control");
        assert!(
            page.status == StatusCode::SEE_OTHER || cache.contains("no-store"),
            "{path}: {} {cache}",
            page.status
        );
    }
}
