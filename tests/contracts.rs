//! Every port's contract suite (`orderflow_tests::contracts`) against every
//! adapter of the port: the embedded ones in memory, the AWS ones on the
//! local servers (moto, LocalStack), which fail the test when they are missing.
//! One module per port, one test per adapter.

use orderflow_aws::dynamodb::{
    DynamoIdempotencyStore, DynamoInventory, EXPIRY_ATTRIBUTE, IDEMPOTENCY_KEY, INVENTORY_KEY, create_table,
};
use orderflow_tests::{dynamodb_endpoint, localstack, moto, sdk_config, unique};

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(dynamodb_endpoint()).await)
}

mod idempotency {
    use super::*;
    use orderflow_embedded::InMemoryIdempotencyStore;
    use orderflow_tests::contracts::idempotency::check;

    #[tokio::test]
    async fn embedded() {
        check(&InMemoryIdempotencyStore::new()).await;
    }

    #[tokio::test]
    async fn dynamodb_table() {
        let client = dynamodb().await;
        let table = unique("idempotency");
        create_table(&client, &table, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE))
            .await
            .unwrap();
        check(&DynamoIdempotencyStore::new(client, table)).await;
    }

    #[tokio::test]
    async fn redis() {
        let settings = orderflow_redis::RedisSettings {
            // A prefix of its own: the server may be shared with other tests.
            key_prefix: format!("{}:", unique("contract")),
            ..Default::default()
        };
        let store =
            orderflow_redis::RedisIdempotencyStore::connect(&orderflow_tests::redis_server().url, settings)
                .await
                .expect("a Redis");
        check(&store).await;
    }

    /// The least a Redis user needs, as the README's Deploy section gives it.
    const REDIS_ACL: &str = "~orderflow:* +ping +eval +hmget +hget +hset +expire +del";

    /// A Redis user allowed only the README's commands on `orderflow:` keys
    /// keeps the same contract, so a deployment can give the consumers no more.
    #[tokio::test]
    async fn redis_as_a_user_allowed_only_the_readmes_commands() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        assert!(
            readme.contains(REDIS_ACL),
            "the README gives the ACL `{REDIS_ACL}`"
        );
        let server = orderflow_tests::own_redis_server();
        let admin = redis::Client::open(server.url.as_str()).unwrap();
        let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
        let mut setuser = redis::cmd("ACL");
        setuser
            .arg("SETUSER")
            .arg("consumer")
            .arg("on")
            .arg(">consumer-password");
        for rule in REDIS_ACL.split(' ') {
            setuser.arg(rule);
        }
        let () = setuser.query_async(&mut admin).await.expect("ACL SETUSER");
        let url = server
            .url
            .replace("redis://", "redis://consumer:consumer-password@");
        let settings = orderflow_redis::RedisSettings {
            key_prefix: format!("orderflow:{}:", unique("acl")),
            ..Default::default()
        };
        let store = orderflow_redis::RedisIdempotencyStore::connect(&url, settings)
            .await
            .expect("a Redis user with the README's ACL");
        check(&store).await;
        // And the ACL holds: a key outside the prefix is refused.
        let outside = orderflow_redis::RedisIdempotencyStore::connect(
            &url,
            orderflow_redis::RedisSettings {
                key_prefix: "elsewhere:".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("connecting needs no key");
        assert!(
            orderflow_batch::ports::IdempotencyStore::release(&outside, "k")
                .await
                .is_err(),
            "keys outside orderflow: are refused"
        );
    }
}

mod inventory {
    use super::*;
    use orderflow_embedded::InMemoryInventory;
    use orderflow_tests::contracts::inventory::check;

    #[tokio::test]
    async fn embedded() {
        // No default stock: like a table, a SKU nobody stocked has none.
        let store = InMemoryInventory::new(0);
        check(&store, &store, None).await;
    }

    #[tokio::test]
    async fn embedded_with_orders() {
        let orders = std::sync::Arc::new(orderflow_embedded::InMemoryOrderStore::new());
        let store = InMemoryInventory::new(0).with_orders(std::sync::Arc::clone(&orders) as _);
        check(&store, &store, Some(&*orders)).await;
    }

    #[tokio::test]
    async fn dynamodb_table() {
        let client = dynamodb().await;
        let table = unique("inventory");
        create_table(&client, &table, INVENTORY_KEY, None).await.unwrap();
        let store = DynamoInventory::new(client, table);
        check(&store, &store, None).await;
    }

    #[tokio::test]
    async fn dynamodb_table_with_orders() {
        use orderflow_aws::orders_table::{DynamoOrderStore, create_orders_table};
        let client = dynamodb().await;
        let (table, orders) = (unique("inventory"), unique("orders"));
        create_table(&client, &table, INVENTORY_KEY, None).await.unwrap();
        create_orders_table(&client, &orders).await.unwrap();
        let store = DynamoInventory::new(client.clone(), table).with_orders_table(&orders);
        check(&store, &store, Some(&DynamoOrderStore::new(client, orders))).await;
    }
}

mod orders {
    use super::*;
    use orderflow_aws::orders_table::{DynamoOrderStore, ORDER_KEY};
    use orderflow_embedded::InMemoryOrderStore;
    use orderflow_tests::contracts::orders::check;

    #[tokio::test]
    async fn embedded() {
        check(&InMemoryOrderStore::new()).await;
    }

    #[tokio::test]
    async fn dynamodb_table() {
        let client = dynamodb().await;
        let table = unique("orders");
        create_table(&client, &table, ORDER_KEY, None).await.unwrap();
        check(&DynamoOrderStore::new(client, table)).await;
    }
}

mod queue {
    use super::*;
    use orderflow_aws::sqs::SqsQueues;
    use orderflow_embedded::InMemoryQueues;
    use orderflow_embedded::address::embedded_queue_url;
    use orderflow_embedded::broker::Broker;
    use orderflow_tests::contracts::queue::{
        BrokerHarness, RecordingHarness, SqsHarness, check, check_as_sqs,
    };

    #[tokio::test]
    async fn embedded_broker() {
        let broker = Broker::new();
        let harness = BrokerHarness(broker.clone());
        check(&broker, &harness).await;
        check_as_sqs(
            &broker,
            &broker,
            &harness,
            &embedded_queue_url(&unique("missing")),
        )
        .await;
    }

    #[tokio::test]
    async fn embedded_recording_queues() {
        let queues = InMemoryQueues::new();
        check(&queues, &RecordingHarness::new(&queues)).await;
    }

    #[tokio::test]
    async fn sqs() {
        let queues = SqsQueues::new(aws_sdk_sqs::Client::new(&sdk_config(moto()).await));
        let harness = SqsHarness(queues.clone());
        let missing = format!("{}/123456789012/{}", moto().url, unique("missing"));
        check(&queues, &harness).await;
        check_as_sqs(&queues, &queues, &harness, &missing).await;
    }
}

mod notifier {
    use super::*;
    use orderflow_aws::sns::SnsNotifier;
    use orderflow_aws::sqs::SqsQueues;
    use orderflow_embedded::InMemoryNotifier;
    use orderflow_tests::contracts::notifier::{EmbeddedReader, SnsReader, check, check_deduplication};

    #[tokio::test]
    async fn embedded() {
        let notifier = InMemoryNotifier::new();
        let reader = EmbeddedReader::new(&notifier);
        check(&notifier, &reader).await;
        check_deduplication(&notifier, &reader).await;
    }

    async fn sns_topic(fifo: bool) -> (SnsNotifier, SnsReader) {
        let config = sdk_config(moto()).await;
        let sns = aws_sdk_sns::Client::new(&config);
        let reader = SnsReader::create(&sns, SqsQueues::new(aws_sdk_sqs::Client::new(&config)), fifo).await;
        (SnsNotifier::new(sns, reader.topic_arn.clone()), reader)
    }

    #[tokio::test]
    async fn sns_topic_standard() {
        let (notifier, reader) = sns_topic(false).await;
        check(&notifier, &reader).await;
    }

    #[tokio::test]
    async fn sns_topic_fifo() {
        let (notifier, reader) = sns_topic(true).await;
        check(&notifier, &reader).await;
        check_deduplication(&notifier, &reader).await;
    }
}

mod metrics {
    use super::*;
    use orderflow_aws::cloudwatch::CloudWatchMetrics;
    use orderflow_batch::metrics::EmfMetrics;
    use orderflow_batch::telemetry::MemoryWriter;
    use orderflow_embedded::InMemoryMetrics;
    use orderflow_tests::contracts::metrics::{CloudWatchReader, EmbeddedReader, EmfReader, check};

    #[tokio::test]
    async fn embedded() {
        let sink = InMemoryMetrics::new();
        check(&sink, &EmbeddedReader(&sink)).await;
    }

    #[tokio::test]
    async fn embedded_metric_format() {
        let lines = MemoryWriter::default();
        let sink = EmfMetrics::new("Orderflow", Box::new(lines.clone()));
        check(
            &sink,
            &EmfReader {
                lines,
                namespace: "Orderflow".into(),
            },
        )
        .await;
    }

    #[tokio::test]
    async fn cloudwatch() {
        let client = aws_sdk_cloudwatch::Client::new(&sdk_config(localstack()).await);
        let namespace = unique("Orderflow");
        let sink = CloudWatchMetrics::new(client.clone(), namespace.clone());
        check(&sink, &CloudWatchReader { client, namespace }).await;
    }
}
