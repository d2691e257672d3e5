//! Templates: the embedded default theme, overridden file by file from the
//! theme folder, rendered with minijinja.

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::{Environment, Error, ErrorKind, Value};
use time::macros::format_description;

use crate::web::assets::Assets;

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load(
        embedded: &'static [(&'static str, &'static [u8])],
        theme_dir: Option<PathBuf>,
        assets: Arc<Assets>,
        sections: &[(&str, &str)],
    ) -> anyhow::Result<Templates> {
        let mut env = Environment::new();
        env.add_global("sections", Value::from_serialize(sections));
        let paths: Vec<&str> = sections.iter().map(|(path, _)| *path).collect();
        env.add_global("section_paths", Value::from_serialize(&paths));
        let theme = theme_dir.map(|d| d.join("templates"));
        env.set_loader(move |name| {
            if name.split('/').any(|part| part == ".." || part.is_empty()) {
                return Ok(None);
            }
            if let Some(path) = theme.as_ref().map(|t| t.join(name)).filter(|p| p.is_file()) {
                return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                    Error::new(ErrorKind::InvalidOperation, format!("cannot read {}: {e}", path.display()))
                });
            }
            Ok(embedded
                .iter()
                .find(|(p, _)| *p == name)
                .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned()))
        });
        env.add_function("static", move |path: &str| -> Result<String, Error> {
            assets
                .url(path)
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("no static file {path:?}")))
        });
        // Descriptions made at compile time: pages call these per item.
        env.add_filter("date", |ts: i64| format_time(ts, format_description!("[day padding:none] [month repr:short] [year]")));
        env.add_filter("month", |ts: i64| format_time(ts, format_description!("[month repr:long] [year]")));
        env.add_filter("isodate", |ts: i64| format_time(ts, format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")));
        let templates = Templates { env };
        // A broken theme template fails at start, not in front of a member.
        for (name, _) in embedded.iter().filter(|(n, _)| n.ends_with(".html") || n.ends_with(".txt")) {
            templates.env.get_template(name).map_err(|e| anyhow::anyhow!("template {name}: {e:#}"))?;
        }
        Ok(templates)
    }

    pub fn render(&self, name: &str, context: Value) -> Result<String, Error> {
        self.env.get_template(name)?.render(context)
    }
}

fn format_time(ts: i64, description: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    let Ok(when) = time::OffsetDateTime::from_unix_timestamp(ts) else { return String::new() };
    when.format(description).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_well() {
        assert_eq!(format_time(1_780_000_000, format_description!("[day padding:none] [month repr:short] [year]")), "28 May 2026");
        assert_eq!(format_time(0, format_description!("[month repr:long] [year]")), "January 1970");
    }
}
