//! The `orderflow` binary end to end: `send` and `redrive` as processes
//! against moto, with their exit codes, JSON reports and summaries.

use std::process::{Command, Output};
use std::time::Duration;

use orderflow_tests::{
    create_queue, create_queue_with_dlq, dynamodb_endpoint, moto, receive_all, sdk_config, unique,
};

fn orderflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .args(["--endpoint-url", &moto().url, "--json"])
        // The dummy credentials --endpoint-url falls back to.
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("run orderflow")
}

fn report(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {}\nstderr {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test]
async fn send_then_redrive_as_processes() {
    let client = aws_sdk_sqs::Client::new(&sdk_config(moto()).await);
    let (queue, dlq) = create_queue_with_dlq(&client, &unique("cli-orders"), 3).await;

    // Orders land in the DLQ as if they had failed, then go back to their queue.
    let sent = orderflow(&[
        "send",
        "--queue-url",
        &dlq.url,
        "--count",
        "12",
        "--batch",
        "--seed",
        "5",
    ]);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let json = report(&sent);
    assert_eq!(
        (json["sent"].as_u64(), json["failed"].as_u64()),
        (Some(12), Some(0))
    );
    assert_eq!(json["calls"]["SendMessageBatch"], 2);
    let summary = String::from_utf8_lossy(&sent.stderr);
    assert!(summary.starts_with("sent 12 of 12 orders (batch)"), "{summary}");

    let moved = orderflow(&["redrive", "--dlq", &dlq.url, "--to", &queue.url]);
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let json = report(&moved);
    assert_eq!(json["method"], "receive");
    assert_eq!(
        (json["received"].as_u64(), json["moved"].as_u64()),
        (Some(12), Some(12))
    );
    let arrived = receive_all(&client, &queue, 13, Duration::from_secs(3)).await;
    assert_eq!(arrived.len(), 12);
}

#[tokio::test]
async fn failures_exit_non_zero() {
    let client = aws_sdk_sqs::Client::new(&sdk_config(moto()).await);
    let missing = format!("{}/123456789012/{}", moto().url, unique("missing"));
    let failed = orderflow(&["send", "--queue-url", &missing, "--count", "3"]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(report(&failed)["failed"], 3);
    assert!(String::from_utf8_lossy(&failed.stderr).contains("3 x SendMessage failed (NotFound)"));

    let dlq = create_queue(&client, &unique("cli-dlq"), &[]).await;
    let sent = orderflow(&["send", "--queue-url", &dlq.url, "--count", "2"]);
    assert!(sent.status.success());
    let stuck = orderflow(&[
        "redrive", "--dlq", &dlq.url, "--to", &missing, "--mode", "receive",
    ]);
    assert_eq!(stuck.status.code(), Some(1));
    assert_eq!(report(&stuck)["failedToSend"], 2);

    let usage = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args([
            "send",
            "--queue-url",
            &dlq.url,
            "--count",
            "2",
            "--invalid",
            "1.5",
        ])
        .output()
        .expect("run orderflow");
    assert_eq!(usage.status.code(), Some(2));
}

/// `orderflow status` against the DynamoDB server, without `--json`.
fn status(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg("status")
        .args(args)
        .args(["--endpoint-url", &dynamodb_endpoint().url])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("ORDERS_TABLE")
        .output()
        .expect("run orderflow")
}

#[tokio::test]
async fn status_prints_an_orders_history_from_the_table() {
    use orderflow_aws::orders_table::{DynamoOrderStore, create_orders_table};
    use orderflow_orders::order_record::{OrderStatus, Transition};
    use orderflow_orders::ports::OrderStore;

    let client = aws_sdk_dynamodb::Client::new(&sdk_config(dynamodb_endpoint()).await);
    let table = unique("cli-orders");
    create_orders_table(&client, &table).await.unwrap();
    let store = DynamoOrderStore::new(client, &table);
    let order = orderflow_orders::validation::decode_order_created(
        r#"{"orderId":"ord-7","customerId":"c-1","items":[{"sku":"A","quantity":1}],"totalAmount":1,
            "createdAt":"2026-11-05T10:00:00Z","correlationId":"corr-7"}"#,
        &(),
    )
    .unwrap();
    let at = time::macros::datetime!(2026-11-05 10:00:01 UTC);
    store
        .accept(&order, order.fingerprint(), &Transition::accepted(at))
        .await
        .unwrap();
    let rejected = Transition::new(
        OrderStatus::Rejected,
        time::macros::datetime!(2026-11-05 10:00:02 UTC),
    )
    .with("shortSkus", "A");
    store.record("ord-7", &rejected).await.unwrap();

    let shown = status(&["ord-7", "--table", &table]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        "ord-7  REJECTED  (correlation ID corr-7)\n  \
         2026-11-05T10:00:01Z  ACCEPTED\n  \
         2026-11-05T10:00:02Z  REJECTED   shortSkus=A\n"
    );
    let json = status(&["ord-7", "--table", &table, "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(view["status"], "REJECTED");
    assert_eq!(view["history"][1]["details"]["shortSkus"], "A");

    let missing = status(&["ord-8", "--table", &table]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no order has ID ord-8"));
    let invalid = status(&["ord 8", "--table", &table]);
    assert_eq!(invalid.status.code(), Some(2));
}

#[tokio::test]
async fn dlq_inspect_groups_by_reason_and_leaves_every_message_visible() {
    use aws_sdk_sqs::types::MessageAttributeValue;
    let client = aws_sdk_sqs::Client::new(&sdk_config(moto()).await);
    let dlq = create_queue(&client, &unique("cli-inspect-dlq"), &[]).await;
    let letters: [(&str, &[(&str, &str)]); 5] = [
        (
            r#"{"orderId":"ord-1"}"#,
            &[("ErrorCode", "ValidationFailed"), ("CorrelationId", "c-1")],
        ),
        (r#"{"orderId":"ord-2"}"#, &[("ErrorCode", "ValidationFailed")]),
        (r#"{"orderId":"ord-3"}"#, &[("ErrorCode", "ValidationFailed")]),
        (
            r#"{"orderId":"ord-4"}"#,
            &[("ErrorCode", "RetriesExhausted"), ("LastErrorCode", "Throttled")],
        ),
        ("moved by the redrive", &[]),
    ];
    for (body, attributes) in letters {
        let mut send = client.send_message().queue_url(&dlq.url).message_body(body);
        for (name, value) in attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(*value)
                .build()
                .expect("an attribute");
            send = send.message_attributes(*name, value);
        }
        send.send().await.expect("a dead letter");
    }
    let output = orderflow(&["dlq", "inspect", "--dlq", &dlq.url, "--samples", "2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspected = report(&output);
    assert_eq!(inspected["messages"], 5, "{inspected}");
    let groups: Vec<(String, u64, usize)> = inspected["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["errorCode"].as_str().unwrap_or_default().to_owned(),
                g["messages"].as_u64().unwrap_or_default(),
                g["samples"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("ValidationFailed".to_owned(), 3, 2),
            ("RetriesExhausted".to_owned(), 1, 1),
            ("maxReceiveCount".to_owned(), 1, 1)
        ]
    );
    assert_eq!(inspected["groups"][0]["samples"][0]["orderId"], "ord-1");
    assert_eq!(inspected["groups"][0]["samples"][0]["correlationId"], "c-1");
    assert_eq!(inspected["groups"][1]["lastErrorCodes"]["Throttled"], 1);
    assert_eq!(
        orderflow_tests::visible_and_hidden(&client, &dlq.url).await,
        (5, 0),
        "nothing consumed, nothing left hidden"
    );
}
