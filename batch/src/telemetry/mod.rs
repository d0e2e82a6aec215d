//! Logging: JSON lines in Lambda, readable text locally.
//!
//! In Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) every line is a flat JSON object
//! in the keys Powertools' users query: `service`, `function_name`, the
//! invocation's `function_request_id`, `cold_start` and `xray_trace_id`
//! ([`invocation_span`]), and a record's `message_id` and `correlation_id`.
//! The level comes from `LOG_LEVEL` (Powertools' name, set by the user), else
//! `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else
//! `RUST_LOG`, else the given default; `LOG_SAMPLE_RATE` (0 to 1) logs that
//! fraction of invocations at debug level too ([`sampling`]).
//!
//! The JSON lines come from a layer, [`JsonLines`], on tracing-subscriber's
//! span registry: other layers (OpenTelemetry, X-Ray) stack beside it
//! (`registry().with(filter).with(json_layer(w)).with(their_layer)`).
//! The batch processor opens a span for every record, so the layer keeps a
//! span's fields as recorded and escapes them only when a line is written,
//! in buffers reused from closed spans. Filtering is by target and level
//! ([`Targets`]: `info`, `warn,orderflow_batch=debug`).
//!
//! An exporter of spans stacks on the same registry ([`init_with`]); what it
//! must send before Lambda freezes the environment it sends from the hook
//! registered with [`on_invocation_end`], which the Lambda loops call after
//! every invocation's span has closed.

mod event_fields;
mod invocation;
mod invocation_end;
mod json_lines;
mod memory_writer;
pub mod sampling;
mod span_fields;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt as _;

pub use invocation::{invocation_span, trace_root};
pub use invocation_end::{invocation_ended, on_invocation_end};
pub use json_lines::JsonLines;
pub use memory_writer::MemoryWriter;
pub use sampling::SampledTargets;

/// The keys and settings of a Lambda function's lines, from its environment.
#[derive(Clone, Debug, PartialEq)]
pub struct LambdaLogging {
    /// `service`: `POWERTOOLS_SERVICE_NAME`, else `SERVICE_NAME`, else the function's step.
    pub service: String,
    /// `function_name`: `AWS_LAMBDA_FUNCTION_NAME`, else the service.
    pub function_name: String,
    /// `LOG_SAMPLE_RATE`: the fraction of invocations logged at debug level.
    pub sample_rate: f64,
}

/// `LOG_SAMPLE_RATE` is set to something other than a number from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidSampleRate;

impl LambdaLogging {
    /// The settings from the process's environment, for the step `service`.
    pub fn from_env(service: &str) -> (Self, Option<InvalidSampleRate>) {
        Self::from_vars(service, |name| std::env::var(name).ok())
    }

    /// The settings from the variables `var` gives, for the step `service`;
    /// a `LOG_SAMPLE_RATE` that is not a number from 0 to 1 turns sampling
    /// off, and is reported so it can be logged.
    pub fn from_vars(
        service: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> (Self, Option<InvalidSampleRate>) {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let service = var("POWERTOOLS_SERVICE_NAME")
            .or_else(|| var("SERVICE_NAME"))
            .unwrap_or_else(|| service.to_owned());
        let (sample_rate, invalid) = match var("LOG_SAMPLE_RATE") {
            None => (0.0, None),
            Some(text) => match text.trim().parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => (rate, None),
                _ => (0.0, Some(InvalidSampleRate)),
            },
        };
        let logging = LambdaLogging {
            function_name: var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| service.clone()),
            service,
            sample_rate,
        };
        (logging, invalid)
    }
}

/// A layer to stack on the span registry beside the JSON lines: a span
/// exporter (OpenTelemetry's, built by `orderflow-otel`).
pub type RegistryLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

/// Installs the global subscriber once for the function (or command)
/// `service`; later calls do nothing.
pub fn init(service: &str, default_level: &str) {
    init_with(service, default_level, None);
}

/// [`init`], with `exporter` stacked beside the JSON lines in Lambda (the
/// local text format has no registry to stack it on).
pub fn init_with(service: &str, default_level: &str, exporter: Option<RegistryLayer>) {
    let level = std::env::var("LOG_LEVEL")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL"))
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_level.to_owned())
        .to_ascii_lowercase();
    // Lambda's levels include FATAL, which tracing calls ERROR.
    let level = if level == "fatal" {
        "error".to_owned()
    } else {
        level
    };
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json =
        in_lambda || std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Already initialised (tests, or a host program): keep that subscriber.
    if json {
        let filter = level
            .parse::<Targets>()
            .or_else(|_| default_level.parse())
            .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
        let (logging, invalid_rate) = LambdaLogging::from_env(service);
        sampling::set_sample_rate(logging.sample_rate);
        // Lambda captures stdout and stderr alike; stdout stays free for EMF metrics lines.
        let subscriber = lambda_subscriber(filter, std::io::stderr, &logging, exporter);
        let _ = tracing::subscriber::set_global_default(subscriber);
        if invalid_rate.is_some() {
            tracing::warn!(
                variable = "LOG_SAMPLE_RATE",
                "not a number from 0 to 1: no invocation is logged at debug level"
            );
        }
    } else {
        let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new(default_level));
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let _ = tracing::subscriber::set_global_default(text_subscriber(filter, std::io::stderr, ansi));
    }
}

/// The readable text subscriber [`init`] installs outside Lambda: compact
/// lines, each value bounded and its control characters escaped
/// ([`crate::log_value::text_fields`]), so a field cannot forge a line.
pub fn text_subscriber<W>(filter: EnvFilter, writer: W, ansi: bool) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(ansi)
        .with_writer(writer)
        .fmt_fields(crate::log_value::text_fields())
        .compact()
        .finish()
}

/// The JSON-lines subscriber [`init`] installs in Lambda: the span registry,
/// filtered by target and level, with the [`JsonLines`] layer. Public so
/// benchmarks and tests log exactly as Lambda does.
pub fn json_subscriber<W>(filter: Targets, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry()
        .with(filter)
        .with(json_layer(writer))
}

/// The subscriber [`init`] installs in Lambda: [`json_subscriber`]'s, with
/// `service` and `function_name` on every line and sampled debug logging,
/// and `exporter`, if any, beside the lines (the filter applies to both).
pub fn lambda_subscriber<W>(
    filter: Targets,
    writer: W,
    logging: &LambdaLogging,
    exporter: Option<RegistryLayer>,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry()
        .with(exporter)
        .with(SampledTargets::new(filter, logging.sample_rate > 0.0))
        .with(json_layer(writer).with_constant_fields(&[
            ("service", &logging.service),
            ("function_name", &logging.function_name),
        ]))
}

/// The [`JsonLines`] layer alone, to stack with other layers on a registry.
pub fn json_layer<W>(writer: W) -> JsonLines<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    JsonLines::new(writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_escapes_control_characters_in_every_field() {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let subscriber = text_subscriber(EnvFilter::new("info"), move || writer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            let forged = "c-1\r\n2026-12-05T00:00:00Z  INFO forged: everything is fine";
            let forged = forged.replace("\\r", "\r").replace("\\n", "\n");
            let span = tracing::info_span!("record", correlation_id = %forged, message_id = "m\u{7}1");
            span.in_scope(|| tracing::warn!(error = %"bad\nvalue", "record\rfailed"));
        });
        let text = lines.contents();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(!text.contains('\r') && !text.contains('\u{7}'), "{text:?}");
        assert!(text.contains("c-1\\r\\n2026"), "{text:?}");
        assert!(text.contains("bad\\nvalue"), "{text:?}");
    }

    #[test]
    fn every_logged_value_is_bounded_in_both_formats() {
        let huge = "E".repeat(300 * 1024);
        let json = MemoryWriter::default();
        let writer = json.clone();
        tracing::subscriber::with_default(
            json_subscriber("info".parse().unwrap(), move || writer.clone()),
            || {
                tracing::info_span!("record", eventType = %huge)
                    .in_scope(|| tracing::warn!(value = %huge, debug = ?huge, "{huge}"));
            },
        );
        let text = MemoryWriter::default();
        let writer = text.clone();
        tracing::subscriber::with_default(
            text_subscriber(EnvFilter::new("info"), move || writer.clone(), false),
            || {
                tracing::info_span!("record", eventType = %huge)
                    .in_scope(|| tracing::warn!(value = %huge, "{huge}"));
            },
        );
        for (format, out) in [("json", json.contents()), ("text", text.contents())] {
            assert_eq!(out.lines().count(), 1, "{format}");
            assert!(
                out.len() < 5 * crate::log_value::MAX_LOGGED_BYTES,
                "{format}: {} bytes",
                out.len()
            );
            assert!(out.contains("bytes cut)"), "{format}");
        }
    }

    #[test]
    fn lambda_lines_are_flat_with_the_spans_fields_and_the_level_filter() {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let subscriber = json_subscriber("info".parse().unwrap(), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("record", message_id = "m-1", correlation_id = "c-1");
            span.in_scope(|| {
                tracing::debug!("filtered out");
                tracing::warn!(code = "X", error = %"a \"quoted\"\nreason", "inside");
            });
            tracing::info!(count = 2u64, "outside");
            tracing::info_span!("empty").in_scope(|| tracing::error!(failed = true));
        });
        let text = lines.contents();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        let line = &lines[0];
        assert!(
            time::OffsetDateTime::parse(
                line["timestamp"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok(),
            "{line}"
        );
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "inside");
        assert_eq!(line["code"], "X");
        assert_eq!(line["error"], "a \"quoted\"\nreason");
        assert_eq!(line["message_id"], "m-1");
        assert_eq!(line["correlation_id"], "c-1");
        assert_eq!(
            (lines[1]["message"].as_str(), lines[1]["count"].as_u64()),
            (Some("outside"), Some(2))
        );
        assert!(lines[1].get("message_id").is_none(), "{}", lines[1]);
        assert_eq!(lines[2]["level"], "ERROR");
        assert_eq!(lines[2]["failed"], true);
        assert_eq!(lines[2].as_object().map(|o| o.len()), Some(3), "{}", lines[2]);
        assert!(
            line.get("fields").is_none() && line.get("spans").is_none(),
            "{line}"
        );
    }

    /// The lines written while `f` runs under a JSON subscriber with `filter`, parsed.
    fn lines_of(filter: &str, f: impl FnOnce()) -> Vec<serde_json::Value> {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let subscriber = json_subscriber(filter.parse().unwrap(), move || writer.clone());
        tracing::subscriber::with_default(subscriber, f);
        let text = lines.contents();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn span_fields_reach_lines_intact_and_later_values_are_added() {
        let lines = lines_of("info", || {
            let span = tracing::info_span!(
                "record",
                message_id = "m-1",
                correlation_id = "quote \" back\\slash \n tab\t \u{1}",
                count = 3u64,
                late = tracing::field::Empty
            );
            span.record("late", "filled");
            span.in_scope(|| tracing::warn!(code = "X", "inside"));
        });
        let span = &lines[0];
        assert_eq!(span["message_id"], "m-1");
        assert_eq!(span["correlation_id"], "quote \" back\\slash \n tab\t \u{1}");
        assert_eq!(span["count"], 3);
        assert_eq!(span["late"], "filled");
        assert_eq!(lines[0]["code"], "X");
    }

    #[test]
    fn span_fields_of_every_kind_are_written_as_json_values() {
        let lines = lines_of("info", || {
            let span = tracing::info_span!(
                "record",
                negative = -7i64,
                retried = true,
                ratio = 0.25f64,
                nan = f64::NAN,
                shown = %"display \"quoted\"",
                debugged = ?("tuple", 1),
            );
            span.in_scope(|| tracing::info!("inside"));
        });
        let span = &lines[0];
        assert_eq!(span["negative"], -7);
        assert_eq!(span["retried"], true);
        assert_eq!(span["ratio"], 0.25);
        assert_eq!(span["nan"], serde_json::Value::Null);
        assert_eq!(span["shown"], "display \"quoted\"");
        assert_eq!(span["debugged"], "(\"tuple\", 1)");
    }

    /// Counts the events and spans it sees: a layer stacked beside the JSON lines.
    #[derive(Clone, Default)]
    struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl<S: Subscriber> tracing_subscriber::Layer<S> for Counting {
        fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }

        fn on_new_span(
            &self,
            _: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn another_layer_stacks_on_the_json_lines() {
        let lines = MemoryWriter::default();
        let writer = lines.clone();
        let counting = Counting::default();
        let subscriber = tracing_subscriber::registry()
            .with("info".parse::<Targets>().unwrap())
            .with(json_layer(move || writer.clone()))
            .with(counting.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("record", message_id = "m-1").in_scope(|| {
                tracing::info!("one");
                tracing::debug!("filtered for both layers");
            });
            tracing::info!("two");
        });
        // One span and two events reached the other layer.
        assert_eq!(counting.0.load(std::sync::atomic::Ordering::Relaxed), 102);
        let text = lines.contents();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message_id"], "m-1");
        assert_eq!(lines[1]["message"], "two");
    }

    #[test]
    fn a_line_carries_every_enclosing_spans_fields_and_the_innermost_wins() {
        let lines = lines_of("info", || {
            let outer = tracing::info_span!("invocation", function_request_id = "r-1", shared = "outer");
            let _outer = outer.enter();
            tracing::info_span!("record", message_id = "m-1", shared = "inner")
                .in_scope(|| tracing::info!("in the record"));
            tracing::info!("between records");
            assert_eq!(
                tracing::Span::current().metadata().map(|m| m.name()),
                Some("invocation")
            );
        });
        assert_eq!(lines[0]["message_id"], "m-1");
        assert_eq!(lines[0]["function_request_id"], "r-1");
        assert_eq!(lines[0]["shared"], "inner");
        assert_eq!(lines[1]["function_request_id"], "r-1");
        assert_eq!(lines[1]["shared"], "outer");
        assert!(lines[1].get("message_id").is_none(), "{}", lines[1]);
    }

    #[test]
    fn a_closed_span_leaves_nothing_behind_for_the_next_one() {
        let lines = lines_of("info", || {
            for id in ["m-1", "m-2"] {
                let span = tracing::info_span!("record", message_id = id);
                let clone = span.clone();
                drop(span);
                clone.in_scope(|| tracing::info!("kept open by its clone"));
            }
            tracing::info_span!("record").in_scope(|| tracing::info!("no fields"));
        });
        assert_eq!(lines[0]["message_id"], "m-1");
        assert_eq!(lines[1]["message_id"], "m-2");
        assert!(lines[2].get("message_id").is_none(), "{}", lines[2]);
    }

    #[test]
    fn lambdas_keys_and_sample_rate_come_from_its_variables() {
        let vars = |pairs: Vec<(&'static str, String)>| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
        };
        let (logging, invalid) = LambdaLogging::from_vars("inventory", vars(Vec::new()));
        assert_eq!(
            (
                logging.service.as_str(),
                logging.function_name.as_str(),
                logging.sample_rate,
                invalid
            ),
            ("inventory", "inventory", 0.0, None)
        );
        let (logging, invalid) = LambdaLogging::from_vars(
            "inventory",
            vars(vec![
                ("POWERTOOLS_SERVICE_NAME", "stock".to_owned()),
                ("SERVICE_NAME", "ignored".to_owned()),
                ("AWS_LAMBDA_FUNCTION_NAME", "shop-inventory".to_owned()),
                ("LOG_SAMPLE_RATE", " 0.1 ".to_owned()),
            ]),
        );
        assert_eq!(
            (
                logging.service.as_str(),
                logging.function_name.as_str(),
                logging.sample_rate,
                invalid
            ),
            ("stock", "shop-inventory", 0.1, None)
        );
        for rate in ["1.5", "-0.1", "often", "NaN"] {
            let (logging, invalid) =
                LambdaLogging::from_vars("x", vars(vec![("LOG_SAMPLE_RATE", rate.to_owned())]));
            assert_eq!(
                (logging.sample_rate, invalid),
                (0.0, Some(InvalidSampleRate)),
                "{rate}"
            );
        }
    }

    #[test]
    fn targets_set_their_own_levels() {
        let lines = lines_of("warn,chatty=debug", || {
            tracing::debug!(target: "chatty", "kept");
            tracing::debug!(target: "quiet", "dropped");
            tracing::info!("dropped too");
            tracing::warn!("kept too");
        });
        let messages: Vec<&str> = lines.iter().map(|l| l["message"].as_str().unwrap()).collect();
        assert_eq!(messages, ["kept", "kept too"]);
    }
}
