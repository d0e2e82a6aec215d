//! `orderflow run --endpoint-url` against moto (a real SQS endpoint): what the
//! run leaves behind for people to inspect.

use orderflow::run::{Entry, RunSpec, run};
use orderflow_tests::{moto, sdk_config};

/// A queue's visible and in-flight messages, by its name.
async fn visible_and_hidden(client: &aws_sdk_sqs::Client, queue_name: &str) -> (u64, u64) {
    let url = client
        .get_queue_url()
        .queue_name(queue_name)
        .send()
        .await
        .expect("the DLQ's URL")
        .queue_url
        .expect("a URL");
    orderflow_tests::visible_and_hidden(client, &url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_visible_for_inspection_after_the_run() {
    let spec = RunSpec {
        poison_rate: 0.3,
        seed: 11,
        // Straight onto the queue: the API would refuse the poison orders.
        entry: Entry::Queue,
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
        (orders_dlq.messages as u64, 0),
        "{orders_dlq:?}: visible and hidden"
    );
}
