//! Staff manage the forums themselves: create, rename, describe and
//! reorder categories and forums, and set who may see and post in each.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use minijinja::{context, Value};
use serde::Deserialize;

use super::store::{self, Visibility};
use super::write;
use super::{slugify, FieldErrors, RESERVED_SLUGS};
use crate::accounts::store::{audit, User};
use crate::app::AppState;
use crate::db::is_unique_violation;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;

const MANAGE: &str = "/forums/manage";

fn staff_only(user: &User) -> AppResult<()> {
    if user.is_staff() { Ok(()) } else { Err(AppError::forbidden("Only staff can manage the forums.")) }
}

/// The page, with `failed` naming the form that failed ("category-new",
/// "forum-7", ...) so its values and errors show there.
async fn render(state: &AppState, page: Page, status: StatusCode, failed: &str, form: Value, errors: FieldErrors) -> AppResult<Response> {
    let forums = store::forums(&state.db).await?;
    let categories: Vec<_> = store::categories(&state.db)
        .await?
        .into_iter()
        .map(|c| {
            let own: Vec<_> = forums
                .iter()
                .filter(|f| f.category_id == c.id)
                .map(|f| {
                    context! {
                        id => f.id, category => f.category_id, name => f.name.clone(), slug => f.slug.clone(),
                        description => f.description.clone(), position => f.position, visibility => f.visibility.as_str(),
                        topic_count => f.topic_count,
                    }
                })
                .collect();
            context! { id => c.id, name => c.name, slug => c.slug, description => c.description, position => c.position, forums => own }
        })
        .collect();
    let visibilities = [
        ("public", "Public: members read and post"),
        ("readonly", "Read-only: members read, the team posts"),
        ("staff", "Team only: hidden from members"),
    ];
    page.with_csrf().render_status(
        status,
        "forums/manage.html",
        context! { categories => categories, visibilities => visibilities, failed => failed, form => form, errors => errors },
    )
}

pub async fn page(State(state): State<AppState>, Member(me): Member, page: Page) -> AppResult<Response> {
    staff_only(&me.user)?;
    render(&state, page, StatusCode::OK, "", context! {}, FieldErrors::new()).await
}

/// What categories and forums have in common, as posted.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct Common {
    /// Empty to create; the row's id to change it.
    id: String,
    name: String,
    slug: String,
    description: String,
    position: String,
}

struct Clean {
    id: Option<i64>,
    name: String,
    slug: String,
    description: String,
    position: i64,
}

impl Clean {
    fn named(&self) -> write::Named<'_> {
        write::Named { name: &self.name, slug: &self.slug, description: &self.description, position: self.position }
    }
}

impl Common {
    fn check(&self, errors: &mut FieldErrors) -> AppResult<Clean> {
        let id = match self.id.trim() {
            "" => None,
            id => Some(id.parse::<i64>().map_err(|_| AppError::NotFound)?),
        };
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            errors.insert("name", "Give it a name of up to 100 characters.".into());
        }
        let slug = match self.slug.trim() {
            "" => slugify(&name, 100),
            s => s.to_ascii_lowercase(),
        };
        let well_formed = slug.len() <= 100 && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed || slug.starts_with('-') || slug.ends_with('-') {
            errors.insert("slug", "Use lower-case letters, digits and hyphens, as in style-advice.".into());
        } else if RESERVED_SLUGS.contains(&slug.as_str()) {
            errors.insert("slug", "That address is used by the forums themselves. Please choose another.".into());
        }
        let description = self.description.trim().to_string();
        if description.chars().count() > 1000 {
            errors.insert("description", "Keep the description under 1,000 characters.".into());
        }
        let position = match self.position.trim() {
            "" => 0,
            p => p.parse::<i64>().unwrap_or_else(|_| {
                errors.insert("position", "The position is a whole number, such as 10.".into());
                0
            }),
        };
        Ok(Clean { id, name, slug, description, position })
    }

    fn key(&self, kind: &str) -> String {
        match self.id.trim() {
            "" => format!("{kind}-new"),
            id => format!("{kind}-{id}"),
        }
    }

    fn values(&self) -> Value {
        context! { name => self.name, slug => self.slug, description => self.description, position => self.position }
    }
}

/// Finishes a save: a duplicate slug becomes a field error, a missing row a 404.
async fn finish(
    state: &AppState,
    page: Page,
    me: &User,
    (key, values): (String, Value),
    outcome: Result<Option<i64>, sqlx::Error>,
    kind: &str,
    name: &str,
) -> AppResult<Response> {
    let id = match outcome {
        Ok(Some(id)) => id,
        Ok(None) => return Err(AppError::NotFound),
        Err(e) if is_unique_violation(&e) => {
            let errors = FieldErrors::from([("slug", "Another one already has that address.".to_string())]);
            return render(state, page, StatusCode::UNPROCESSABLE_ENTITY, &key, values, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    // The forums' structure shows on every forum page and in navigation.
    crate::pagecache::tags::touch(state, &[crate::pagecache::tags::SITE]).await;
    audit(&state.db, me.id, &format!("forum.{kind}.save"), kind, id, name).await?;
    Ok(redirect_with_flash(state, MANAGE, "success", &format!("{name} is saved.")))
}

pub async fn save_category(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<Common>) -> AppResult<Response> {
    staff_only(&me.user)?;
    let mut errors = FieldErrors::new();
    let c = form.check(&mut errors)?;
    if !errors.is_empty() {
        return render(&state, page, StatusCode::UNPROCESSABLE_ENTITY, &form.key("category"), form.values(), errors).await;
    }
    let outcome = write::save_category(&state.db, c.id, &c.named()).await;
    finish(&state, page, &me.user, (form.key("category"), form.values()), outcome, "category", &c.name).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ForumForm {
    #[serde(flatten)]
    common: Common,
    category: String,
    visibility: String,
}

pub async fn save_forum(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<ForumForm>) -> AppResult<Response> {
    staff_only(&me.user)?;
    let mut errors = FieldErrors::new();
    let c = form.common.check(&mut errors)?;
    let category = match form.category.trim().parse::<i64>() {
        Ok(id) => store::category_by_id(&state.db, id).await?,
        Err(_) => None,
    };
    if category.is_none() {
        errors.insert("category", "Choose a category.".into());
    }
    let visibility = Visibility::parse(form.visibility.trim());
    if visibility.is_none() {
        errors.insert("visibility", "Choose who can see and post in this forum.".into());
    }
    let key = form.common.key("forum");
    let values = context! { category => form.category, visibility => form.visibility, ..form.common.values() };
    let (Some(category), Some(visibility), true) = (category, visibility, errors.is_empty()) else {
        return render(&state, page, StatusCode::UNPROCESSABLE_ENTITY, &key, values, errors).await;
    };
    let outcome = write::save_forum(&state.db, c.id, category.id, visibility, &c.named()).await;
    finish(&state, page, &me.user, (key, values), outcome, "forum", &c.name).await
}
