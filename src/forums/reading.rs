//! A member's own forum state: "mark all read", and their forum settings
//! (signature, subscribing to topics they post in).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::{store, write, FieldErrors, MAX_SIGNATURE};
use crate::app::AppState;
use crate::web::error::AppResult;
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;

pub async fn mark_all_read(State(state): State<AppState>, Member(me): Member) -> AppResult<Response> {
    write::mark_all_read(&state.db, me.user.id, crate::db::now()).await?;
    Ok(redirect_with_flash(&state, "/forums", "success", "Everything is marked as read."))
}

pub async fn settings_page(State(state): State<AppState>, Member(me): Member, page: Page) -> AppResult<Response> {
    let member = store::forum_member(&state.db, me.user.id).await?;
    let form = context! { signature => member.signature, auto_subscribe => member.auto_subscribe };
    render(page, StatusCode::OK, form, FieldErrors::new())
}

fn render(page: Page, status: StatusCode, form: minijinja::Value, errors: FieldErrors) -> AppResult<Response> {
    page.with_csrf().render_status(status, "forums/settings.html", context! { form => form, errors => errors, max_signature => MAX_SIGNATURE })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SettingsForm {
    signature: String,
    /// A checkbox: present when ticked.
    auto_subscribe: Option<String>,
}

pub async fn save_settings(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<SettingsForm>) -> AppResult<Response> {
    let auto_subscribe = form.auto_subscribe.is_some();
    let length = form.signature.chars().count();
    if length > MAX_SIGNATURE {
        let errors = FieldErrors::from([("signature", format!("Keep your signature under {MAX_SIGNATURE} characters; it has {length}."))]);
        let values = context! { signature => form.signature, auto_subscribe => auto_subscribe };
        return render(page, StatusCode::UNPROCESSABLE_ENTITY, values, errors);
    }
    write::save_member_settings(&state.db, me.user.id, form.signature.trim(), auto_subscribe).await?;
    // The signature is on every post of theirs.
    crate::pagecache::tags::touch(&state, &[crate::pagecache::tags::user(me.user.id)]).await;
    Ok(redirect_with_flash(&state, "/forums/settings", "success", "Your forum settings are saved."))
}
