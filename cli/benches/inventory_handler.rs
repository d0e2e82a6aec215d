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
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use orderflow::workload::{WorkloadSpec, generate_event};
use orderflow_batch::metrics::NoMetrics;
use orderflow_batch::processor::{BatchConfig, BatchProcessor, InvocationContext};
use orderflow_batch::sqs::SqsBatch;
use orderflow_embedded::address::embedded_queue_url;
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryInventory, InMemoryOrderStore, InMemoryQueues};
use orderflow_orders::pipeline::{INVENTORY, NOTIFICATIONS};

/// mimalloc (as in the binaries), counting live and peak bytes and
/// allocations (a figure that, unlike time, does not vary with the machine's
/// load) while [`COUNTING`] is on. Off, it costs one relaxed load: counting
/// takes three atomic read-modify-writes an allocation, which would add a
/// quarter to the handler's time.
struct CountingAllocator;

/// Whether allocations are counted; on only for the heap measurement.
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed since counting began (negative when
/// more older memory was freed than new memory allocated).
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(isize::try_from(bytes).unwrap_or(isize::MAX), Ordering::Relaxed);
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to mimalloc.
        let ptr = unsafe { MiMalloc.alloc(layout) };
        if !ptr.is_null() && COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to mimalloc.
        unsafe { MiMalloc.dealloc(ptr, layout) };
        if COUNTING.load(Ordering::Relaxed) {
            shrank(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to mimalloc.
        let new = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !new.is_null() && COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
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

/// The step as deployed: each reservation recorded on the order of record.
/// `ORDERFLOW_BENCH_ORDER_STORE=off` leaves the in-memory order store out of
/// the reservation, to tell its own bookkeeping (a deployed function leaves
/// that to DynamoDB, in the reservation's transaction) from the handler's cost.
fn step() -> inventory::InventoryStep {
    let orders = Arc::new(InMemoryOrderStore::new());
    let stock = InMemoryInventory::new(1_000_000);
    let stock = match std::env::var("ORDERFLOW_BENCH_ORDER_STORE").as_deref() {
        Ok("off") => stock,
        _ => stock.with_orders(Arc::clone(&orders) as _),
    };
    inventory::InventoryStep::new(
        Arc::new(stock),
        orders,
        inventory::Routes {
            reserved: embedded_queue_url(INVENTORY).into(),
            rejected: embedded_queue_url(NOTIFICATIONS).into(),
        },
    )
}

/// Decodes the event, handles it, and encodes the response: what one
/// invocation does. Returns the records and the response's length.
async fn invoke(bytes: &[u8], processor: &BatchProcessor, step: &inventory::InventoryStep) -> (usize, usize) {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    let event: SqsBatch = serde_json::from_str(text).expect("an SQS event");
    let context = InvocationContext::with_timeout("bench", Duration::from_secs(900));
    let response = processor
        .handle(&event, &context, step)
        .await
        .expect("a response");
    let encoded = serde_json::to_vec(&response).expect("encodable").len();
    (event.records.len(), encoded)
}

/// Info-level JSON logs exactly as in Lambda, written to a sink so the terminal is not measured.
fn install_logs() {
    let subscriber =
        orderflow_batch::telemetry::json_subscriber("info".parse().expect("a level"), std::io::sink);
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

/// Prints the peak heap and the allocations of one whole invocation (decode,
/// handle, encode), over what was live before it.
fn print_heap_of_one_invocation(bytes: &[u8], runtime: &tokio::runtime::Runtime) {
    let (processor, step) = (processor(), step());
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let (records, failures_json) = runtime.block_on(invoke(bytes, &processor, &step));
    COUNTING.store(false, Ordering::Relaxed);
    let peak = PEAK.load(Ordering::Relaxed).max(0) as f64;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) as f64;
    println!(
        "inventory: {records} records, event {:.2} MB, peak heap during one invocation {:.2} MB ({:.2}x the event), {:.1} allocations (and reallocations) a record, response {failures_json} bytes",
        bytes.len() as f64 / 1e6,
        peak / 1e6,
        peak / bytes.len() as f64,
        allocations / records as f64
    );
}

fn bench(c: &mut Criterion) {
    let (bytes, event, runtime) = setup();
    let records = event.records.len() as u64;

    print_heap_of_one_invocation(&bytes, &runtime);

    // Thread CPU time, not wall time: the runtime is single-threaded, so this is
    // all the work, and it holds up on a shared machine.
    let mut group = c.benchmark_group("inventory (thread CPU time)");
    group.throughput(Throughput::Elements(records));
    group.sample_size(20);
    group.bench_function("handler", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| time_handler(&event, &runtime)).sum())
    });
    group.bench_function("decode+handler+encode", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| time_invocation(&bytes, &runtime)).sum())
    });
    group.finish();
}

/// The CPU time of one handler run on the decoded event, with fresh stores
/// (the response is dropped outside the measurement).
fn time_handler(event: &SqsBatch, runtime: &tokio::runtime::Runtime) -> Duration {
    let (processor, step) = (processor(), step());
    let context = InvocationContext::with_timeout("bench", Duration::from_secs(900));
    let started = thread_cpu_time();
    let response = runtime.block_on(processor.handle(event, &context, &step));
    let spent = thread_cpu_time().saturating_sub(started);
    drop(std::hint::black_box(response));
    spent
}

/// The CPU time of one whole invocation (decode, handle, encode) with fresh stores.
fn time_invocation(bytes: &[u8], runtime: &tokio::runtime::Runtime) -> Duration {
    let (processor, step) = (processor(), step());
    let started = thread_cpu_time();
    std::hint::black_box(runtime.block_on(invoke(bytes, &processor, &step)));
    thread_cpu_time().saturating_sub(started)
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
/// runs, to count the handler's instructions (which do not vary at all):
/// `2n + 1` invocations (one for the heap figures) of the event's records.
fn runs(n: usize) {
    let (bytes, event, runtime) = setup();
    print_heap_of_one_invocation(&bytes, &runtime);
    let records = event.records.len() as f64;
    let per_record = |mut times: Vec<Duration>| {
        times.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6 / records;
        (us(times[0]), us(times[times.len() / 2]))
    };
    let handler: Vec<Duration> = (0..n).map(|_| time_handler(&event, &runtime)).collect();
    let whole: Vec<Duration> = (0..n).map(|_| time_invocation(&bytes, &runtime)).collect();
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
