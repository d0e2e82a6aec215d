//! A record that fails retryably on the last receive its queue allows is
//! dead-lettered by the function with `ErrorCode=RetriesExhausted`, its last
//! error and its receive count, not moved without a reason by the queue's
//! redrive: through the embedded broker and through a real SQS endpoint.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::error::{PortError, PortErrorKind, RecordError};
use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::{MessageQueue, OutgoingMessage, QueueConsumer};
use orderflow_batch::processor::{Backoff, BatchConfig, BatchProcessor, Outgoing, RecordContext, RecordStep};
use orderflow_batch::sqs::SqsRecord;
use orderflow_embedded::broker::{Broker, QueueSettings, Redrive};
use orderflow_embedded::poller::{MappingSettings, Poller, PollerStats, ProcessorHandler};
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryMetrics};
use orderflow_tests::{create_queue_with_dlq, moto, sdk_config, unique};
use tokio::sync::watch;

/// The queues' `maxReceiveCount`, and the function's `MAX_RECEIVE_COUNT`.
const MAX_RECEIVE_COUNT: u32 = 3;

/// A step whose store is always throttled; counts its runs.
#[derive(Clone, Default)]
struct AlwaysThrottled {
    runs: Arc<AtomicUsize>,
}

impl RecordStep for AlwaysThrottled {
    type Input = String;

    fn name(&self) -> &'static str {
        "throttled"
    }

    fn decode(&self, message: &dyn SqsRecord) -> Result<String, RecordError> {
        Ok(orderflow_batch::sqs::body(message)?.to_owned())
    }

    fn key<'a>(&self, body: &'a String) -> Cow<'a, str> {
        Cow::Borrowed(body)
    }

    fn correlation_id<'a>(&self, _: &'a String) -> &'a str {
        "corr-1"
    }

    fn fingerprint(&self, body: &String) -> Fingerprint {
        Fingerprint::of(|f| {
            f.str(body);
        })
    }

    async fn run(&self, _: String, _: &RecordContext<'_>) -> Result<Vec<Outgoing>, RecordError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Err(PortError::new(PortErrorKind::Throttled, "PutItem", "slow down").into())
    }
}

/// Sends one message to `source`, polls it with the processor as Lambda
/// would until something is in `dlq`, and returns the dead letters and the runs.
async fn exhaust(
    consumer: Arc<dyn QueueConsumer>,
    queue: Arc<dyn MessageQueue>,
    source: &str,
    dlq: &str,
) -> (Vec<SqsMessage>, usize) {
    let undelivered = queue
        .send_batch(source, vec![OutgoingMessage::new("order-1")])
        .await;
    assert!(undelivered.is_empty());
    let step = AlwaysThrottled::default();
    let config = BatchConfig {
        dead_letter_queue_url: Some(dlq.to_owned()),
        max_receive_count: Some(MAX_RECEIVE_COUNT),
        // Back for another receive after a second.
        visibility_backoff: Some(Backoff {
            base_seconds: 1,
            cap_seconds: 1,
        }),
        ..BatchConfig::default()
    };
    let processor = BatchProcessor::new(
        config,
        Arc::clone(&queue),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(InMemoryMetrics::new()),
    );
    let poller = Poller {
        queue_url: source.to_owned(),
        consumer: Arc::clone(&consumer),
        queue,
        handler: Arc::new(ProcessorHandler {
            processor,
            step: step.clone(),
            timeout: Duration::from_secs(30),
        }),
        settings: MappingSettings {
            batch_size: 10,
            batching_window: Duration::ZERO,
            max_concurrency: 1,
            receive_max: 10,
            wait: Duration::from_secs(1),
            heartbeat: None,
            drain_timeout: Duration::from_secs(30),
        },
        stats: Arc::new(PollerStats::default()),
    };
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(poller.run(stopped));
    let mut dead = Vec::new();
    for _ in 0..60 {
        dead = consumer
            .receive(dlq, 10, Duration::from_secs(1), None)
            .await
            .expect("the DLQ answers");
        if !dead.is_empty() {
            break;
        }
    }
    // Anything more the redrive would move comes within another receive or two.
    tokio::time::sleep(Duration::from_secs(3)).await;
    dead.extend(
        consumer
            .receive(dlq, 10, Duration::from_secs(1), None)
            .await
            .expect("the DLQ answers"),
    );
    stop.send(true).expect("the poller listens");
    task.await.expect("the poller stops");
    (dead, step.runs.load(Ordering::SeqCst))
}

fn attribute<'a>(message: &'a SqsMessage, name: &str) -> Option<&'a str> {
    message
        .message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
}

fn assert_dead_lettered_with_its_reason(dead: &[SqsMessage], runs: usize) {
    assert_eq!(dead.len(), 1, "one copy, the function's: {dead:?}");
    assert_eq!(
        runs, MAX_RECEIVE_COUNT as usize,
        "it ran on every allowed receive"
    );
    let letter = &dead[0];
    assert_eq!(letter.body.as_deref(), Some("order-1"));
    assert_eq!(attribute(letter, "ErrorCode"), Some("RetriesExhausted"));
    assert_eq!(attribute(letter, "LastErrorCode"), Some("Throttled"));
    assert_eq!(
        attribute(letter, "ErrorMessage"),
        Some("failed on receive 3, the last the queue allows: PutItem failed (Throttled): slow down")
    );
}

#[tokio::test(start_paused = true)]
async fn through_the_embedded_broker() {
    let broker = Broker::new();
    let dlq = broker.create_queue(QueueSettings::new("work-dlq"));
    let source = broker.create_queue(QueueSettings {
        visibility_timeout: Duration::from_secs(30),
        redrive: Some(Redrive {
            dead_letter_queue_url: dlq.clone(),
            max_receive_count: MAX_RECEIVE_COUNT,
        }),
        ..QueueSettings::new("work")
    });
    let (dead, runs) = exhaust(Arc::new(broker.clone()), Arc::new(broker.clone()), &source, &dlq).await;
    assert_dead_lettered_with_its_reason(&dead, runs);
    assert_eq!(broker.depth(&source).unwrap().total(), 0, "nothing left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_real_sqs_endpoint() {
    let client = aws_sdk_sqs::Client::new(&sdk_config(moto()).await);
    let (source, dlq) = create_queue_with_dlq(&client, &unique("exhausted"), MAX_RECEIVE_COUNT).await;
    let sqs = SqsQueues::new(client.clone());
    let (dead, runs) = exhaust(Arc::new(sqs.clone()), Arc::new(sqs), &source.url, &dlq.url).await;
    assert_dead_lettered_with_its_reason(&dead, runs);
    assert_eq!(
        orderflow_tests::visible_and_hidden(&client, &source.url).await,
        (0, 0),
        "nothing left behind"
    );
}
