//! `orderflow`: run the pipeline's functions locally, produce orders, redrive DLQs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use orderflow::consume::{ConsumeSpec, DEFAULT_CONCURRENCY, consume};
use orderflow::invoke::{Function, Instance, lambda_response, read_event, summary};
use orderflow::ranges::{Fraction, WholeNumber};
use orderflow::redrive::{RedriveMode, RedriveSpec, redrive};
use orderflow::run::{RunSpec, run};
use orderflow::send::{SendSpec, send_orders};
use orderflow::sqs_client;
use orderflow::status::{StatusError, history_text, order_status};
use orderflow::workload::{WorkloadSpec, generate_event};
use orderflow_aws::orders_table::DynamoOrderStore;
use orderflow_aws::sqs::SqsQueues;
use orderflow_batch::config::Env;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "orderflow",
    version,
    about = "Run orderflow's SQS consumer functions locally or as long-running consumers, send orders to a queue, redrive a DLQ"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one function's handler on event files, in order, on one instance
    /// with embedded adapters whose state the runs share, and print the JSON
    /// response Lambda would return for each, one per line.
    Invoke {
        /// The function.
        function: Function,
        /// SQS events (JSON) for the consumers, e.g. events/inventory-all-valid.json;
        /// API Gateway HTTP API requests (payload format 2.0) for order-api, e.g.
        /// events/order-api-valid.json; DynamoDB Streams events for order-relay.
        #[arg(required = true)]
        events: Vec<PathBuf>,
    },
    /// Run the whole pipeline (orders -> inventory -> shipping -> notification)
    /// with faults, and account for every order. Embedded queues and a paused
    /// clock by default; --endpoint-url runs against SQS/DynamoDB in real time.
    /// Exits 1 when any order is lost or a valid order was dead-lettered.
    Run(RunSpec),
    /// Write an SQS event of OrderCreated messages (for benchmarks and load) to stdout.
    GenerateEvent(WorkloadSpec),
    /// Send generated OrderCreated messages to a queue: one SendMessage per
    /// order, or ten per SendMessageBatch with --batch. Exits non-zero when any
    /// order could not be sent.
    Send(SendArgs),
    /// Move a dead-letter queue's messages back to their source queue after a
    /// fix: SQS's message-move task where the endpoint offers it, else receive,
    /// send, then delete (a crash duplicates a message, never loses it).
    /// Exits non-zero unless every message moved and left the DLQ.
    Redrive(RedriveArgs),
    /// Consume a queue with a function's handler until SIGINT or SIGTERM, outside
    /// Lambda (e.g. in a container).
    ///
    /// Reads the function's environment as its Lambda does (IDEMPOTENCY_TABLE, NOTIFICATIONS_QUEUE_URL, DLQ_URL, ...).
    /// On a signal: stops receiving, lets in-flight batches finish for up to
    /// 30 s, leaves the rest to the queue, prints a summary, exits 0. A long
    /// poll waiting at the signal runs out (up to 20 s, meanwhile), and what it
    /// receives goes back to the queue at once, unprocessed.
    /// Configuration errors exit 2.
    Consume(ConsumeArgs),
    /// Print an order's status and history from the orders table. Exits 1
    /// when no order has the ID, 2 when no order can have it.
    Status(StatusArgs),
    /// Dead-letter queues: see what one holds before deciding to redrive it.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Read a DLQ without consuming it (every message is visible again at
    /// once), group its messages by ErrorCode (RetriesExhausted ones by their
    /// last error too), and show samples: message ID, order ID, correlation
    /// ID, when it failed, the error. Exits 1 when the queue cannot be read.
    Inspect(DlqInspectArgs),
}

#[derive(Args)]
struct DlqInspectArgs {
    /// The dead-letter queue's URL.
    #[arg(long)]
    dlq: String,
    /// Samples shown for each reason.
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// An endpoint that speaks SQS (a local server); credentials default to dummy ones.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StatusArgs {
    /// The order's ID.
    order_id: String,
    /// The orders table (the stack's OrdersTableName output).
    #[arg(long, env = "ORDERS_TABLE")]
    table: String,
    /// An endpoint that speaks DynamoDB (a local server); credentials default to dummy ones.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Print the order as GET /orders/{orderId} answers it, on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ConsumeArgs {
    /// The function whose handler runs.
    #[arg(long)]
    function: Function,
    /// The queue to consume (the function's source queue).
    #[arg(long)]
    queue_url: String,
    /// Batches (of up to 10 messages) processed at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY as u16, allow_negative_numbers = true,
          value_parser = WholeNumber::new(1, 1000).parser::<u16>())]
    concurrency: u16,
    /// An endpoint for every AWS service (a local server); credentials default to dummy ones.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Test only, hidden: hold each batch this long before its handler runs, so
    /// that the shutdown tests can send SIGTERM with work in flight.
    #[arg(long, hide = true)]
    simulate_latency_ms: Option<u64>,
}

#[derive(Args)]
struct SendArgs {
    /// The queue's URL (a `.fifo` URL gets customer IDs as message groups and
    /// order IDs as deduplication IDs).
    #[arg(long)]
    queue_url: String,
    /// Orders to send.
    #[arg(long)]
    count: usize,
    /// Send ten per SendMessageBatch call (failed entries resent alone).
    #[arg(long)]
    batch: bool,
    /// Fraction of orders whose body breaks one rule of the contract (0 to 1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = Fraction)]
    invalid: f64,
    /// Seed of the generated orders (order IDs are ord-<seed>-<n>); random when not given.
    #[arg(long)]
    seed: Option<u64>,
    /// Calls in flight at once (FIFO queues: always one, to keep each group's order).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = WholeNumber::new(1, 256).parser::<u16>())]
    concurrency: u16,
    /// An endpoint that speaks SQS (a local server); credentials default to dummy ones.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RedriveArgs {
    /// The dead-letter queue's URL.
    #[arg(long)]
    dlq: String,
    /// The URL of the queue to move the messages to (their source queue).
    #[arg(long)]
    to: String,
    /// Move at most this many messages (uses receive, send, delete).
    #[arg(long)]
    max: Option<u64>,
    /// auto: the message-move task when offered and no --max, else receive, send, delete.
    #[arg(long, value_enum, default_value_t = RedriveMode::Auto)]
    mode: RedriveMode,
    /// An endpoint that speaks SQS (a local server); credentials default to dummy ones.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// A report with the calls made, for `--json`.
#[derive(Serialize)]
struct WithCalls<'a, R: Serialize> {
    #[serde(flatten)]
    report: &'a R,
    calls: BTreeMap<String, usize>,
}

/// mimalloc: small allocations are most of the per-record work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Quiet by default: stdout is the response, stderr the summary. RUST_LOG=info shows each record.
    // A long-running consumer logs what it does.
    let (service, level) = match &cli.command {
        Command::Consume(args) => (args.function.name(), "info"),
        _ => ("orderflow", "error"),
    };
    orderflow_batch::telemetry::init(service, level);
    match cli.command {
        Command::Consume(args) => run_consume(args),
        Command::Invoke { function, events } => run_invoke(function, &events),
        Command::Run(spec) => run_pipeline(&spec),
        Command::Send(args) => report_failure(run_send(args)),
        Command::Redrive(args) => report_failure(run_redrive(args)),
        Command::Status(args) => report_failure(run_status(args)),
        Command::Dlq(DlqCommand::Inspect(args)) => report_failure(run_dlq_inspect(args)),
        Command::GenerateEvent(spec) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match generate_event(&spec, &mut out).and_then(|invalid| {
                std::io::Write::flush(&mut out)?;
                Ok(invalid)
            }) {
                Ok(invalid) => {
                    eprintln!("{} records, {} invalid", spec.records, invalid.len());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("orderflow: cannot write the event: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn run_invoke(function: Function, paths: &[PathBuf]) -> ExitCode {
    // Every file is read first: a bad one stops the run before anything runs.
    let mut events = Vec::with_capacity(paths.len());
    for path in paths {
        match read_event(function, path) {
            Ok(event) => events.push(event),
            Err(e) => {
                eprintln!("orderflow: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("orderflow: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let instance = Instance::new(function);
    let mut succeeded = true;
    for event in &events {
        let outcome = match runtime.block_on(instance.invoke(event)) {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("orderflow: {e}");
                return ExitCode::from(2);
            }
        };
        println!("{}", lambda_response(&outcome));
        eprintln!("{}", summary(function, &outcome));
        succeeded &= outcome.succeeded();
    }
    if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn report_failure(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("orderflow: {e:#}");
        ExitCode::FAILURE
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn run_send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let spec = SendSpec {
        count: args.count,
        batch: args.batch,
        invalid: args.invalid,
        seed: args
            .seed
            .unwrap_or_else(|| fastrand::u64(1..=u64::from(u32::MAX))),
        concurrency: usize::from(args.concurrency),
    };
    let (report, calls) = runtime()?.block_on(async {
        let (client, calls) = sqs_client(args.endpoint_url.as_deref()).await;
        let report = send_orders(&SqsQueues::new(client), &args.queue_url, &spec).await;
        (report, calls.counts())
    });
    eprintln!("{}", report.summary(&calls));
    if args.json {
        print_json(&WithCalls {
            report: &report,
            calls,
        })?;
    }
    Ok(if report.all_sent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let found = runtime()?.block_on(async {
        let config = match args.endpoint_url.as_deref() {
            Some(url) => orderflow_aws::load_sdk_config_for_endpoint(url).await,
            None => orderflow_aws::load_sdk_config().await,
        };
        let store = DynamoOrderStore::new(aws_sdk_dynamodb::Client::new(&config), &args.table);
        order_status(&store, &args.order_id).await
    });
    match found {
        Ok(record) if args.json => {
            print_json(&order_api::OrderView::of(&record))?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(record) => {
            print!("{}", history_text(&record));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("orderflow: {e}");
            Ok(match e {
                StatusError::NotFound(_) => ExitCode::FAILURE,
                StatusError::InvalidOrderId(_) => ExitCode::from(2),
                StatusError::Store(_) => ExitCode::FAILURE,
            })
        }
    }
}

fn run_consume(args: ConsumeArgs) -> ExitCode {
    let spec = ConsumeSpec {
        function: args.function,
        queue_url: args.queue_url,
        concurrency: usize::from(args.concurrency),
        endpoint_url: args.endpoint_url,
        simulated_latency: args.simulate_latency_ms.map(std::time::Duration::from_millis),
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("orderflow: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(consume(&spec, &Env::from_process()));
    // In-flight work abandoned by a second signal is not waited for.
    runtime.shutdown_background();
    match result {
        Ok(report) => {
            eprintln!("{}", report.summary());
            if args.json
                && let Err(e) = print_json(&report)
            {
                eprintln!("orderflow: cannot write the report: {e:#}");
                return ExitCode::FAILURE;
            }
            if report.forced {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("orderflow consume: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run_redrive(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let spec = RedriveSpec {
        max: args.max,
        mode: args.mode,
        ..RedriveSpec::default()
    };
    let (report, calls) = runtime()?.block_on(async {
        let (client, calls) = sqs_client(args.endpoint_url.as_deref()).await;
        let progress = |line: &str| eprintln!("{line}");
        let report = redrive(&SqsQueues::new(client), &args.dlq, &args.to, &spec, &progress).await;
        (report, calls.counts())
    });
    let report = report.context("redrive failed")?;
    eprintln!("{}", report.summary());
    if args.json {
        print_json(&WithCalls {
            report: &report,
            calls,
        })?;
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_dlq_inspect(args: DlqInspectArgs) -> anyhow::Result<ExitCode> {
    let report = runtime()?.block_on(async {
        let (client, _) = sqs_client(args.endpoint_url.as_deref()).await;
        let sqs = SqsQueues::new(client);
        orderflow::dlq::inspect(&sqs, &sqs, &args.dlq, args.samples).await
    });
    let report = report.context("cannot read the dead-letter queue")?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", report.text());
    }
    Ok(ExitCode::SUCCESS)
}

fn run_pipeline(spec: &RunSpec) -> ExitCode {
    orderflow::run::quiet_injected_crashes();
    // Embedded: one thread on a paused clock, so timeouts and backoffs take no real time.
    let runtime = match &spec.endpoint_url {
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build(),
        Some(_) => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("orderflow: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bar = if spec.json {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(spec.orders as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} orders accounted for ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    };
    let progress = |done: usize, total: usize| bar.set_position(done.min(total) as u64);
    let result = runtime.block_on(run(spec, &progress));
    bar.finish_and_clear();
    match result {
        Ok(summary) => {
            if spec.json {
                match serde_json::to_string_pretty(&summary) {
                    Ok(json) => println!("{json}"),
                    Err(e) => eprintln!("orderflow: cannot write the summary: {e}"),
                }
            } else {
                print!("{}", summary.table());
            }
            if summary.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("orderflow: {e}");
            ExitCode::from(2)
        }
    }
}
