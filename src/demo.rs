//! Demo content: a believable sample community for a new, empty site.

use std::io::Cursor;

use anyhow::Context;
use image::{Rgb, RgbImage};

use crate::accounts::{password, store};
use crate::app::AppState;
use crate::forums::store::{self as forum_store, Visibility};
use crate::forums::write as forum_write;
use crate::profiles::avatar;

struct DemoMember {
    username: &'static str,
    display_name: &'static str,
    location: &'static str,
    bio: &'static str,
    role: &'static str,
}

const MEMBERS: &[DemoMember] = &[
    DemoMember { username: "studio", display_name: "The Studio Team", location: "London", role: "staff",
        bio: "We look after this community. Say hello in the forums, or write to us any time." },
    DemoMember { username: "nina_moderates", display_name: "Nina Okafor", location: "Manchester", role: "moderator",
        bio: "Community moderator. Vintage denim, second-hand finds and **kind** conversations." },
    DemoMember { username: "ava_martin", display_name: "Ava Martin", location: "Paris", role: "member",
        bio: "Linen in summer, wool in winter, trench coat all year. Sharing *capsule wardrobe* notes." },
    DemoMember { username: "leo_kowalski", display_name: "Leo Kowalski", location: "Warsaw", role: "member",
        bio: "Tailoring nerd. Ask me about canvassed jackets and trouser breaks." },
    DemoMember { username: "maya_r", display_name: "Maya Rao", location: "Bengaluru", role: "member",
        bio: "Hand-block prints and bold colour. Photographer on weekends." },
    DemoMember { username: "sam_lindqvist", display_name: "Sam Lindqvist", location: "Stockholm", role: "member",
        bio: "Minimalist, mostly black, occasionally one loud sock." },
    DemoMember { username: "chloe_b", display_name: "Chloé Bernard", location: "Lyon", role: "member",
        bio: "Silk scarves, ten ways. Currently learning to sew." },
    DemoMember { username: "jordan_ellis", display_name: "Jordan Ellis", location: "Brooklyn", role: "member",
        bio: "Sneaker rotation and streetwear archives. Opinions on soles." },
    DemoMember { username: "priya_s", display_name: "Priya Shah", location: "Leicester", role: "member",
        bio: "Occasion wear for the whole family. Wedding season is my season." },
    DemoMember { username: "tomas_v", display_name: "Tomás Vidal", location: "Barcelona", role: "member",
        bio: "Espadrilles, loose shirts, sea air. Mending over buying." },
    DemoMember { username: "hana_m", display_name: "Hana Mori", location: "Osaka", role: "member",
        bio: "Layering, quiet colours and good pockets." },
    DemoMember { username: "grace_o", display_name: "Grace Owusu", location: "Accra", role: "member",
        bio: "Kente, contemporary cuts, and a soft spot for statement earrings." },
];

/// Adds the demo community if the site has no members yet.
pub async fn fill_if_empty(state: &AppState) -> anyhow::Result<()> {
    if store::counter(&state.db, "members").await.map_err(|e| anyhow::anyhow!("{e}"))? > 0 {
        eprintln!("The site already has members: demo content is only added to an empty site.");
        return Ok(());
    }
    let secret = crate::crypto::random_token()[..16].to_string();
    let hash = password::hash(secret.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, m) in MEMBERS.iter().enumerate() {
        let email = format!("{}@example.com", m.username.replace('.', "_"));
        let id = store::create(
            &state.db,
            store::NewUser {
                username: m.username,
                email: &email,
                password_hash: hash.clone(),
                role: m.role,
                email_confirmed: true,
                avatar_mode: "upload",
            },
        )
        .await
        .with_context(|| format!("cannot create demo member {}", m.username))?;
        state
            .db
            .query("UPDATE users SET display_name = ?, bio = ?, bio_html = ?, location = ?, created_at = created_at - ? WHERE id = ?")
            .bind(m.display_name)
            .bind(m.bio)
            .bind(crate::markdown::render(m.bio))
            .bind(m.location)
            .bind((MEMBERS.len() - i) as i64 * 86_400 * 9)
            .bind(id)
            .execute(state.db.w())
            .await?;
        let user = store::by_id(&state.db, id).await.map_err(|e| anyhow::anyhow!("{e}"))?.context("demo member vanished")?;
        let picture = portrait(i as u32)?;
        avatar::replace(state, &user, picture)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .map_err(anyhow::Error::msg)?;
    }
    let ids = member_ids(state).await?;
    blog(state, &ids).await?;
    blog_covers_and_tags(state).await.context("cannot add covers and tags to the demo posts")?;
    forums(state, &ids).await.context("cannot add the demo forums")?;
    photos(state, &ids).await.context("cannot add the demo photos")?;
    photo_reactions(state, &ids).await.context("cannot add votes and comments on the demo photos")?;
    eprintln!(
        "Demo content added: {} members, blog posts, comments, votes and forums. Log in as \"studio\" (staff) or any demo member with the password: {secret}",
        MEMBERS.len()
    );
    Ok(())
}

/// A demo forum: (slug, name, visibility, description).
type DemoForum = (&'static str, &'static str, Visibility, &'static str);

/// The demo forums, by category.
const FORUMS: &[(&str, &[DemoForum])] = &[
    ("Community", &[
        ("announcements", "Announcements", Visibility::ReadOnly, "News from the team: launches, events and changes to the community."),
        ("introductions", "Welcome & introductions", Visibility::Public, "New here? Say hello and tell us what you love to wear."),
    ]),
    ("Style talk", &[
        ("style-advice", "Style advice", Visibility::Public, "Outfits, colour, proportion: ask for a second opinion."),
        ("fit-and-sizing", "Fit & sizing", Visibility::Public, "How things fit, which size to pick, and tailoring tips."),
        ("care-and-repair", "Care & repair", Visibility::Public, "Washing, storing, mending: make good clothes last."),
    ]),
    ("The team", &[("moderators", "Moderators' room", Visibility::Staff, "For staff and moderators only.")]),
];

/// Demo topics: (forum, author index, title, opening post, replies as
/// (author index, text)).
type DemoTopic = (&'static str, usize, &'static str, &'static str, &'static [(usize, &'static str)]);

const TOPICS: &[DemoTopic] = &[
    ("announcements", 0, "The spring collection is here",
        "The new season lands on **Thursday at 9am**. Members get early access to the lookbook in the Photos section, and the first fifty posts in *Style advice* tagged with the new pieces get a thank-you gift from the studio.\n\nQuestions about orders belong in *Fit & sizing*; we read everything.",
        &[(1, "Early access is open. Please keep launch-day order questions in one place so we can answer them quickly.")]),
    ("introductions", 0, "Welcome! Start here",
        "Welcome to the community. A few things to know:\n\n- **Be kind.** Critique the outfit, never the person.\n- Post photos of what you actually wear; shop links are fine in context.\n- Moderators are here to help: look for the badge.\n\nIntroduce yourself below: where you are, and one piece you would never give away.",
        &[(2, "Hello from Paris! The piece I would never give away: a camel trench I bought secondhand ten years ago."),
          (3, "Leo from Warsaw. A navy hopsack jacket that goes with everything I own."),
          (4, "Maya here. My grandmother's block-printed dupatta, which I now wear as a scarf."),
          (11, "Grace, Accra. Statement earrings, specifically the brass ones from my first paycheck.")]),
    ("style-advice", 2, "Show us your everyday uniform",
        "I have been wearing roughly the same thing for three years: straight dark jeans, a white oxford, a navy crew-neck and white leather sneakers. What is your everyday uniform, and why does it work for you?",
        &[]),
    ("style-advice", 7, "Can you wear sneakers with tailoring?",
        "Thinking about a grey suit with minimal white sneakers for a summer wedding (daytime, garden). Too casual?",
        &[(3, "Daytime and a garden: yes, if the trousers have no break and the sneakers are spotless."),
          (8, "Check the invitation first. \"Garden party\" says yes; \"black tie optional\" says no."),
          (7, "It says garden party. Sneakers it is, thank you both!")]),
    ("fit-and-sizing", 5, "Does the trench run large?",
        "Between sizes in the classic trench. I am usually a 38 in jackets. Anyone sized down?",
        &[(2, "I sized down and am glad I did: there is plenty of room for a knit underneath."),
          (10, "Same here. The sleeves are long, though; I had them shortened by 2 cm.")]),
    ("care-and-repair", 9, "Mending a moth hole in merino",
        "Found two small holes in my favourite merino sweater. Darning or a patch?",
        &[(6, "Darning with a contrasting wool looks lovely; look up *visible mending*."),
          (9, "Went with a mustard darn. Honestly better than before.")]),
    ("style-advice", 4, "Colours that always work together?",
        "Trying to build outfits around one bold colour a day. Which pairings never fail for you?",
        &[(11, "Ochre and deep green. Add gold jewellery and you are done."),
          (5, "Navy with anything, but especially rust."),
          (4, "Pink and red! It felt brave the first time and now it is my favourite.")]),
    ("style-advice", 10, "Layering for a rainy spring",
        "Mornings are cold, afternoons warm, and it rains in between. How do you layer without carrying a suitcase?",
        &[(9, "A thin merino base, a shirt jacket, and a packable shell in the bag."),
          (10, "Trying this tomorrow. The shell is the piece I was missing.")]),
    ("style-advice", 6, "Silk scarves: your favourite knot?",
        "I finally counted: I wear my silk squares ten different ways. Neck, hair, bag handle, belt... What is your favourite?",
        &[(2, "Knotted on the bag handle. It changes the whole bag."),
          (8, "As a headband for weddings, every time.")]),
    ("fit-and-sizing", 3, "Trouser break: full, half or none?",
        "For straight-leg wool trousers with loafers: where should the hem sit?",
        &[(5, "No break with loafers. Show a little sock."),
          (1, "A slight break if you wear them with boots half the time; the tailor can find the middle.")]),
    ("care-and-repair", 2, "How do you care for linen?",
        "Wash cold, line dry, and never iron? Or is steaming worth it?",
        &[(9, "Embrace the creases. Steam only the collar."),
          (4, "A wool dryer ball in a cool tumble softens it beautifully.")]),
    ("moderators", 0, "Moderation rota for launch week",
        "Launch week cover: Nina mornings, the studio afternoons. Flag anything unsure in this forum.",
        &[(1, "Mornings are fine. I will post a summary here every evening.")]),
];

/// Replies to the busy topic, cycled through to span several pages.
const BUSY_REPLIES: &[&str] = &[
    "Wide trousers, a fitted knit, loafers. It works because nothing needs ironing.",
    "Black, black, black. One loud sock on Fridays.",
    "A linen shirt in summer and the same shirt under a cardigan in winter.",
    "Dark selvedge jeans and a grey sweatshirt. Boring, and I love it.",
    "Midi skirt, tucked tee, sneakers. Bike-friendly and office-friendly.",
    "Navy chore jacket over anything. The pockets carry my whole day.",
    "I rotate three striped Breton tops. Nobody has noticed in two years.",
    "Tailored shorts and a camp-collar shirt, from May to September.",
    "A wrap dress and boots. Fifteen seconds to get dressed.",
    "Corduroy trousers and a roll-neck, October to March.",
    "Kente accents on plain basics: one colourful piece, the rest quiet.",
    "Loose shirts, espadrilles, rolled sleeves. Sea air does the rest.",
];

/// Categories, forums, topics and replies by the demo members, dated over
/// the last weeks so the lists look lived in.
async fn forums(state: &AppState, members: &[i64]) -> anyhow::Result<()> {
    let db = &state.db;
    for (position, (category, forums)) in FORUMS.iter().enumerate() {
        let slug = crate::forums::slugify(category, 100);
        let named = forum_write::Named { name: category, slug: &slug, description: "", position: position as i64 + 1 };
        let category_id = forum_write::save_category(db, None, &named).await?.context("the category vanished")?;
        for (i, (slug, name, visibility, description)) in forums.iter().enumerate() {
            let named = forum_write::Named { name, slug, description, position: i as i64 + 1 };
            forum_write::save_forum(db, None, category_id, *visibility, &named).await?;
        }
    }
    let mut at = crate::db::now() - 5 * 86_400;
    let mut busy = None;
    for (forum, author, title, body, replies) in TOPICS {
        let forum = forum_store::forum_by_slug(db, forum).await.map_err(|e| anyhow::anyhow!("{e}"))?.context("demo forum")?;
        at += 18_000;
        let post = forum_write::NewPost { author: members[*author], body, at, subscribe: true };
        let (topic, _) = forum_write::create_topic(db, &forum, title, post).await?;
        for (who, text) in replies.iter() {
            at += 2_400;
            let post = forum_write::NewPost { author: members[*who], body: text, at, subscribe: true };
            forum_write::reply(db, topic, post, true).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        db.query("UPDATE forum_topics SET view_count = ? WHERE id = ?").bind(40 + 17 * replies.len() as i64).bind(topic).execute(db.w()).await?;
        match *title {
            "Welcome! Start here" => forum_write::set_flag(db, topic, forum_write::Flag::Sticky, true).await?,
            "The spring collection is here" => forum_write::set_flag(db, topic, forum_write::Flag::Locked, true).await?,
            "Show us your everyday uniform" => busy = Some(topic),
            _ => {}
        }
    }
    // The busy topic: enough replies for several pages, the latest activity.
    let busy = busy.context("the busy demo topic")?;
    for i in 0..72 {
        at += 1_200;
        let who = 1 + (i * 5) % (members.len() - 1);
        let post = forum_write::NewPost { author: members[who], body: BUSY_REPLIES[i % BUSY_REPLIES.len()], at, subscribe: false };
        forum_write::reply(db, busy, post, false).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    db.query("UPDATE forum_topics SET view_count = 2318 WHERE id = ?").bind(busy).execute(db.w()).await?;
    Ok(())
}

/// Palettes of the demo portraits: background, garment, accent.
const PALETTES: &[[[u8; 3]; 3]] = &[
    [[236, 228, 216], [30, 30, 36], [196, 82, 58]],
    [[214, 226, 222], [58, 90, 120], [232, 190, 120]],
    [[245, 222, 214], [150, 40, 60], [250, 240, 230]],
    [[222, 218, 240], [70, 60, 110], [240, 200, 90]],
    [[230, 236, 214], [94, 110, 60], [210, 120, 80]],
    [[250, 238, 220], [200, 120, 50], [40, 40, 48]],
];
const SKIN: &[[u8; 3]] = &[[241, 204, 176], [198, 140, 100], [141, 85, 54], [224, 172, 130], [95, 60, 40], [232, 190, 160]];

/// A colour-block portrait (head, shoulders, a stripe of accent), as PNG.
fn portrait(seed: u32) -> anyhow::Result<Vec<u8>> {
    let [bg, garment, accent] = PALETTES[seed as usize % PALETTES.len()];
    let skin = SKIN[(seed as usize * 7 + 3) % SKIN.len()];
    let size = 480u32;
    let image = RgbImage::from_fn(size, size, |x, y| {
        let (fx, fy) = (x as f32 / size as f32, y as f32 / size as f32);
        let head = ((fx - 0.5).powi(2) + (fy - 0.40).powi(2)).sqrt() < 0.16;
        let shoulders = fy > 0.62 && ((fx - 0.5).powi(2) / 0.16 + (fy - 1.0).powi(2) / 0.16) < 1.0;
        let collar = shoulders && (fx - 0.5).abs() < 0.05 + (fy - 0.62) * 0.3 && fy < 0.78;
        let stripe = (fx + fy * 0.35 + seed as f32 * 0.07) % 0.5 < 0.06;
        let colour = if head {
            skin
        } else if collar {
            accent
        } else if shoulders {
            garment
        } else if stripe {
            blend(bg, accent, 0.35)
        } else {
            blend(bg, [255, 255, 255], fy * 0.3)
        };
        Rgb(colour)
    });
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

fn blend(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    let mix = |x: u8, y: u8| (x as f32 + (y as f32 - x as f32) * t).round() as u8;
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
}

async fn member_ids(state: &AppState) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for m in MEMBERS {
        let user = store::by_username(&state.db, m.username).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        ids.push(user.context("demo member missing")?.id);
    }
    Ok(ids)
}

struct DemoPost {
    author: usize,
    title: &'static str,
    body: &'static str,
    /// Days ago; negative is in the future (scheduled).
    days_ago: i64,
    featured: bool,
}

const POSTS: &[DemoPost] = &[
    DemoPost { author: 2, title: "A capsule wardrobe for a Paris spring", days_ago: 2, featured: true,
        body: "Twelve pieces, three colours, one trench coat.\n\n## The rules\n\n- Everything goes with everything else.\n- **Natural fibres** first: linen, cotton, wool.\n- One piece that makes you smile.\n\n> Buy less, choose well, make it last.\n\nWhat would be in yours?" },
    DemoPost { author: 3, title: "How a canvassed jacket should fit", days_ago: 5, featured: false,
        body: "Shoulders first: the seam ends where your shoulder bone does. Then the collar should hug the shirt collar with no gap.\n\nSleeves show a *quarter inch* of shirt cuff. Everything else a good tailor can fix." },
    DemoPost { author: 4, title: "Block prints from Jaipur", days_ago: 9, featured: false,
        body: "I spent a week with a family of printers. Each colour is a separate wooden block, carved by hand, and a sari can take ten thousand impressions.\n\nPhotos soon in my gallery." },
    DemoPost { author: 6, title: "Ten ways to tie a silk scarf", days_ago: 14, featured: false,
        body: "1. The classic knot\n2. The bow\n3. The headband\n4. On a bag handle\n5. As a belt\n\n...and five more in the comments, I hope!" },
    DemoPost { author: 9, title: "Mending over buying", days_ago: 20, featured: false,
        body: "A pair of espadrilles, resoled three times. A shirt with a visible darn I have come to love. Repair is a kind of style." },
    DemoPost { author: 5, title: "My autumn list", days_ago: -3, featured: false,
        body: "Scheduled: it appears on its own when the day comes." },
];

const COMMENTS: &[(usize, &str)] = &[
    (4, "This is exactly the push I needed. Which trench did you choose?"),
    (2, "A vintage one from a flea market: the lining was in pieces, but the cotton was perfect."),
    (7, "Natural fibres first, always. Linen creases, and that is fine."),
    (10, "I would add one good pair of white sneakers."),
];

/// Blog posts (one featured, one scheduled), a comment thread and votes.
async fn blog(state: &AppState, ids: &[i64]) -> anyhow::Result<()> {
    use crate::blog::store as posts;
    let now = crate::db::now();
    let mut published = Vec::new();
    for p in POSTS {
        let user_id = ids[p.author];
        let slug = posts::free_slug(&state.db, user_id, &posts::slugify(p.title), None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let at = now - p.days_ago * 86_400;
        let draft = posts::Draft {
            title: p.title.to_string(),
            slug,
            body: p.body.to_string(),
            status: if p.days_ago < 0 { "scheduled" } else { "published" },
            published_at: Some(at),
            tags: Vec::new(),
            cover: None,
        };
        let id = posts::create(&state.db, user_id, &draft).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        state.db.query("UPDATE blog_posts SET featured = ?, created_at = ? WHERE id = ?").bind(p.featured as i64).bind(at).bind(id).execute(state.db.w()).await?;
        if p.days_ago >= 0 {
            published.push((id, user_id));
        }
    }
    let kind = crate::content::kind("blog_post").context("blog posts are a kind")?;
    let (first_post, _) = published[0];
    let mut parent = None;
    for (i, (author, text)) in COMMENTS.iter().enumerate() {
        let parent_comment = match parent {
            Some(id) => crate::comments::store::by_id(state, id).await.map_err(|e| anyhow::anyhow!("{e}"))?,
            None => None,
        };
        let id = crate::comments::store::create(state, kind, first_post, ids[*author], parent_comment.as_ref(), text)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The second comment answers the first; the rest start threads of their own.
        parent = if i == 0 { Some(id) } else { None };
    }
    for (n, (post, owner)) in published.iter().enumerate() {
        for voter in ids.iter().skip(n).take(8 - n.min(6)) {
            if voter != owner {
                crate::votes::cast(state, kind, *post, *voter, 1).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
    }
    Ok(())
}

/// Demo galleries: (owner index, title, description, photos as (title, tags)).
type DemoGallery = (usize, &'static str, &'static str, &'static [(&'static str, &'static str)]);

const GALLERIES: &[DemoGallery] = &[
    (2, "Paris spring capsule", "Twelve pieces, three colours. Here are a few of the **looks**.", &[
        ("Trench and stripes", "trench, stripes, capsule"), ("Linen Sunday", "linen, capsule"), ("Navy and cream", "capsule")]),
    (3, "Tailoring diary", "Fittings, fabrics and the odd mistake.", &[
        ("Grey flannel", "tailoring, wool"), ("Unstructured blazer", "tailoring")]),
    (4, "Jaipur colour", "Block prints and bright cotton.", &[
        ("Indigo print", "block-print, cotton"), ("Marigold", "block-print"), ("Rose kurta", "block-print, colour")]),
    (5, "Mostly black", "", &[("Monochrome", "minimal"), ("The loud sock", "minimal, socks")]),
    (6, "Scarf experiments", "Ten ways to tie a silk scarf, photographed.", &[("The bow", "silk, scarf"), ("As a belt", "silk, scarf")]),
    (7, "Rotation", "", &[("Court classics", "sneakers, streetwear"), ("Archive jacket", "streetwear")]),
    (9, "Sea air", "Loose shirts and espadrilles.", &[("Resoled again", "mending, espadrilles"), ("Linen shirt", "linen")]),
    (10, "Layers", "Quiet colours, good pockets.", &[("Three layers", "layering"), ("Oat and olive", "layering, wool")]),
    (11, "Statement pieces", "", &[("Kente jacket", "kente, colour"), ("Gold earrings", "colour")]),
];

/// A gallery or two per demo member, with photos made by the real pipeline
/// from generated outfit pictures.
async fn photos(state: &AppState, ids: &[i64]) -> anyhow::Result<()> {
    use crate::photos::{store as photo_store, upload};
    let mut seed = 0u32;
    for (owner, title, description, shots) in GALLERIES {
        let user_id = ids[*owner];
        let gallery = photo_store::create_gallery(&state.db, user_id, title, description).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        for (shot, tags) in shots.iter() {
            seed += 1;
            let text = photo_store::PhotoText {
                title: shot.to_string(),
                caption: format!("From *{title}*."),
                tags: crate::tags::parse(tags).map_err(anyhow::Error::msg)?,
            };
            let file = upload::Upload { name: format!("{shot}.png"), bytes: outfit(seed)? };
            upload::add(state, user_id, Some(gallery), &text, vec![file])
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .map_err(anyhow::Error::msg)?;
        }
    }
    Ok(())
}

/// Comments on photos: (photo index, author index, text).
const PHOTO_COMMENTS: &[(usize, usize, &str)] = &[
    (0, 4, "That trench. Where is it from?"),
    (0, 7, "Stripes and a trench never fail."),
    (3, 2, "The flannel drapes so well. Is it a half lining?"),
    (5, 10, "Block prints in that indigo are my weakness."),
    (13, 6, "Would love to see this with white sneakers."),
];

/// Votes and comments on the demo photos, so the grids' popular and
/// trending orders and the photo pages look lived in.
async fn photo_reactions(state: &AppState, ids: &[i64]) -> anyhow::Result<()> {
    use sqlx::Row as _;
    let kind = crate::content::kind("photo").context("photos are a kind")?;
    let rows = state.db.query("SELECT id, user_id FROM photos ORDER BY id").fetch_all(state.db.r()).await?;
    let photos: Vec<(i64, i64)> = rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, sqlx::Error>>()?;
    for (n, (photo, owner)) in photos.iter().enumerate() {
        // Between zero and six votes each, spread unevenly.
        let votes = (n * 7 + 3) % 7;
        for voter in ids.iter().filter(|v| *v != owner).skip(n % 3).take(votes) {
            crate::votes::cast(state, kind, *photo, *voter, 1).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    for (index, author, text) in PHOTO_COMMENTS {
        let Some((photo, _)) = photos.get(*index) else { continue };
        crate::comments::store::create(state, kind, *photo, ids[*author], None, text).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// An outfit in colour blocks: a top (striped on odd seeds), a skirt or
/// trousers, shoes, on a softly lit backdrop with a floor line. Portrait
/// or square, so grids show both.
fn outfit(seed: u32) -> anyhow::Result<Vec<u8>> {
    let [backdrop, top, bottom] = PALETTES[seed as usize % PALETTES.len()];
    let skin = SKIN[(seed as usize * 5 + 1) % SKIN.len()];
    let (width, height) = if seed % 3 == 0 { (720u32, 720u32) } else { (600u32, 800u32) };
    let skirt = seed % 2 == 0;
    let striped = seed % 2 == 1;
    let image = RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let dx = (fx - 0.5).abs();
        let head = ((fx - 0.5).powi(2) * 1.6 + (fy - 0.12).powi(2)).sqrt() < 0.06;
        let neck = dx < 0.025 && (0.17..0.21).contains(&fy);
        let torso = (0.20..0.50).contains(&fy) && dx < 0.13 + (fy - 0.20) * 0.1;
        let arms = (0.21..0.47).contains(&fy) && (0.15..0.20).contains(&(dx - (fy - 0.21) * 0.12));
        let lower = if skirt {
            (0.50..0.74).contains(&fy) && dx < 0.15 + (fy - 0.50) * 0.35
        } else {
            (0.50..0.88).contains(&fy) && dx < 0.14 && dx > 0.012 + (fy - 0.50) * 0.02
        };
        let legs = (0.74..0.90).contains(&fy) && (0.035..0.07).contains(&dx);
        let shoes = (0.895..0.93).contains(&fy) && (0.03..0.10).contains(&dx);
        let floor = fy > 0.93;
        let colour = if head || neck || (legs && !lower) || arms && fy > 0.44 {
            skin
        } else if torso || arms {
            if striped && ((fy * 40.0) as u32) % 2 == 0 { blend(top, [250, 248, 240], 0.8) } else { top }
        } else if lower {
            bottom
        } else if shoes {
            [34, 30, 28]
        } else if floor {
            blend(backdrop, [60, 50, 45], 0.35)
        } else {
            // A soft light from the top left.
            blend(backdrop, [255, 255, 255], (1.0 - fy) * 0.35 * (1.0 - fx * 0.5))
        };
        Rgb(colour)
    });
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

/// Demo posts (by slug) with their tags, and a cover picture for some
/// (the palette to paint it with).
const POST_EXTRAS: &[(&str, &str, Option<u32>)] = &[
    ("a-capsule-wardrobe-for-a-paris-spring", "capsule-wardrobe, spring, linen", Some(1)),
    ("how-a-canvassed-jacket-should-fit", "tailoring, menswear", Some(4)),
    ("block-prints-from-jaipur", "textiles, travel, cotton", Some(2)),
    ("ten-ways-to-tie-a-silk-scarf", "accessories, silk", None),
    ("mending-over-buying", "mending, slow-fashion", Some(0)),
    ("my-autumn-list", "autumn, wishlist", None),
];

/// Gives demo posts tags and cover pictures, through the same write as the
/// writing form, so counters, tag rows and files are as members' would be.
async fn blog_covers_and_tags(state: &AppState) -> anyhow::Result<()> {
    use crate::blog::store as posts;
    let err = |e: crate::web::error::AppError| anyhow::anyhow!("{e}");
    for (slug, tags, palette) in POST_EXTRAS {
        let row = state.db.query("SELECT id FROM blog_posts WHERE slug = ?").bind(*slug).fetch_optional(state.db.w()).await?;
        let Some(row) = row else { continue };
        use sqlx::Row as _;
        let post = posts::by_id(&state.db, row.get::<i64, _>(0)).await.map_err(err)?.context("demo post missing")?;
        let cover = match palette {
            Some(seed) => Some(
                crate::blog::cover::store(state, post.user_id, flat_lay(*seed)?)
                    .await
                    .map_err(err)?
                    .map_err(|e| anyhow::anyhow!("demo cover refused: {e}"))?,
            ),
            None => None,
        };
        let draft = posts::Draft {
            title: post.title.clone(),
            slug: post.slug.clone(),
            body: post.body.clone(),
            status: if post.status == "draft" { "draft" } else if post.status == "scheduled" { "scheduled" } else { "published" },
            published_at: post.published_at,
            tags: crate::tags::parse(tags).map_err(|e| anyhow::anyhow!(e))?,
            cover,
        };
        posts::update(&state.db, &post, &draft).await.map_err(err)?;
    }
    Ok(())
}

/// A colour-block "flat lay" (a folded garment, a round accessory, a strip
/// of fabric on a table), 1600x900, as PNG.
fn flat_lay(seed: u32) -> anyhow::Result<Vec<u8>> {
    let [bg, garment, accent] = PALETTES[seed as usize % PALETTES.len()];
    let (w, h) = (1600u32, 900u32);
    let image = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 * 16.0 / 9.0 / w as f32);
        let folded = (0.14..0.52).contains(&fx) && (0.16..0.78).contains(&fy);
        let fold_line = folded && ((fy - 0.47).abs() < 0.004 || (fx - 0.33).abs() < 0.003);
        let round = ((fx - 0.72).powi(2) + (fy - 0.36).powi(2)).sqrt() < 0.12;
        let strip = (0.58..0.92).contains(&fx) && (0.62..0.70).contains(&fy);
        let weave = (x / 6 + y / 6) % 2 == 0;
        let colour = if fold_line {
            blend(garment, [0, 0, 0], 0.25)
        } else if folded {
            blend(garment, [255, 255, 255], fy * 0.18)
        } else if round {
            blend(accent, [255, 255, 255], (0.36 - fy).max(0.0))
        } else if strip {
            if weave { accent } else { blend(accent, bg, 0.4) }
        } else {
            blend(bg, [255, 255, 255], 0.15 + fx * 0.1)
        };
        Rgb(colour)
    });
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}
