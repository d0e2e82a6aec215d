//! `orderflow`: run the pipeline's functions locally.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orderflow::invoke::{Function, invoke, lambda_response, read_event, summary};
use orderflow::workload::{WorkloadSpec, generate_event};

#[derive(Parser)]
#[command(name = "orderflow", version, about = "Run orderflow's functions locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one function's handler once on an event file, with embedded adapters,
    /// and print the JSON response Lambda would return.
    Invoke {
        /// The function.
        function: Function,
        /// An SQS event (JSON), e.g. events/inventory-all-valid.json; for order-api an
        /// API Gateway HTTP API request (payload format 2.0), e.g. events/order-api-valid.json.
        event: PathBuf,
    },
    /// Write an SQS event of OrderCreated messages (for benchmarks and load) to stdout.
    GenerateEvent(WorkloadSpec),
}

/// mimalloc: small allocations are most of the per-record work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Quiet by default: stdout is the response, stderr the summary. RUST_LOG=info shows each record.
    orderflow_shared::telemetry::init("error");
    match cli.command {
        Command::Invoke { function, event } => run_invoke(function, &event),
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

fn run_invoke(function: Function, path: &std::path::Path) -> ExitCode {
    let event = match read_event(function, path) {
        Ok(event) => event,
        Err(e) => {
            eprintln!("orderflow: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("orderflow: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match runtime.block_on(invoke(function, &event)) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("orderflow: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", lambda_response(&outcome));
    eprintln!("{}", summary(function, &outcome));
    if outcome.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
