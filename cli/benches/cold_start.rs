//! A function's cold start, as Lambda sees it: from starting the process to
//! its first request for work (init), and to its answer to the first event.
//!
//! The function binary runs against a minimal Lambda Runtime API served here
//! (one event, then the answer), with the embedded adapters so no AWS call
//! is timed. `ORDERFLOW_COLD_START_BIN` names the binary (default: the
//! release `inventory` in the target directory: `cargo build --release -p
//! inventory` first); `ORDERFLOW_COLD_START_EVENT` the event (default
//! `events/inventory-all-valid.json`); `ORDERFLOW_COLD_START_RUNS` how many
//! starts (default 30). Prints the fastest and median of each.
//!
//! `cargo bench -p orderflow --bench cold_start`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request: its request line and body.
struct Request {
    line: String,
    body: Vec<u8>,
}

/// Reads one request from a keep-alive connection; `None` when it closed.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        line: line.trim_end().to_owned(),
        body,
    })
}

fn respond(stream: &mut TcpStream, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("answer the runtime");
    stream.write_all(body).expect("answer the runtime");
}

/// One cold start: (init, first answer), both from spawning the process.
fn cold_start(binary: &PathBuf, event: &[u8]) -> (Duration, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("its address");
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "inventory")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/inventory")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start")
        .env("AWS_REGION", "us-east-1")
        .env("ORDERFLOW_ADAPTERS", "embedded")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let (stream, _) = listener.accept().expect("the runtime client connects");
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut stream = stream;
    let mut init = None;
    let answered = loop {
        let request = read_request(&mut reader).expect("a request before the answer");
        if request.line.contains("/invocation/next") {
            init.get_or_insert_with(|| started.elapsed());
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                + Duration::from_secs(30);
            respond(
                &mut stream,
                &[
                    ("Lambda-Runtime-Aws-Request-Id", "cold-start-1".to_owned()),
                    ("Lambda-Runtime-Deadline-Ms", deadline.as_millis().to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:inventory".to_owned(),
                    ),
                    ("Content-Type", "application/json".to_owned()),
                ],
                event,
            );
        } else if request.line.contains("/response") {
            let answered = started.elapsed();
            assert!(!request.body.is_empty(), "an answer");
            respond(&mut stream, &[], b"");
            break answered;
        } else if request.line.contains("/error") {
            panic!("the function failed: {}", String::from_utf8_lossy(&request.body));
        } else {
            respond(&mut stream, &[], b"");
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    (init.expect("asked for work"), answered)
}

fn fastest_and_median(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(samples[0]), ms(samples[samples.len() / 2]))
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = std::env::var_os("ORDERFLOW_COLD_START_BIN").map_or_else(
        || {
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
            target.join("release").join("inventory")
        },
        PathBuf::from,
    );
    if !binary.exists() {
        eprintln!(
            "cold_start: no {} (cargo build --release -p inventory, or set ORDERFLOW_COLD_START_BIN)",
            binary.display()
        );
        std::process::exit(2);
    }
    let event_path = std::env::var_os("ORDERFLOW_COLD_START_EVENT").map_or_else(
        || root.join("events").join("inventory-all-valid.json"),
        PathBuf::from,
    );
    let event = std::fs::read(&event_path).unwrap_or_else(|e| panic!("{}: {e}", event_path.display()));
    let runs: usize = std::env::var("ORDERFLOW_COLD_START_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(30);
    let (inits, answers): (Vec<Duration>, Vec<Duration>) =
        (0..runs).map(|_| cold_start(&binary, &event)).unzip();
    let (init_fastest, init_median) = fastest_and_median(inits);
    let (answer_fastest, answer_median) = fastest_and_median(answers);
    println!(
        "{} cold starts of {}: init (start to first request for work) fastest {init_fastest:.2} ms, median {init_median:.2} ms; first answer fastest {answer_fastest:.2} ms, median {answer_median:.2} ms",
        runs,
        binary.display()
    );
}
