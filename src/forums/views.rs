//! The reading pages: the forum index, a forum's topic list, a topic's
//! posts, and the links into a topic (permalink, first unread).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::store::{self, Cursor, Forum, PostWithAuthor, Topic, TopicOrder, TopicSummary, Visibility};
use super::{can_post, can_see, page_of, FieldErrors, parse_id, parse_topic_param, topic_page_path, visible_topic, when, write};
use super::{MAX_STICKY, POSTS_PER_PAGE, TOPICS_PER_PAGE, UNREAD_DAYS};
use crate::accounts::store::{Avatar, User};
use crate::app::AppState;
use crate::config::Config;
use crate::web::error::{AppError, AppResult};
use crate::pagecache::tags;
use crate::web::page::Page;

/// A member as the forums show them: name, avatar, badges.
#[derive(Serialize)]
pub struct MemberView {
    /// None for an account that was deleted.
    pub username: Option<String>,
    pub name: String,
    pub avatar: Avatar,
    pub joined: i64,
    pub is_staff: bool,
    pub is_moderator: bool,
}

impl MemberView {
    pub fn of(user: Option<&User>, config: &Config) -> MemberView {
        match user {
            Some(u) => MemberView {
                username: Some(u.username.clone()),
                name: u.name().to_string(),
                avatar: u.avatar(config),
                joined: u.created_at,
                is_staff: u.is_staff(),
                is_moderator: u.is_moderator(),
            },
            None => {
                let url = "/static/img/avatar.svg".to_string();
                MemberView {
                    username: None,
                    name: "Former member".into(),
                    avatar: Avatar { small: url.clone(), medium: url.clone(), large: url, uploaded: false },
                    joined: 0,
                    is_staff: false,
                    is_moderator: false,
                }
            }
        }
    }
}

/// Previous and next links, and page numbers where pages are numbered.
#[derive(Serialize, Default)]
pub struct Pager {
    pub prev: Option<String>,
    pub next: Option<String>,
    /// Page numbers with their links; None is a gap ("…").
    pub items: Vec<Option<(i64, String, bool)>>,
}

impl Pager {
    /// Numbered pages around `page` of `pages`, first and last always shown.
    fn numbered(page: i64, pages: i64, url: impl Fn(i64) -> String) -> Pager {
        let mut items = Vec::new();
        let mut last_shown = 0;
        for n in 1..=pages {
            if n == 1 || n == pages || (n - page).abs() <= 2 {
                if n > last_shown + 1 {
                    items.push(None);
                }
                items.push(Some((n, url(n), n == page)));
                last_shown = n;
            }
        }
        Pager {
            prev: (page > 1).then(|| url(page - 1)),
            next: (page < pages).then(|| url(page + 1)),
            items: if pages > 1 { items } else { Vec::new() },
        }
    }
}

/// The viewer's unread horizon: posts before it count as read.
async fn unread_since(state: &AppState, user: &User) -> AppResult<i64> {
    let member = store::forum_member(&state.db, user.id).await?;
    Ok(member.read_all_at.max(crate::db::now() - UNREAD_DAYS * 86_400))
}

#[derive(Serialize)]
struct ForumCard {
    name: String,
    slug: String,
    description: String,
    visibility: &'static str,
    topic_count: i64,
    post_count: i64,
    unread: bool,
    last: Option<LastPost>,
}

#[derive(Serialize)]
struct LastPost {
    url: String,
    at: i64,
    when: String,
    topic_title: String,
    poster: MemberView,
}

pub async fn index(State(state): State<AppState>, page: Page) -> AppResult<Response> {
    let viewer = page.session.as_ref().map(|s| s.user.clone());
    let unread = match &viewer {
        Some(user) => store::forums_with_unread(&state.db, user.id, unread_since(&state, user).await?).await?,
        None => Vec::new(),
    };
    let summaries = store::forum_summaries(&state.db).await?;
    let mut categories = Vec::new();
    for category in store::categories(&state.db).await? {
        let forums: Vec<ForumCard> = summaries
            .iter()
            .filter(|s| s.forum.category_id == category.id && can_see(&s.forum, viewer.as_ref()))
            .map(|s| ForumCard {
                name: s.forum.name.clone(),
                slug: s.forum.slug.clone(),
                description: s.forum.description.clone(),
                visibility: s.forum.visibility.as_str(),
                topic_count: s.forum.topic_count,
                post_count: s.forum.post_count,
                unread: unread.contains(&s.forum.id),
                last: match (s.forum.last_post_id, s.forum.last_post_at) {
                    (Some(post), Some(at)) => Some(LastPost {
                        url: format!("/forums/p/{post}"),
                        at,
                        when: when(at),
                        topic_title: s.last_topic_title.clone().unwrap_or_default(),
                        poster: MemberView::of(s.last_poster.as_ref(), &state.config),
                    }),
                    _ => None,
                },
            })
            .collect();
        if !forums.is_empty() {
            categories.push(context! { name => category.name, slug => category.slug, description => category.description, forums => forums });
        }
    }
    let posters = summaries.iter().filter_map(|s| s.last_poster.as_ref().map(|u| tags::user(u.id)));
    let page = if viewer.is_some() { page.with_csrf() } else { page.tagged(posters).tagged([tags::FORUMS.to_string()]) };
    page.render("forums/index.html", context! { categories => categories })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    after: Option<String>,
    before: Option<String>,
    /// Absent for the latest activity, `top` for the highest scores.
    sort: Option<String>,
}

/// `"{key}.{id}"`, as the topic list's links carry it. A time key is never
/// negative; a score key may be.
fn parse_cursor(s: &str, order: TopicOrder) -> AppResult<(i64, i64)> {
    let (key, id) = s.split_once('.').ok_or(AppError::NotFound)?;
    let plain = key.strip_prefix('-').filter(|_| order == TopicOrder::Top).unwrap_or(key);
    if plain.is_empty() || !plain.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::NotFound);
    }
    let key = key.parse::<i64>().map_err(|_| AppError::NotFound)?;
    Ok((key, parse_id(id)?))
}

fn cursor_of(t: &Topic, order: TopicOrder) -> String {
    match order {
        TopicOrder::Latest => format!("{}.{}", t.last_post_at, t.id),
        TopicOrder::Top => format!("{}.{}", t.score, t.id),
    }
}

#[derive(Serialize)]
struct TopicRow {
    title: String,
    url: String,
    sticky: bool,
    locked: bool,
    replies: i64,
    views: i64,
    score: i64,
    started: i64,
    started_when: String,
    author: MemberView,
    last_url: String,
    last_at: i64,
    last_when: String,
    last_poster: MemberView,
    unread: bool,
    unread_url: String,
    last_page_url: Option<String>,
    pages: i64,
}

fn topic_row(state: &AppState, s: &TopicSummary, member: bool, since: i64) -> TopicRow {
    let t = &s.topic;
    let pages = page_of(t.last_number);
    TopicRow {
        title: t.title.clone(),
        url: t.path(),
        sticky: t.sticky,
        locked: t.locked,
        replies: t.reply_count,
        views: t.view_count,
        score: t.score,
        started: t.created_at,
        started_when: when(t.created_at),
        author: MemberView::of(s.author.as_ref(), &state.config),
        last_url: t.last_post_id.map(|p| format!("/forums/p/{p}")).unwrap_or_else(|| t.path()),
        last_at: t.last_post_at,
        last_when: when(t.last_post_at),
        last_poster: MemberView::of(s.last_poster.as_ref(), &state.config),
        unread: member && t.last_post_at > since && s.read_number.unwrap_or(0) < t.last_number,
        unread_url: format!("/forums/t/{}/unread", t.id),
        last_page_url: (pages > 1).then(|| topic_page_path(t, pages, None)),
        pages,
    }
}

pub async fn forum(State(state): State<AppState>, page: Page, Path(slug): Path<String>, Query(q): Query<ListQuery>) -> AppResult<Response> {
    let viewer = page.session.as_ref().map(|s| s.user.clone());
    let forum = store::forum_by_slug(&state.db, &slug).await?.filter(|f| can_see(f, viewer.as_ref())).ok_or(AppError::NotFound)?;
    let order = match q.sort.as_deref() {
        None => TopicOrder::Latest,
        Some("top") => TopicOrder::Top,
        Some(_) => return Err(AppError::NotFound),
    };
    let cursor = match (q.after.as_deref(), q.before.as_deref()) {
        (None, None) => Cursor::First,
        (Some(a), None) => {
            let (key, id) = parse_cursor(a, order)?;
            Cursor::After(key, id)
        }
        (None, Some(b)) => {
            let (key, id) = parse_cursor(b, order)?;
            Cursor::Before(key, id)
        }
        (Some(_), Some(_)) => return Err(AppError::NotFound),
    };
    let viewer_id = viewer.as_ref().map_or(0, |u| u.id);
    let since = match &viewer {
        Some(user) => unread_since(&state, user).await?,
        None => i64::MAX,
    };
    let mut topics = store::topics(&state.db, forum.id, viewer_id, order, cursor, TOPICS_PER_PAGE + 1).await?;
    // The list's own address, which its pager links keep.
    let base = match order {
        TopicOrder::Latest => format!("/forums/{}", forum.slug),
        TopicOrder::Top => format!("/forums/{}?sort=top", forum.slug),
    };
    let join = if order == TopicOrder::Top { '&' } else { '?' };
    let link = |dir: &str, t: &Topic| format!("{base}{join}{dir}={}", cursor_of(t, order));
    let more = topics.len() as i64 > TOPICS_PER_PAGE;
    let pager = match cursor {
        Cursor::First => {
            topics.truncate(TOPICS_PER_PAGE as usize);
            Pager { next: more.then(|| link("after", &topics[topics.len() - 1].topic)), ..Pager::default() }
        }
        Cursor::After(..) => {
            if topics.is_empty() {
                return Err(AppError::NotFound);
            }
            topics.truncate(TOPICS_PER_PAGE as usize);
            Pager {
                prev: Some(link("before", &topics[0].topic)),
                next: more.then(|| link("after", &topics[topics.len() - 1].topic)),
                ..Pager::default()
            }
        }
        Cursor::Before(..) => {
            // Fewer than a page before the cursor: that is the first page.
            if !more {
                return Ok(Redirect::to(&base).into_response());
            }
            topics.remove(0);
            Pager {
                prev: Some(link("before", &topics[0].topic)),
                next: Some(link("after", &topics[topics.len() - 1].topic)),
                ..Pager::default()
            }
        }
    };
    let stickies = match (order, cursor) {
        (TopicOrder::Latest, Cursor::First) => store::sticky_topics(&state.db, forum.id, viewer_id, MAX_STICKY).await?,
        _ => Vec::new(),
    };
    let member = viewer.is_some();
    let rows = |list: &[TopicSummary]| list.iter().map(|s| topic_row(&state, s, member, since)).collect::<Vec<_>>();
    let may_post = viewer.as_ref().is_some_and(|u| can_post(&forum, u));
    let first_page = cursor == Cursor::First;
    let page = if member {
        page.with_csrf()
    } else {
        let people = stickies.iter().chain(&topics).flat_map(|s| [&s.author, &s.last_poster]).flatten().map(|u| tags::user(u.id));
        // Each topic's own tag too: a vote on its opening post moves its score.
        let shown = stickies.iter().chain(&topics).map(|s| tags::topic(s.topic.id));
        page.tagged(people).tagged(shown).tagged([tags::forum(forum.id)])
    };
    page.render(
        "forums/forum.html",
        context! {
            forum => forum_context(&forum), stickies => rows(&stickies), topics => rows(&topics),
            pager => pager, may_post => may_post, first_page => first_page,
            sort => if order == TopicOrder::Top { "top" } else { "latest" },
        },
    )
}

fn forum_context(forum: &Forum) -> minijinja::Value {
    context! {
        id => forum.id, name => forum.name.clone(), slug => forum.slug.clone(), description => forum.description.clone(),
        visibility => forum.visibility.as_str(), url => format!("/forums/{}", forum.slug),
        topic_count => forum.topic_count, post_count => forum.post_count,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TopicQuery {
    page: Option<String>,
    quote: Option<String>,
}

/// A page number from the query: absent is 1; anything but 1..=pages is a 404.
fn page_number(raw: Option<&str>, pages: i64) -> AppResult<i64> {
    match raw {
        None => Ok(1),
        Some(n) => parse_id(n).ok().filter(|n| *n <= pages).ok_or(AppError::NotFound),
    }
}

pub async fn topic(State(state): State<AppState>, page: Page, Path(param): Path<String>, Query(q): Query<TopicQuery>) -> AppResult<Response> {
    let (id, slug) = parse_topic_param(&param)?;
    let viewer = page.session.as_ref().map(|s| s.user.clone());
    let (mut topic, forum) = visible_topic(&state, id, viewer.as_ref()).await?;
    let number = page_number(q.page.as_deref(), page_of(topic.last_number))?;
    if slug.is_some_and(|s| s != topic.slug) {
        return Ok(Redirect::permanent(&topic_page_path(&topic, number, None)).into_response());
    }
    state.views.count("forum_topics", topic.id);
    // Views not yet written show already, this one included.
    topic.view_count += state.views.pending("forum_topics", topic.id);
    let mut body = String::new();
    if let Some(user) = &viewer {
        let last_shown = (number * POSTS_PER_PAGE).min(topic.last_number);
        write::mark_read(&state.db, user.id, topic.id, last_shown).await?;
        if let Some(quoted) = q.quote.as_deref().and_then(|p| parse_id(p).ok()) {
            body = quoted_body(&state, &topic, quoted).await?;
        }
    }
    render_topic(&state, page, &topic, &forum, number, Draft { body, errors: FieldErrors::new() }, StatusCode::OK).await
}

/// The reply box's start when quoting: the quoted post as a blockquote, if
/// it is a live post of this topic.
async fn quoted_body(state: &AppState, topic: &Topic, post_id: i64) -> AppResult<String> {
    let Some(post) = store::post_by_id(&state.db, post_id).await?.filter(|p| p.topic_id == topic.id && !p.deleted) else {
        return Ok(String::new());
    };
    let author = match post.user_id {
        Some(id) => crate::accounts::store::by_id(&state.db, id).await?.map(|u| u.username),
        None => None,
    };
    Ok(super::quote(author.as_deref().unwrap_or("former member"), post.id, &post.body))
}

/// A reply being written: what the form shows.
pub struct Draft {
    pub body: String,
    pub errors: FieldErrors,
}

#[derive(Serialize)]
struct PostCard {
    id: i64,
    number: i64,
    url: String,
    deleted: bool,
    hidden: bool,
    body_html: String,
    created_at: i64,
    created_when: String,
    edited_when: Option<String>,
    edited_by: Option<String>,
    author: MemberView,
    author_posts: i64,
    signature_html: String,
    can_edit: bool,
    can_delete: bool,
    quote_url: Option<String>,
    /// Shown with a vote box: what votes::cast accepts (forums::VISIBLE).
    votable: bool,
    score: i64,
    my_vote: i64,
}

fn post_card(state: &AppState, p: &PostWithAuthor, topic: &Topic, forum: &Forum, viewer: Option<&User>, page: i64, my_vote: i64) -> PostCard {
    let post = &p.post;
    let mine = viewer.is_some_and(|v| Some(v.id) == post.user_id);
    let moderator = viewer.is_some_and(User::is_moderator);
    // A deactivated member's posts keep their place but not their words,
    // except for moderators.
    let hidden = !post.deleted && !moderator && p.author.as_ref().is_some_and(|a| !a.is_active);
    let live = !post.deleted && !hidden;
    PostCard {
        id: post.id,
        number: post.number,
        url: format!("/forums/p/{}", post.id),
        deleted: post.deleted,
        hidden,
        body_html: if live { post.body_html.clone() } else { String::new() },
        created_at: post.created_at,
        created_when: when(post.created_at),
        edited_when: post.edited_at.filter(|_| live).map(when),
        // Say who edited only when it was not the author.
        edited_by: p.editor.clone().filter(|_| post.edited_by != post.user_id),
        author: MemberView::of(p.author.as_ref(), &state.config),
        author_posts: p.author_posts,
        signature_html: if live { p.signature_html.clone() } else { String::new() },
        can_edit: live && (moderator || (mine && !topic.locked)),
        can_delete: live && (moderator || (mine && !topic.locked)),
        quote_url: (live && viewer.is_some()).then(|| {
            let page = if page > 1 { format!("page={page}&") } else { String::new() };
            format!("{}?{page}quote={}#reply", topic.path(), post.id)
        }),
        votable: !post.deleted && p.author.as_ref().is_some_and(|a| a.is_active) && forum.visibility != Visibility::Staff,
        score: post.score,
        my_vote,
    }
}

/// Page `number` of a topic with the reply form (holding `draft`).
pub async fn render_topic(state: &AppState, page: Page, topic: &Topic, forum: &Forum, number: i64, draft: Draft, status: StatusCode) -> AppResult<Response> {
    let viewer = page.session.as_ref().map(|s| s.user.clone());
    let from = (number - 1) * POSTS_PER_PAGE + 1;
    let posts = store::posts(&state.db, topic.id, from, from + POSTS_PER_PAGE - 1).await?;
    let votes: std::collections::HashMap<i64, i64> = match &viewer {
        Some(v) => {
            let kind = crate::content::kind("forum_post").expect("forum posts are a content kind");
            let ids: Vec<i64> = posts.iter().map(|p| p.post.id).collect();
            crate::votes::mine(state, kind, &ids, v.id).await?.into_iter().collect()
        }
        None => Default::default(),
    };
    let cards: Vec<_> = posts
        .iter()
        .map(|p| post_card(state, p, topic, forum, viewer.as_ref(), number, votes.get(&p.post.id).copied().unwrap_or(0)))
        .collect();
    let pages = page_of(topic.last_number);
    let pager = Pager::numbered(number, pages, |n| topic_page_path(topic, n, None));
    let moderator = viewer.as_ref().is_some_and(User::is_moderator);
    // Moderators move topics and split posts into any forum.
    let all_forums: Vec<_> = if moderator {
        store::forums(&state.db).await?.into_iter().map(|f| context! { id => f.id, name => f.name }).collect()
    } else {
        Vec::new()
    };
    let (subscribed, may_reply) = match &viewer {
        Some(user) => (
            store::is_subscribed(&state.db, user.id, topic.id).await?,
            can_post(forum, user) && (!topic.locked || user.is_moderator()),
        ),
        None => (false, false),
    };
    let page = if viewer.is_some() {
        page.with_csrf()
    } else {
        let authors = posts.iter().filter_map(|p| p.author.as_ref().map(|u| tags::user(u.id)));
        page.tagged(authors).tagged([tags::topic(topic.id)]).counting_view("forum_topics", topic.id)
    };
    page.render_status(
        status,
        "forums/topic.html",
        context! {
            forum => forum_context(forum),
            topic => context! {
                id => topic.id, title => topic.title.clone(), url => topic.path(), sticky => topic.sticky,
                locked => topic.locked, replies => topic.reply_count, views => topic.view_count,
                unread_url => format!("/forums/t/{}/unread", topic.id),
            },
            posts => cards, pager => pager, page_number => number, pages => pages,
            page_url => topic_page_path(topic, number, None),
            may_reply => may_reply, subscribed => subscribed, moderator => moderator, all_forums => all_forums,
            form => context! { body => draft.body }, errors => draft.errors,
            max_body => super::MAX_BODY,
        },
    )
}

/// `/forums/p/{id}`: the page holding the post, at the post.
pub async fn permalink(State(state): State<AppState>, page: Page, Path(param): Path<String>) -> AppResult<Response> {
    let post = store::post_by_id(&state.db, parse_id(&param)?).await?.ok_or(AppError::NotFound)?;
    let viewer = page.session.as_ref().map(|s| &s.user);
    let (topic, _) = visible_topic(&state, post.topic_id, viewer).await?;
    Ok(Redirect::to(&topic_page_path(&topic, page_of(post.number), Some(post.id))).into_response())
}

/// The first post the member has not read (visitors: the first post).
pub async fn first_unread(State(state): State<AppState>, page: Page, Path(param): Path<String>) -> AppResult<Response> {
    let viewer = page.session.as_ref().map(|s| &s.user);
    let (topic, _) = visible_topic(&state, parse_id(&param)?, viewer).await?;
    let read = match viewer {
        Some(user) => store::read_number(&state.db, user.id, topic.id).await?,
        None => 0,
    };
    let target = (read + 1).min(topic.last_number);
    let path = match store::post_from(&state.db, topic.id, target).await? {
        Some((post, number)) => topic_page_path(&topic, page_of(number), Some(post)),
        None => topic.path(),
    };
    Ok(Redirect::to(&path).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_pages_keep_ends_and_neighbours() {
        let p = Pager::numbered(6, 12, |n| n.to_string());
        let shown: Vec<_> = p.items.iter().map(|i| i.as_ref().map_or(0, |(n, _, _)| *n)).collect();
        assert_eq!(shown, [1, 0, 4, 5, 6, 7, 8, 0, 12]);
        assert_eq!(p.prev.as_deref(), Some("5"));
        assert!(Pager::numbered(1, 1, |n| n.to_string()).items.is_empty());
    }

    #[test]
    fn cursors_are_strict() {
        assert_eq!(parse_cursor("1700000000.42", TopicOrder::Latest).unwrap(), (1_700_000_000, 42));
        assert_eq!(parse_cursor("-3.42", TopicOrder::Top).unwrap(), (-3, 42));
        for bad in ["", "1", "a.b", "1.-2", "-1.2", "1.2.3", "+1.2", "--1.2"] {
            assert!(parse_cursor(bad, TopicOrder::Latest).is_err(), "{bad}");
        }
        for bad in ["", "1", "-.2", "1.-2", "+1.2", "--1.2", "1.2.3"] {
            assert!(parse_cursor(bad, TopicOrder::Top).is_err(), "{bad}");
        }
    }
}
