//! Demo content: a believable sample community for a new, empty site.

use std::io::Cursor;

use anyhow::Context;
use image::{Rgb, RgbImage};

use crate::accounts::{password, store};
use crate::app::AppState;
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
    eprintln!(
        "Demo content added: {} members, blog posts, comments and votes. Log in as \"studio\" (staff) or any demo member with the password: {secret}",
        MEMBERS.len()
    );
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
