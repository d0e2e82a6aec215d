//! What runs after each invocation, once its span has closed: an exporter's
//! flush, so its spans leave before Lambda freezes the environment (a frozen
//! background export would be sent late, or never).

use std::sync::OnceLock;

/// The hook, registered once per process.
type Hook = Box<dyn Fn() + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Registers `hook` to run after every invocation (it may block: it runs on
/// a blocking thread). Returns `false`, and keeps the first, when one is
/// registered already.
pub fn on_invocation_end(hook: impl Fn() + Send + Sync + 'static) -> bool {
    HOOK.set(Box::new(hook)).is_ok()
}

/// Runs the registered hook, if any, and waits for it. Without one it costs
/// a load.
pub async fn invocation_ended() {
    if let Some(hook) = HOOK.get()
        && tokio::task::spawn_blocking(hook).await.is_err()
    {
        tracing::warn!("the invocation-end hook panicked");
    }
}
