//! The `inventory` handler with embedded adapters on a 5,000-record event
//! (about 1 KB a record, 5% invalid), on one core, with info-level JSON logs.
//!
//! `ORDERFLOW_BENCH_EVENT=<file>` measures that exact event file; otherwise the
//! event is generated in-process (`orderflow generate-event --records 5000
//! --invalid 0.05 --seed 7` writes the same one). Besides criterion's timings,
//! it prints the peak heap allocated while decoding and handling one event,
//! against the event's size, and the heap allocations a record.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use orderflow::workload::{WorkloadSpec, generate_event};
use orderflow_shared::batch::{BatchConfig, BatchProcessor, InvocationContext};
use orderflow_shared::memory::{InMemoryIdempotencyStore, InMemoryInventory, InMemoryQueues};
use orderflow_shared::metrics::NoMetrics;
use orderflow_shared::pipeline::{INVENTORY, NOTIFICATIONS, embedded_queue_url};
use orderflow_shared::sqs::SqsBatch;

/// mimalloc (as in the binaries), counting live and peak bytes and allocations
/// (a figure that, unlike time, does not vary with the machine's load).
struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to mimalloc.
        let ptr = unsafe { MiMalloc.alloc(layout) };
        if !ptr.is_null() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to mimalloc.
        unsafe { MiMalloc.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to mimalloc.
        let new = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            if new_size >= layout.size() {
                let live =
                    LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn event_bytes() -> Vec<u8> {
    match std::env::var("ORDERFLOW_BENCH_EVENT") {
        Ok(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("ORDERFLOW_BENCH_EVENT={path}: {e}")),
        Err(_) => {
            let spec = WorkloadSpec {
                records: 5000,
                invalid: 0.05,
                seed: 7,
                ..Default::default()
            };
            let mut out = Vec::new();
            generate_event(&spec, &mut out).expect("writing to memory");
            out
        }
    }
}

fn processor() -> BatchProcessor {
    BatchProcessor::new(
        BatchConfig {
            service: "inventory".into(),
            ..Default::default()
        },
        Arc::new(InMemoryQueues::new()),
        Arc::new(InMemoryIdempotencyStore::new()),
        Arc::new(NoMetrics),
    )
}

fn step() -> inventory::InventoryStep {
    inventory::InventoryStep::new(
        Arc::new(InMemoryInventory::new(1_000_000)),
        inventory::Routes {
            reserved: embedded_queue_url(INVENTORY).into(),
            rejected: embedded_queue_url(NOTIFICATIONS).into(),
        },
    )
}

/// Decodes the event, handles it, and encodes the response: what one invocation does.
async fn invoke(bytes: &[u8], processor: &BatchProcessor, step: &inventory::InventoryStep) -> usize {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    let event: SqsBatch = serde_json::from_str(text).expect("an SQS event");
    let context = InvocationContext::with_timeout("bench", Duration::from_secs(900));
    let response = processor
        .handle(&event, &context, step)
        .await
        .expect("a response");
    serde_json::to_vec(&response).expect("encodable").len()
}

/// Info-level JSON logs exactly as in Lambda, written to a sink so the terminal is not measured.
fn install_logs() {
    let subscriber =
        orderflow_shared::telemetry::json_subscriber("info".parse().expect("a level"), std::io::sink);
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
}

/// What every measurement starts from: logs installed, the event's bytes and
/// the event decoded once, and a single-threaded runtime (one core).
fn setup() -> (Vec<u8>, SqsBatch, tokio::runtime::Runtime) {
    install_logs();
    let bytes = event_bytes();
    let event: SqsBatch = serde_json::from_slice(&bytes).expect("an SQS event");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (bytes, event, runtime)
}

fn bench(c: &mut Criterion) {
    let (bytes, event, runtime) = setup();
    let records = event.records.len() as u64;

    // Peak heap and allocations of one whole invocation, over what was live before it.
    {
        let (processor, step) = (processor(), step());
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
        let failures_json = runtime.block_on(invoke(&bytes, &processor, &step));
        let peak = PEAK.load(Ordering::Relaxed) - before;
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
        println!(
            "inventory: {records} records, event {:.2} MB, peak heap during one invocation {:.2} MB ({:.2}x the event), {:.1} allocations (and reallocations) a record, response {failures_json} bytes",
            bytes.len() as f64 / 1e6,
            peak as f64 / 1e6,
            peak as f64 / bytes.len() as f64,
            allocations as f64 / records as f64
        );
    }

    // Thread CPU time, not wall time: the runtime is single-threaded, so this is
    // all the work, and it holds up on a shared machine.
    let mut group = c.benchmark_group("inventory (thread CPU time)");
    group.throughput(Throughput::Elements(records));
    group.sample_size(20);
    group.bench_function("handler", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (processor, step) = (processor(), step());
                let context = InvocationContext::with_timeout("bench", Duration::from_secs(900));
                let started = thread_cpu_time();
                let response = runtime.block_on(processor.handle(&event, &context, &step));
                total += thread_cpu_time().saturating_sub(started);
                drop(std::hint::black_box(response));
            }
            total
        })
    });
    group.bench_function("decode+handler+encode", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (processor, step) = (processor(), step());
                let started = thread_cpu_time();
                std::hint::black_box(runtime.block_on(invoke(&bytes, &processor, &step)));
                total += thread_cpu_time().saturating_sub(started);
            }
            total
        })
    });
    group.finish();
}

/// CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// `ORDERFLOW_BENCH_RUNS=<n>`: instead of criterion's statistics, the fastest
/// and the median of `n` runs of each measurement, per record: minimums hold
/// up on a shared machine where means drift with its load. Also what
/// `valgrind --tool=callgrind --toggle-collect='*BatchProcessor*handle*'`
/// runs, to count the handler's instructions (which do not vary at all).
fn runs(n: usize) {
    let (bytes, event, runtime) = setup();
    let records = event.records.len() as f64;
    let per_record = |mut times: Vec<Duration>| {
        times.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6 / records;
        (us(times[0]), us(times[times.len() / 2]))
    };
    let handler: Vec<Duration> = (0..n)
        .map(|_| {
            let (processor, step) = (processor(), step());
            let context = InvocationContext::with_timeout("bench", Duration::from_secs(900));
            let started = thread_cpu_time();
            let response = runtime.block_on(processor.handle(&event, &context, &step));
            let spent = thread_cpu_time().saturating_sub(started);
            drop(std::hint::black_box(response));
            spent
        })
        .collect();
    let whole: Vec<Duration> = (0..n)
        .map(|_| {
            let (processor, step) = (processor(), step());
            let started = thread_cpu_time();
            std::hint::black_box(runtime.block_on(invoke(&bytes, &processor, &step)));
            thread_cpu_time().saturating_sub(started)
        })
        .collect();
    let (fastest, median) = per_record(handler);
    println!("handler: fastest {fastest:.2} us a record, median {median:.2} us ({n} runs)");
    let (fastest, median) = per_record(whole);
    println!("decode+handler+encode: fastest {fastest:.2} us a record, median {median:.2} us ({n} runs)");
}

fn main() {
    if let Some(n) = std::env::var("ORDERFLOW_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        runs(n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

criterion_group!(benches, bench);
