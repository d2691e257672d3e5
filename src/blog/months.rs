//! Posts by month. `blog_months` counts each member's published and
//! scheduled posts per UTC month (and the whole site's, as user 0); every
//! write that adds, removes or moves a post in time changes it in the same
//! transaction, so a month list reads a handful of rows. An archive page is
//! a range query on the published_at indexes.

use serde::Serialize;
use sqlx::Row as _;

use super::store::{Post, PER_PAGE};
use crate::db::{now, Backend, Db};
use crate::web::error::{AppError, AppResult};

/// The whole site's row in `blog_months`.
const SITE: i64 = 0;

/// A calendar month, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Month {
    pub year: i32,
    pub month: u8,
}

impl Month {
    pub fn of(unix: i64) -> Month {
        let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        Month { year: t.year(), month: u8::from(t.month()) }
    }

    fn from_key(key: i64) -> Month {
        Month { year: (key / 100) as i32, month: (key % 100) as u8 }
    }

    /// yyyymm, as stored.
    fn key(self) -> i64 {
        i64::from(self.year) * 100 + i64::from(self.month)
    }

    /// From the URL's `yyyy` and `mm`: four and two digits, a real month,
    /// not before 2000 and not after the current month (nothing is there).
    pub fn parse(year: &str, month: &str) -> AppResult<Month> {
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return Err(AppError::NotFound);
        }
        let m = Month { year: year.parse().map_err(|_| AppError::NotFound)?, month: month.parse().map_err(|_| AppError::NotFound)? };
        if !(1..=12).contains(&m.month) || m.year < 2000 || m.key() > Month::of(now()).key() {
            return Err(AppError::NotFound);
        }
        Ok(m)
    }

    /// The Unix times [start, end) of the month.
    fn range(self) -> (i64, i64) {
        let start = |y: i32, m: u8| {
            let month = time::Month::try_from(m).expect("a valid month");
            time::Date::from_calendar_date(y, month, 1).expect("a valid date").midnight().assume_utc().unix_timestamp()
        };
        let (ny, nm) = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        (start(self.year, self.month), start(ny, nm))
    }

    /// "December 2026".
    pub fn label(self) -> String {
        let name = time::Month::try_from(self.month).map(|m| m.to_string()).unwrap_or_default();
        format!("{name} {}", self.year)
    }

    /// "2026/12", the end of an archive URL.
    pub fn path(self) -> String {
        format!("{:04}/{:02}", self.year, self.month)
    }
}

/// One line of a month list.
#[derive(Serialize, Debug)]
pub struct MonthCount {
    pub label: String,
    pub path: String,
    pub count: i64,
}

/// Moves a post's count from the month of `was` to the month of `now`
/// (either None: not listed, i.e. a draft or a deleted post), for its
/// author and for the site, inside the post's write transaction.
pub async fn moved(db: &Db, tx: &mut sqlx::AnyConnection, user_id: i64, was: Option<i64>, now: Option<i64>) -> Result<(), sqlx::Error> {
    let (was, now) = (was.map(Month::of), now.map(Month::of));
    if was == now {
        return Ok(());
    }
    for who in [user_id, SITE] {
        if let Some(m) = was {
            db.query("UPDATE blog_months SET post_count = post_count - 1 WHERE user_id = ? AND month = ?")
                .bind(who)
                .bind(m.key())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(m) = now {
            let sql = if db.backend == Backend::Mysql {
                "INSERT INTO blog_months (user_id, month, post_count) VALUES (?, ?, 1) ON DUPLICATE KEY UPDATE post_count = post_count + 1"
            } else {
                "INSERT INTO blog_months (user_id, month, post_count) VALUES (?, ?, 1) \
                 ON CONFLICT (user_id, month) DO UPDATE SET post_count = blog_months.post_count + 1"
            };
            db.query(sql).bind(who).bind(m.key()).execute(&mut *tx).await?;
        }
    }
    Ok(())
}

/// A member's months with posts (or the site's, for None), newest first,
/// up to the current month: a scheduled post shows up once its month comes.
pub async fn list(db: &Db, user_id: Option<i64>) -> AppResult<Vec<MonthCount>> {
    let rows = db
        .query("SELECT month, post_count FROM blog_months WHERE user_id = ? AND post_count > 0 AND month <= ? ORDER BY month DESC LIMIT 240")
        .bind(user_id.unwrap_or(SITE))
        .bind(Month::of(now()).key())
        .fetch_all(db.r())
        .await?;
    let mut months = Vec::with_capacity(rows.len());
    for row in rows {
        let m = Month::from_key(row.try_get("month")?);
        months.push(MonthCount { label: m.label(), path: m.path(), count: row.try_get("post_count")? });
    }
    Ok(months)
}

/// Visible posts of `month`, newest first (one member's, or everyone's):
/// page `page`, and whether there is a next one.
pub async fn posts(db: &Db, user_id: Option<i64>, month: Month, page: i64) -> AppResult<(Vec<Post>, bool)> {
    let (start, end) = month.range();
    let sql = if user_id.is_some() {
        "SELECT * FROM blog_posts WHERE user_id = ? AND status <> 'draft' AND published_at >= ? AND published_at < ? AND published_at <= ? \
         ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?"
    } else {
        "SELECT * FROM blog_posts WHERE 0 = ? AND status <> 'draft' AND published_at >= ? AND published_at < ? AND published_at <= ? \
         ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?"
    };
    let rows = db
        .query(sql)
        .bind(user_id.unwrap_or(0))
        .bind(start)
        .bind(end)
        .bind(now())
        .bind(PER_PAGE + 1)
        .bind((page - 1) * PER_PAGE)
        .fetch_all(db.r())
        .await?;
    super::store::one_page(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_from_urls() {
        assert_eq!(Month::parse("2024", "02").unwrap(), Month { year: 2024, month: 2 });
        for (y, m) in [("2024", "13"), ("2024", "00"), ("2024", "2"), ("abcd", "01"), ("24", "01"), ("1999", "12"), ("9999", "01"), ("2024", "1a")] {
            assert!(Month::parse(y, m).is_err(), "{y}/{m}");
        }
    }

    #[test]
    fn month_ranges_and_labels() {
        let dec = Month { year: 2026, month: 12 };
        let (start, end) = dec.range();
        assert_eq!(Month::of(start), dec);
        assert_eq!(Month::of(end - 1), dec);
        assert_eq!(Month::of(end), Month { year: 2027, month: 1 });
        assert_eq!(dec.label(), "December 2026");
        assert_eq!(dec.path(), "2026/12");
        assert_eq!(Month::from_key(dec.key()), dec);
    }
}
