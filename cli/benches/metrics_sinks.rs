//! What publishing an invocation's metrics costs with each sink: Embedded
//! Metric Format lines against a `PutMetricData` call.
//!
//! The metrics are those of a real 100-record `inventory` invocation (the
//! generated workload, 5% invalid; the processor's metrics and the step's
//! `OrderValue` and `OrdersRejected`). EMF is timed writing to a sink (Lambda
//! hands stdout to its log agent); `PutMetricData` against the CloudWatch at
//! `ORDERFLOW_LOCALSTACK_URL` (LocalStack on loopback: its own processing, no
//! TLS and no network, so not a figure for AWS, where the call is a signed
//! HTTPS request to the regional endpoint). Prints the median and 99th
//! percentile of each, the bytes EMF writes, and what each costs per million
//! orders.
//!
//! `cargo bench -p orderflow --bench metrics_sinks` with LocalStack running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orderflow::workload::{WorkloadSpec, generate_event};
use orderflow_aws::wiring::Adapters;
use orderflow_batch::config::Env;
use orderflow_batch::metrics::{EmfMetrics, InvocationMetrics, MetricsSink};
use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext};
use orderflow_batch::sqs::SqsBatch;
use orderflow_batch::telemetry::MemoryWriter;
use orderflow_embedded::address::embedded_queue_url;
use orderflow_embedded::{
    InMemoryIdempotencyStore, InMemoryInventory, InMemoryMetrics, InMemoryOrderStore, InMemoryQueues,
};
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS};

/// Records a batch (the template's standard-queue batch size).
const RECORDS: usize = 100;
/// Publishes timed per sink.
const PUBLISHES: usize = 300;
/// CloudWatch's price of `PutMetricData`, dollars per 1,000 requests.
const PUT_METRIC_DATA_PER_1000: f64 = 0.01;
/// CloudWatch Logs' ingestion price, dollars per GB (the first tier).
const LOG_INGESTION_PER_GB: f64 = 0.50;

/// The metrics one 100-record inventory invocation publishes.
async fn inventory_invocation_metrics() -> InvocationMetrics {
    let spec = WorkloadSpec {
        records: RECORDS,
        invalid: 0.05,
        seed: 7,
        ..Default::default()
    };
    let mut bytes = Vec::new();
    generate_event(&spec, &mut bytes).expect("writing to memory");
    let event: SqsBatch = serde_json::from_slice(&bytes).expect("an SQS event");
    let metrics = Arc::new(InMemoryMetrics::new());
    let processor = BatchProcessor::new(
        BatchConfig {
            service: "inventory".into(),
            dead_letter_queue_url: Some(embedded_queue_url("orders-dlq")),
            ..Default::default()
        },
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::clone(&metrics) as _,
    );
    let orders = Arc::new(InMemoryOrderStore::new());
    // Little stock, so some orders are rejected and OrdersRejected is counted.
    let step = inventory::InventoryStep::new(
        Arc::new(InMemoryInventory::new(20)),
        orders,
        inventory::Routes {
            reserved: embedded_queue_url(INVENTORY).into(),
            rejected: embedded_queue_url(NOTIFICATIONS).into(),
        },
    );
    let context = InvocationContext::with_timeout("bench", Duration::from_secs(60));
    processor
        .handle(&event, &context, &step)
        .await
        .expect("a response");
    metrics.published().pop().expect("one invocation's metrics")
}

/// The median and 99th percentile of `samples`.
fn median_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

async fn time_publishes(sink: &dyn MetricsSink, metrics: &InvocationMetrics) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(PUBLISHES);
    for _ in 0..PUBLISHES {
        let started = Instant::now();
        sink.publish(metrics).await.expect("published");
        samples.push(started.elapsed());
    }
    samples
}

fn main() {
    let Ok(localstack) = std::env::var("ORDERFLOW_LOCALSTACK_URL") else {
        eprintln!(
            "metrics_sinks: set ORDERFLOW_LOCALSTACK_URL to a LocalStack with CloudWatch (tests/run.sh starts one)"
        );
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let metrics = inventory_invocation_metrics().await;
        let step_values: usize = metrics.steps.iter().map(|s| s.values.len()).sum();

        let written = MemoryWriter::default();
        EmfMetrics::new("Orderflow", Box::new(written.clone()))
            .publish(&metrics)
            .await
            .expect("written");
        let text = written.contents();
        let emf_bytes = text.len();
        let emf_lines = text.lines().count();
        let emf = EmfMetrics::new("Orderflow", Box::new(std::io::sink()));
        let (emf_median, emf_p99) = median_p99(time_publishes(&emf, &metrics).await);

        let env = Env::from_pairs([
            ("ORDERFLOW_ADAPTERS", "embedded"),
            ("METRICS_SINK", "cloudwatch"),
            ("METRICS_NAMESPACE", "OrderflowBench"),
        ]);
        let adapters = Adapters::from_env_at(&env, Some(&localstack))
            .await
            .expect("CloudWatch adapters");
        let (put_median, put_p99) = median_p99(time_publishes(&*adapters.metrics, &metrics).await);

        println!(
            "one {RECORDS}-record inventory invocation: {} processed, {} step values in {} series",
            metrics.processed,
            step_values,
            metrics.steps.len()
        );
        println!(
            "EMF:           median {:>9.1} us, p99 {:>9.1} us; {emf_lines} lines, {emf_bytes} bytes",
            emf_median.as_secs_f64() * 1e6,
            emf_p99.as_secs_f64() * 1e6
        );
        println!(
            "PutMetricData: median {:>9.1} us, p99 {:>9.1} us (LocalStack on loopback, not AWS); 1 call",
            put_median.as_secs_f64() * 1e6,
            put_p99.as_secs_f64() * 1e6
        );
        // Per million orders, each published by the three consumers, in full batches.
        let invocations = 3.0 * 1e6 / RECORDS as f64;
        println!(
            "per million orders ({invocations:.0} invocations of {RECORDS} records): PutMetricData ${:.2} in requests; EMF ${:.3} in log ingestion ({:.0} MB)",
            invocations / 1000.0 * PUT_METRIC_DATA_PER_1000,
            invocations * emf_bytes as f64 / 1e9 * LOG_INGESTION_PER_GB,
            invocations * emf_bytes as f64 / 1e6
        );
    });
}
