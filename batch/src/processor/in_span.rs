//! [`InSpan`]: a record's future, run inside its span.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Span;

pin_project_lite::pin_project! {
    /// Enters `span` each time `inner` is polled, and only then.
    ///
    /// `tracing::Instrument` also enters the span to drop the future; a record's
    /// future holds nothing that logs when dropped, and with a span registry each
    /// enter and exit has a cost paid for every record of every batch.
    pub(super) struct InSpan<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F> InSpan<F> {
    pub(super) fn new(inner: F, span: Span) -> Self {
        InSpan { inner, span }
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        this.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test]
    async fn the_future_runs_inside_its_span_on_every_poll() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry();
        let _default = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("record");
        let inside = {
            let seen = seen.clone();
            async move {
                let name = || Span::current().metadata().map(|m| m.name());
                seen.lock().unwrap().push(name());
                tokio::task::yield_now().await; // a second poll
                seen.lock().unwrap().push(name());
                7
            }
        };
        assert_eq!(InSpan::new(inside, span).await, 7);
        assert_eq!(Span::current().metadata().map(|m| m.name()), None);
        assert_eq!(*seen.lock().unwrap(), [Some("record"), Some("record")]);
    }
}
