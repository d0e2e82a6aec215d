//! The `orderflow` binary refuses arguments out of range before doing
//! anything, with one message per kind of range whatever the command, naming
//! the flag and the rule (never echoing the value).

use std::process::{Command, Output};

fn orderflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .output()
        .expect("run orderflow")
}

/// Asserts a usage error (exit 2) whose message on stderr says `message`, with nothing on stdout.
fn assert_refused(args: &[&str], message: &str) {
    let output = orderflow(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(message),
        "{args:?}: expected {message:?} in {stderr}"
    );
    assert!(output.stdout.is_empty(), "{args:?} wrote to stdout");
}

const FRACTION: &str = "must be a fraction from 0 to 1";

#[test]
fn fractions_out_of_range_are_refused_by_every_command() {
    for value in ["2", "-1", "NaN", "inf", "1.0000001", "half"] {
        assert_refused(
            &["generate-event", "--records", "1", "--invalid", value],
            &format!("--invalid {FRACTION}"),
        );
    }
    // A negative value reaches the range check instead of being taken for a flag.
    for flag in ["--fail-rate", "--poison-rate", "--crash-rate"] {
        assert_refused(
            &["run", "--orders", "1", flag, "-0.1"],
            &format!("{flag} {FRACTION}"),
        );
    }
    assert_refused(
        &[
            "send",
            "--queue-url",
            "http://127.0.0.1:1/123456789012/q",
            "--count",
            "1",
            "--invalid",
            "1.5",
        ],
        &format!("--invalid {FRACTION}"),
    );
}

#[test]
fn fractions_in_range_are_taken() {
    for value in ["0", "1", "0.25"] {
        let output = orderflow(&["generate-event", "--records", "2", "--invalid", value]);
        assert!(
            output.status.success(),
            "--invalid {value}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn whole_numbers_out_of_range_are_refused_by_every_command() {
    for value in ["0", "-1", "1001", "2.5"] {
        assert_refused(
            &[
                "consume",
                "--function",
                "shipping",
                "--queue-url",
                "http://127.0.0.1:1/123456789012/q",
                "--concurrency",
                value,
            ],
            "--concurrency must be a whole number from 1 to 1000",
        );
    }
    assert_refused(
        &[
            "send",
            "--queue-url",
            "http://127.0.0.1:1/123456789012/q",
            "--count",
            "1",
            "--concurrency",
            "257",
        ],
        "--concurrency must be a whole number from 1 to 256",
    );
}

#[test]
fn run_refuses_visibility_timeouts_that_sqs_or_lambda_would_refuse() {
    for value in ["-1", "43201"] {
        assert_refused(
            &["run", "--orders", "10", "--visibility-timeout", value],
            "--visibility-timeout must be a whole number of seconds from 0 to 43200",
        );
    }
    // SQS takes these, but Lambda maps no queue whose messages come back while its function may still run.
    for value in ["0", "29"] {
        assert_refused(
            &["run", "--orders", "10", "--visibility-timeout", value],
            "--visibility-timeout must be at least the functions' timeout (30 seconds)",
        );
    }
    let output = orderflow(&["run", "--orders", "10", "--visibility-timeout", "30", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn run_refuses_an_idempotency_store_that_is_no_redis_url_without_repeating_it() {
    for value in ["http://:hunter2@127.0.0.1:6379", "rediss-typo://hunter2", ""] {
        assert_refused(
            &["run", "--orders", "10", "--idempotency", value],
            "--idempotency takes a Redis URL",
        );
        let output = orderflow(&["run", "--orders", "10", "--idempotency", value]);
        assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
    }
    // A TLS URL is taken; with nobody listening the run stops, saying so, not repeating it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let tls = format!("rediss://:hunter2@127.0.0.1:{closed}");
    let output = orderflow(&["run", "--orders", "10", "--idempotency", &tls]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("no Redis answered") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}
