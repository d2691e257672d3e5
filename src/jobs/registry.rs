//! Which code runs each kind of job. The binary's kinds are listed in
//! [`Registry::builtin`]; a test (or an embedding program) adds its own
//! with [`Registry::with`] before the app is built, so no worker ever
//! claims a job it has no handler for yet.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::app::AppState;

/// Runs one job of a kind with its payload. It must be safe to run twice
/// (a job whose lease ran out while it was still running runs again).
pub type Handler = Arc<dyn Fn(AppState, Value) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
}

impl Registry {
    /// The kinds Coterie itself enqueues.
    pub fn builtin() -> Registry {
        Registry::default()
            .with(super::email::KIND, super::email::run)
            .with(crate::forums::NOTIFY_KIND, crate::forums::run_notify)
    }

    /// Adds (or replaces) the handler of `kind`.
    pub fn with<F, Fut>(mut self, kind: &'static str, run: F) -> Registry
    where
        F: Fn(AppState, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.handlers.insert(kind, Arc::new(move |state, payload| Box::pin(run(state, payload))));
        self
    }

    pub fn get(&self, kind: &str) -> Option<&Handler> {
        self.handlers.get(kind)
    }
}
