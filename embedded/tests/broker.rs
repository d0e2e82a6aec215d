//! The embedded broker keeps the SQS semantics consumers rely on. Time is paused.

use std::time::Duration;

use orderflow_batch::error::PortErrorKind;
use orderflow_batch::ports::OutgoingMessage;
use orderflow_embedded::broker::{Broker, QueueSettings, Redrive};
use tokio::time::{Instant, sleep};

const NOW: Duration = Duration::ZERO;

fn message(body: &str) -> OutgoingMessage {
    OutgoingMessage::new(body).with_attribute("EventType", "TEST")
}

fn fifo_message(body: &str, group: &str, dedup: &str) -> OutgoingMessage {
    let mut m = message(body);
    m.group_id = Some(group.to_owned());
    m.deduplication_id = Some(dedup.to_owned());
    m
}

fn queue(broker: &Broker, name: &str, visibility: u64) -> String {
    broker.create_queue(QueueSettings {
        visibility_timeout: Duration::from_secs(visibility),
        ..QueueSettings::new(name)
    })
}

fn bodies(records: &[aws_lambda_events::sqs::SqsMessage]) -> Vec<String> {
    records.iter().map(|r| r.body.clone().unwrap()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_received_message_is_hidden_until_its_visibility_timeout_ends() {
    let broker = Broker::new();
    let q = queue(&broker, "work", 30);
    broker.send(&q, &message("a")).unwrap();
    let first = broker.receive_messages(&q, 10, NOW, None).await.unwrap();
    assert_eq!(bodies(&first), ["a"]);
    assert_eq!(first[0].attributes["ApproximateReceiveCount"], "1");
    assert!(
        broker
            .receive_messages(&q, 10, NOW, None)
            .await
            .unwrap()
            .is_empty()
    );
    sleep(Duration::from_secs(29)).await;
    assert!(
        broker
            .receive_messages(&q, 10, NOW, None)
            .await
            .unwrap()
            .is_empty()
    );
    sleep(Duration::from_secs(1)).await;
    let again = broker.receive_messages(&q, 10, NOW, None).await.unwrap();
    assert_eq!(again[0].attributes["ApproximateReceiveCount"], "2");
    assert_eq!(again[0].message_id, first[0].message_id);
    // The first receipt handle is stale now.
    let stale = broker
        .delete(&q, first[0].receipt_handle.as_deref().unwrap())
        .unwrap_err();
    assert_eq!(stale.kind, PortErrorKind::Rejected);
    broker
        .delete(&q, again[0].receipt_handle.as_deref().unwrap())
        .unwrap();
    assert_eq!(broker.depth(&q).unwrap().total(), 0);
}

#[tokio::test(start_paused = true)]
async fn records_look_like_the_ones_lambda_builds() {
    let broker = Broker::new();
    let q = queue(&broker, "orders", 30);
    broker
        .send(&q, &message("{\"x\":1}").with_attribute("CorrelationId", "c-1"))
        .unwrap();
    let r = &broker.receive_messages(&q, 1, NOW, None).await.unwrap()[0];
    assert_eq!(r.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(
        r.event_source_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:000000000000:orders")
    );
    assert_eq!(
        r.message_attributes["CorrelationId"].string_value.as_deref(),
        Some("c-1")
    );
    assert_eq!(
        r.message_attributes["CorrelationId"].data_type.as_deref(),
        Some("String")
    );
    for name in [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ] {
        assert!(r.attributes.contains_key(name), "{name}");
    }
    // MD5 of `{"x":1}`.
    assert_eq!(r.md5_of_body.as_deref(), Some("ac3ef48caa08fa3ed5e025da69edc645"));
}

#[tokio::test(start_paused = true)]
async fn a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue() {
    let broker = Broker::new();
    let dlq = queue(&broker, "work-dlq", 30);
    let q = broker.create_queue(QueueSettings {
        visibility_timeout: Duration::from_secs(10),
        redrive: Some(Redrive {
            dead_letter_queue_url: dlq.clone(),
            max_receive_count: 2,
        }),
        ..QueueSettings::new("work")
    });
    broker
        .send(&q, &message("poison").with_attribute("CorrelationId", "c-9"))
        .unwrap();
    for _ in 0..2 {
        assert_eq!(broker.receive_messages(&q, 10, NOW, None).await.unwrap().len(), 1);
        sleep(Duration::from_secs(10)).await;
    }
    assert!(
        broker
            .receive_messages(&q, 10, NOW, None)
            .await
            .unwrap()
            .is_empty(),
        "moved, not delivered"
    );
    let dead = broker.receive_messages(&dlq, 10, NOW, None).await.unwrap();
    assert_eq!(bodies(&dead), ["poison"]);
    assert_eq!(
        dead[0].message_attributes["CorrelationId"]
            .string_value
            .as_deref(),
        Some("c-9")
    );
    assert_eq!(broker.counters(&q).unwrap().dead_lettered, 1);
}

#[tokio::test(start_paused = true)]
async fn delayed_messages_wait_and_long_polls_wake_on_arrival() {
    let broker = Broker::new();
    let q = queue(&broker, "work", 30);
    let mut delayed = message("later");
    delayed.delay_seconds = Some(5);
    broker.send(&q, &delayed).unwrap();
    assert_eq!(broker.depth(&q).unwrap().delayed, 1);
    let started = Instant::now();
    let got = broker
        .receive_messages(&q, 10, Duration::from_secs(20), None)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["later"]);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(5),
        "the long poll returned when the delay ended"
    );

    let waiter = {
        let broker = broker.clone();
        let q = q.clone();
        tokio::spawn(async move {
            broker
                .receive_messages(&q, 10, Duration::from_secs(20), None)
                .await
        })
    };
    sleep(Duration::from_secs(3)).await;
    broker.send(&q, &message("now")).unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(bodies(&got), ["now"]);
    let empty_started = Instant::now();
    assert!(
        broker
            .receive_messages(&q, 10, Duration::from_secs(20), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        empty_started.elapsed(),
        Duration::from_secs(20),
        "an empty long poll waits it out"
    );

    let mut too_long = message("x");
    too_long.delay_seconds = Some(901);
    assert_eq!(
        broker.send(&q, &too_long).unwrap_err().kind,
        PortErrorKind::Rejected
    );
}

#[tokio::test(start_paused = true)]
async fn messages_expire_after_the_retention_period() {
    let broker = Broker::new();
    let q = broker.create_queue(QueueSettings {
        retention: Duration::from_secs(60),
        ..QueueSettings::new("short")
    });
    broker.send(&q, &message("old")).unwrap();
    sleep(Duration::from_secs(61)).await;
    assert!(
        broker
            .receive_messages(&q, 10, NOW, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(broker.counters(&q).unwrap().expired, 1);
}

#[tokio::test(start_paused = true)]
async fn visibility_can_be_changed_and_zero_returns_the_message_at_once() {
    let broker = Broker::new();
    let q = queue(&broker, "work", 30);
    broker.send(&q, &message("a")).unwrap();
    let r = broker.receive_messages(&q, 1, NOW, None).await.unwrap();
    let handle = r[0].receipt_handle.clone().unwrap();
    broker
        .change_visibility(&q, &handle, Duration::from_secs(100))
        .unwrap();
    sleep(Duration::from_secs(60)).await;
    assert!(
        broker
            .receive_messages(&q, 1, NOW, None)
            .await
            .unwrap()
            .is_empty(),
        "extended past 30 s"
    );
    broker.change_visibility(&q, &handle, Duration::ZERO).unwrap();
    assert_eq!(broker.receive_messages(&q, 1, NOW, None).await.unwrap().len(), 1);
    let bad = broker
        .change_visibility(&q, "nonsense", Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(bad.kind, PortErrorKind::Rejected);
    assert_eq!(
        broker
            .send("embedded://sqs/000000000000/missing", &message("x"))
            .unwrap_err()
            .kind,
        PortErrorKind::NotFound
    );
}

#[tokio::test(start_paused = true)]
async fn fifo_keeps_order_within_a_group_and_one_group_in_flight_at_a_time() {
    let broker = Broker::new();
    let q = queue(&broker, "work.fifo", 30);
    for (body, group) in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B")] {
        broker.send(&q, &fifo_message(body, group, body)).unwrap();
    }
    let first = broker.receive_messages(&q, 2, NOW, None).await.unwrap();
    assert_eq!(bodies(&first), ["a1", "a2"], "in order within the group");
    assert_eq!(first[0].attributes["MessageGroupId"], "A");
    let second = broker.receive_messages(&q, 10, NOW, None).await.unwrap();
    assert_eq!(
        bodies(&second),
        ["b1", "b2"],
        "group A is locked while a1 and a2 are in flight"
    );
    assert!(
        broker
            .receive_messages(&q, 10, NOW, None)
            .await
            .unwrap()
            .is_empty()
    );
    for r in &second {
        broker.delete(&q, r.receipt_handle.as_deref().unwrap()).unwrap();
    }
    broker
        .delete(&q, first[0].receipt_handle.as_deref().unwrap())
        .unwrap();
    assert!(
        broker
            .receive_messages(&q, 10, NOW, None)
            .await
            .unwrap()
            .is_empty(),
        "a2 still in flight"
    );
    // a2 fails (not deleted): after its timeout, a2 comes back before a3.
    sleep(Duration::from_secs(30)).await;
    let retry = broker.receive_messages(&q, 10, NOW, None).await.unwrap();
    assert_eq!(&bodies(&retry)[..2], ["a2", "a3"]);
}

#[tokio::test(start_paused = true)]
async fn fifo_deduplicates_for_five_minutes_by_id_or_content() {
    let broker = Broker::new();
    let by_id = queue(&broker, "ids.fifo", 30);
    let id = broker.send(&by_id, &fifo_message("x", "g", "d-1")).unwrap();
    assert_eq!(
        broker.send(&by_id, &fifo_message("y", "g", "d-1")).unwrap(),
        id,
        "same ID, same message"
    );
    assert_eq!(broker.depth(&by_id).unwrap().total(), 1);
    sleep(Duration::from_secs(301)).await;
    broker.send(&by_id, &fifo_message("x", "g", "d-1")).unwrap();
    assert_eq!(broker.depth(&by_id).unwrap().total(), 2, "the window has passed");

    let by_content = broker.create_queue(QueueSettings {
        content_based_deduplication: true,
        ..QueueSettings::new("content.fifo")
    });
    let mut m = message("same body");
    m.group_id = Some("g".into());
    broker.send(&by_content, &m).unwrap();
    broker.send(&by_content, &m).unwrap();
    assert_eq!(broker.depth(&by_content).unwrap().total(), 1);
    assert_eq!(broker.counters(&by_content).unwrap().deduplicated, 1);

    let no_group = broker.send(&by_id, &message("z")).unwrap_err();
    assert_eq!(no_group.kind, PortErrorKind::Rejected);
}
