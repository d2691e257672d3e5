//! The `email` job: one message, rendered when it was enqueued, sent
//! through the configured mailer. A retry after a send whose result was
//! lost may send it twice; it never loses it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::AppState;

pub const KIND: &str = "email";

#[derive(Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Email {
    pub fn payload(&self) -> Value {
        serde_json::to_value(self).expect("an email is plain strings")
    }
}

pub async fn run(state: AppState, payload: Value) -> anyhow::Result<()> {
    let email: Email = serde_json::from_value(payload)?;
    state.mailer.send(&email.to, &email.subject, email.body).await
}
