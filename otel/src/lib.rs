//! An OpenTelemetry exporter of orderflow's spans: the invocation span
//! (request ID, cold start, X-Ray root) and each record's span (message and
//! correlation IDs) sent over OTLP/HTTP to a collector, such as the ADOT
//! Lambda layer's on `localhost:4318`.
//!
//! Off unless an endpoint is set, with OpenTelemetry's own variables:
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the traces URL, as is) or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector, `/v1/traces` appended);
//! `OTEL_SERVICE_NAME` names the service (else the function's step);
//! `OTEL_SDK_DISABLED=true` turns it off. Spans are batched on the
//! exporter's thread and flushed after every invocation (the telemetry's
//! invocation-end hook), before Lambda freezes the environment.
//!
//! The functions have it when built with their `otel` feature
//! (`cargo lambda build --release --features otel`); the template's build
//! leaves it out, so a deployment that does not export pays nothing for it.

#![forbid(unsafe_code)]

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use orderflow_batch::telemetry::{RegistryLayer, on_invocation_end};

/// The variables read, in the order they are looked at.
pub mod var {
    /// The traces URL, used as is.
    pub const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    /// The collector's base URL: `/v1/traces` is appended.
    pub const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// The protocol: only `http/protobuf` is built in.
    pub const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    /// The traces' protocol, before [`PROTOCOL`].
    pub const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
    /// The service's name on the spans.
    pub const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
    /// `true` turns the exporter off whatever else is set.
    pub const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
}

/// The exporter could not be set up. Names the variable and the rule, never
/// its value.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// A variable breaks a rule.
    #[error("{variable}: {rule}")]
    Setting {
        /// The variable.
        variable: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The exporter refused its settings.
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(String),
}

impl OtlpError {
    /// Whether trying again could help: never, a setting is wrong until it is changed.
    pub fn retryable(&self) -> bool {
        false
    }
}

/// Where spans go and under which service name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The traces URL (`http://localhost:4318/v1/traces`).
    pub traces_endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

impl OtlpSettings {
    /// The settings from the process's environment, for the step `service`;
    /// `None` when no endpoint is set (the default: nothing is exported).
    pub fn from_env(service: &str) -> Result<Option<OtlpSettings>, OtlpError> {
        Self::from_vars(service, |name| std::env::var(name).ok())
    }

    /// The settings from the variables `var` gives, for the step `service`.
    pub fn from_vars(
        service: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpSettings>, OtlpError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if set(var::SDK_DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let (variable, traces_endpoint) = match (set(var::TRACES_ENDPOINT), set(var::ENDPOINT)) {
            (Some(url), _) => (var::TRACES_ENDPOINT, url.trim().to_owned()),
            (None, Some(base)) => (
                var::ENDPOINT,
                format!("{}/v1/traces", base.trim().trim_end_matches('/')),
            ),
            (None, None) => return Ok(None),
        };
        let host = traces_endpoint
            .strip_prefix("http://")
            .ok_or(OtlpError::Setting {
                variable,
                rule: "must be an http:// URL (a collector beside the function; this build has no TLS for OTLP)",
            })?
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(OtlpError::Setting {
                variable,
                rule: "must name a host, without spaces or control characters",
            });
        }
        for protocol in [var::TRACES_PROTOCOL, var::PROTOCOL] {
            if let Some(value) = set(protocol) {
                if value.trim() != "http/protobuf" {
                    return Err(OtlpError::Setting {
                        variable: protocol,
                        rule: "must be http/protobuf, the only protocol built in",
                    });
                }
                break;
            }
        }
        Ok(Some(OtlpSettings {
            traces_endpoint,
            service_name: set(var::SERVICE_NAME).unwrap_or_else(|| service.to_owned()),
        }))
    }
}

/// Builds the exporter, registers its flush to run after every invocation,
/// and returns the layer to stack on the span registry
/// (`orderflow_batch::telemetry::init_with`). Call once per process: a
/// second exporter's flush would not be registered.
pub fn install(settings: &OtlpSettings) -> Result<RegistryLayer, OtlpError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.traces_endpoint.clone())
        .build()
        .map_err(|e| OtlpError::Exporter(e.to_string()))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("orderflow");
    let flushed = provider.clone();
    on_invocation_end(move || {
        if let Err(e) = flushed.force_flush() {
            tracing::warn!(error = %e, "spans not exported");
        }
    });
    Ok(Box::new(tracing_opentelemetry::layer().with_tracer(tracer)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<OtlpSettings>, OtlpError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        OtlpSettings::from_vars("inventory", |name| vars.get(name).cloned())
    }

    #[test]
    fn off_unless_an_endpoint_is_set() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(settings(&[(var::SERVICE_NAME, "orders")]).unwrap(), None);
        assert_eq!(
            settings(&[
                (var::ENDPOINT, "http://localhost:4318"),
                (var::SDK_DISABLED, "true")
            ])
            .unwrap(),
            None
        );
    }

    #[test]
    fn the_traces_url_comes_from_either_variable() {
        let s = settings(&[(var::ENDPOINT, "http://localhost:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(s.traces_endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(s.service_name, "inventory");
        let s = settings(&[
            (var::ENDPOINT, "http://ignored:1"),
            (var::TRACES_ENDPOINT, "http://127.0.0.1:9/traces"),
            (var::SERVICE_NAME, "orders"),
            (var::PROTOCOL, "http/protobuf"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.traces_endpoint, "http://127.0.0.1:9/traces");
        assert_eq!(s.service_name, "orders");
    }

    #[test]
    fn a_setting_this_build_cannot_honour_is_named_with_its_rule_not_its_value() {
        for (vars, variable, rule) in [
            (
                vec![(var::ENDPOINT, "https://collector:4318")],
                var::ENDPOINT,
                "http://",
            ),
            (
                vec![(var::TRACES_ENDPOINT, "grpc://secret-host")],
                var::TRACES_ENDPOINT,
                "http://",
            ),
            (vec![(var::ENDPOINT, "http://")], var::ENDPOINT, "http://"),
            (
                vec![(var::TRACES_ENDPOINT, "http:///v1/traces")],
                var::TRACES_ENDPOINT,
                "host",
            ),
            (
                vec![(var::ENDPOINT, "http://secret host")],
                var::ENDPOINT,
                "spaces",
            ),
            (
                vec![(var::ENDPOINT, "http://localhost:4317"), (var::PROTOCOL, "grpc")],
                var::PROTOCOL,
                "http/protobuf",
            ),
        ] {
            let error = settings(&vars).expect_err(rule).to_string();
            assert!(error.starts_with(variable) && error.contains(rule), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
