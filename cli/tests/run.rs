//! `orderflow run --endpoint-url` against moto (a real SQS endpoint): what the
//! run leaves behind for people to inspect.

use aws_sdk_sqs::types::QueueAttributeName;
use orderflow::run::{RunSpec, run};
use orderflow_tests::{moto, sdk_config};

/// `ApproximateNumberOfMessages` and `ApproximateNumberOfMessagesNotVisible` (exact on moto).
async fn visible_and_hidden(client: &aws_sdk_sqs::Client, queue_name: &str) -> (usize, usize) {
    let url = client
        .get_queue_url()
        .queue_name(queue_name)
        .send()
        .await
        .expect("the DLQ's URL")
        .queue_url
        .expect("a URL");
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let count = |name: QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name:?} of {queue_name}"))
    };
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_visible_for_inspection_after_the_run() {
    let spec = RunSpec {
        poison_rate: 0.3,
        seed: 11,
        endpoint_url: Some(moto().url.clone()),
        max_seconds: 300,
        ..RunSpec::embedded(30)
    };
    orderflow::run::quiet_injected_crashes();
    let summary = run(&spec, &|_, _| {}).await.expect("the run starts");
    eprintln!("{}", summary.table());
    assert!(summary.succeeded(), "{}", summary.table());
    let orders_dlq = &summary.dead_letter_queues[0];
    assert!(
        orders_dlq.messages > 0,
        "poison orders were dead-lettered: {orders_dlq:?}"
    );

    // The run received every dead letter to count it; they are all back.
    let client = aws_sdk_sqs::Client::new(&sdk_config(moto()).await);
    assert_eq!(
        visible_and_hidden(&client, &orders_dlq.queue).await,
        (orders_dlq.messages, 0),
        "{orders_dlq:?}: visible and hidden"
    );
}
