//! Event source mappings over the embedded broker: what gets deleted, what comes back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use orderflow_batch::ports::OutgoingMessage;
use orderflow_embedded::broker::{Broker, QueueSettings};
use orderflow_embedded::poller::{BatchHandler, MappingSettings, Poller, PollerStats, heartbeat_interval};
use tokio::sync::watch;

/// Fails bodies starting with "fail" on their first delivery, panics on "crash" once.
#[derive(Default)]
struct Script {
    batches: Mutex<Vec<Vec<String>>>,
    crashed: AtomicUsize,
    hold: Option<Duration>,
}

#[async_trait]
impl BatchHandler for Script {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, String> {
        let bodies: Vec<String> = event.records.iter().filter_map(|r| r.body.clone()).collect();
        self.batches.lock().unwrap().push(bodies.clone());
        if let Some(hold) = self.hold {
            tokio::time::sleep(hold).await;
        }
        if bodies.iter().any(|b| b == "crash") && self.crashed.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("injected crash");
        }
        let mut response = SqsBatchResponse::default();
        for r in &event.records {
            let first = r.attributes["ApproximateReceiveCount"] == "1";
            if r.body.as_deref().is_some_and(|b| b.starts_with("fail")) && first {
                let mut f = BatchItemFailure::default();
                f.item_identifier = r.message_id.clone().unwrap();
                response.batch_item_failures.push(f);
            }
        }
        Ok(response)
    }
}

fn settings() -> MappingSettings {
    MappingSettings {
        batch_size: 10,
        batching_window: Duration::from_secs(1),
        max_concurrency: 2,
        receive_max: 10,
        wait: Duration::from_secs(20),
        heartbeat: None,
        drain_timeout: Duration::from_secs(30),
    }
}

async fn run_until_empty(
    broker: &Broker,
    queue: &str,
    handler: Arc<Script>,
    settings: MappingSettings,
) -> Arc<PollerStats> {
    let stats = Arc::new(PollerStats::default());
    let poller = Poller {
        queue_url: queue.to_owned(),
        consumer: Arc::new(broker.clone()),
        queue: Arc::new(broker.clone()),
        handler,
        settings,
        stats: Arc::clone(&stats),
    };
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(poller.run(stopped));
    while broker.depth(queue).unwrap().total() > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    stats
}

#[tokio::test(start_paused = true)]
async fn successes_are_deleted_and_failures_come_back_after_their_timeout() {
    let broker = Broker::new();
    let q = broker.create_queue(QueueSettings {
        visibility_timeout: Duration::from_secs(30),
        ..QueueSettings::new("work")
    });
    for body in ["ok-1", "fail-2", "ok-3"] {
        broker.send(&q, &OutgoingMessage::new(body)).unwrap();
    }
    let handler = Arc::new(Script::default());
    let started = tokio::time::Instant::now();
    let stats = run_until_empty(&broker, &q, Arc::clone(&handler), settings()).await;
    let batches = handler.batches.lock().unwrap().clone();
    assert_eq!(
        batches[0],
        ["ok-1", "fail-2", "ok-3"],
        "one batch within the window"
    );
    assert_eq!(batches[1], ["fail-2"], "only the failure came back");
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "after its visibility timeout"
    );
    assert_eq!(PollerStats::get(&stats.deleted), 3);
    assert_eq!(PollerStats::get(&stats.invocations), 2);
}

#[tokio::test(start_paused = true)]
async fn a_crashed_invocation_deletes_nothing_and_its_batch_returns_whole() {
    let broker = Broker::new();
    let q = broker.create_queue(QueueSettings::new("work"));
    for body in ["ok-1", "crash", "ok-3"] {
        broker.send(&q, &OutgoingMessage::new(body)).unwrap();
    }
    let handler = Arc::new(Script::default());
    let stats = run_until_empty(&broker, &q, Arc::clone(&handler), settings()).await;
    let batches = handler.batches.lock().unwrap().clone();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1].len(), 3, "the whole batch again");
    assert_eq!(PollerStats::get(&stats.crashed_invocations), 1);
    assert_eq!(PollerStats::get(&stats.deleted), 3);
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_keeps_a_long_batch_hidden() {
    let broker = Broker::new();
    let q = broker.create_queue(QueueSettings {
        visibility_timeout: Duration::from_secs(10),
        ..QueueSettings::new("work")
    });
    broker.send(&q, &OutgoingMessage::new("slow")).unwrap();
    let handler = Arc::new(Script {
        hold: Some(Duration::from_secs(45)),
        ..Default::default()
    });
    let stats = run_until_empty(
        &broker,
        &q,
        Arc::clone(&handler),
        MappingSettings {
            heartbeat: Some(Duration::from_secs(10)),
            max_concurrency: 4,
            ..settings()
        },
    )
    .await;
    assert_eq!(
        handler.batches.lock().unwrap().len(),
        1,
        "never delivered twice while it ran"
    );
    assert_eq!(PollerStats::get(&stats.deleted), 1);
}

#[test]
fn the_heartbeat_runs_every_half_timeout() {
    assert_eq!(
        heartbeat_interval(Duration::from_secs(10)),
        Duration::from_secs(5)
    );
    assert_eq!(
        heartbeat_interval(Duration::from_secs(185)),
        Duration::from_millis(92_500)
    );
    assert_eq!(
        heartbeat_interval(Duration::from_secs(1)),
        Duration::from_millis(500)
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_invocation_is_abandoned_at_the_drain_timeout_and_stops_being_extended() {
    let broker = Broker::new();
    let timeout = Duration::from_secs(10);
    let q = broker.create_queue(QueueSettings {
        visibility_timeout: timeout,
        ..QueueSettings::new("work")
    });
    broker.send(&q, &OutgoingMessage::new("hang")).unwrap();
    let handler = Arc::new(Script {
        hold: Some(Duration::from_secs(24 * 3600)),
        ..Default::default()
    });
    let stats = Arc::new(PollerStats::default());
    let poller = Poller {
        queue_url: q.clone(),
        consumer: Arc::new(broker.clone()),
        queue: Arc::new(broker.clone()),
        handler: Arc::clone(&handler) as Arc<dyn BatchHandler>,
        settings: MappingSettings {
            batching_window: Duration::ZERO,
            heartbeat: Some(timeout),
            drain_timeout: Duration::from_secs(30),
            ..settings()
        },
        stats: Arc::clone(&stats),
    };
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(poller.run(stopped));

    tokio::time::sleep(Duration::from_secs(25)).await;
    let depth = broker.depth(&q).unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight),
        (0, 1),
        "hidden past its timeout by the heartbeat"
    );
    assert_eq!(PollerStats::get(&stats.in_flight_records), 1);

    stop.send(true).unwrap();
    let stopping = tokio::time::Instant::now();
    task.await.unwrap();
    let drained = stopping.elapsed();
    assert!(
        drained >= Duration::from_secs(30) && drained < Duration::from_secs(31),
        "gave up at the drain timeout: {drained:?}"
    );
    assert_eq!(PollerStats::get(&stats.abandoned_invocations), 1);
    assert_eq!(PollerStats::get(&stats.abandoned_records), 1);
    assert_eq!(PollerStats::get(&stats.in_flight_records), 0);
    assert_eq!(PollerStats::get(&stats.deleted), 0);

    // No heartbeat outlives its aborted invocation: at most one timeout after
    // the last extension (at or before the abort), the message is back.
    tokio::time::sleep(timeout + Duration::from_millis(1)).await;
    let depth = broker.depth(&q).unwrap();
    assert_eq!((depth.visible, depth.in_flight), (1, 0), "back in the queue");
    assert_eq!(
        handler.batches.lock().unwrap().len(),
        1,
        "delivered once while it ran"
    );
}
