//! The `orderflow` binary end to end: `send` and `redrive` as processes
//! against moto, with their exit codes, JSON reports and summaries.

use std::process::{Command, Output};
use std::time::Duration;

use orderflow_tests::{create_queue, create_queue_with_dlq, moto, receive_all, sdk_config, unique};

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
