//! Outgoing email: SMTP when `smtp_url` is set; otherwise each message is
//! written to the outbox folder as an .eml file, so a fresh site works
//! without a mail server.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf),
    Smtp(Arc<AsyncSmtpTransport<Tokio1Executor>>),
}

impl Mailer {
    pub fn new(smtp_url: &str, outbox: PathBuf, from: &str) -> anyhow::Result<Mailer> {
        let from: Mailbox = from.parse().with_context(|| format!("email_from {from:?} is not an address"))?;
        let transport = if smtp_url.is_empty() {
            Transport::Outbox(outbox)
        } else {
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
                .context("smtp_url is not a valid SMTP URL")?
                .build();
            Transport::Smtp(Arc::new(smtp))
        };
        Ok(Mailer { from, transport })
    }

    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Outbox(dir) => format!("outbox folder {}", dir.display()),
            Transport::Smtp(_) => "SMTP".into(),
        }
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let to: Mailbox = to.parse().with_context(|| format!("{to:?} is not an address"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        match &self.transport {
            Transport::Outbox(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
                let path = dir.join(format!("{stamp}-{:08x}.eml", rand::random::<u32>()));
                tokio::fs::write(&path, message.formatted()).await?;
                tracing::info!(to = %to.email, subject, file = %path.display(), "email written to the outbox");
            }
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("the SMTP server refused the message")?;
                tracing::info!(to = %to.email, subject, "email sent");
            }
        }
        Ok(())
    }

    /// Can we reach the mail server (or write to the outbox)?
    pub async fn check(&self) -> anyhow::Result<()> {
        match &self.transport {
            Transport::Outbox(dir) => {
                tokio::fs::create_dir_all(dir).await.with_context(|| format!("cannot create {}", dir.display()))
            }
            Transport::Smtp(smtp) => {
                anyhow::ensure!(smtp.test_connection().await?, "the SMTP server did not answer");
                Ok(())
            }
        }
    }
}
