//! order-api as Lambda runs it: each invocation's request checked before
//! `lambda_http` turns it into an `http::Request`, then handled.
//!
//! `lambda_http`'s conversion builds the request URI from the raw query
//! string, the `Host` header (or the domain name), `X-Forwarded-Proto`, the
//! stage and the raw path, and panics when they do not make a URI (a space or
//! `"` in the query, a `Host` of `[::1`). Nothing a client sends may panic, so
//! those parts are checked here first and a request they break is answered
//! 400, naming the part, never its value.

use std::convert::Infallible;
use std::str::FromStr;

use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::http::Uri;
use lambda_http::http::header::{HOST, HeaderName};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Body, LambdaEvent, Request, Service, service_fn};
use serde::Serialize;

use crate::error::{ApiError, UriPart};
use crate::{Config, Headers, error_response, handle};
use orderflow_batch::correlation::fallback_correlation_id;

/// What Lambda gets back: `lambda_http`'s own response for a converted
/// request, or ours for one refused before conversion (the same JSON shape).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum HttpApiResponse<Converted> {
    /// The handler's response, as `lambda_http` writes it.
    Converted(Converted),
    /// A 400 for a request `lambda_http` could not convert.
    Refused(Box<ApiGatewayV2httpResponse>),
}

/// Answers one invocation: a request whose URI parts `lambda_http` cannot
/// convert gets 400; every other one is converted and [`handle`]d.
pub async fn respond(
    event: LambdaEvent<LambdaRequest>,
    config: &Config,
) -> HttpApiResponse<impl Serialize + Send + Sync + use<>> {
    let mut adapter = Adapter::from(service_fn(|request: Request| async move {
        Ok::<_, Infallible>(handle(&request, config).await)
    }));
    if let LambdaRequest::ApiGatewayV2(request) = &event.payload
        && let Err(error) = check_uri_parts(request)
    {
        return HttpApiResponse::Refused(Box::new(refused(request, &error)));
    }
    match adapter.call(event).await {
        Ok(response) => HttpApiResponse::Converted(response),
        Err(never) => match never {},
    }
}

/// Checks every part `lambda_http` builds the request URI from, the way it builds it.
pub fn check_uri_parts(request: &ApiGatewayV2httpRequest) -> Result<(), ApiError> {
    let broken = |part| Err(ApiError::InvalidUri(part));
    let query = request.raw_query_string.as_deref().unwrap_or_default();
    if !query.is_empty() && lambda_http::http::uri::PathAndQuery::from_str(&format!("/?{query}")).is_err() {
        return broken(UriPart::QueryString);
    }
    let host = match request.headers.get(HOST) {
        Some(value) => value.to_str().ok(),
        None => None,
    }
    .or(request.request_context.domain_name.as_deref());
    let path = path_with_stage(request);
    let url = match host {
        None => url::Url::parse(&format!("http://localhost{path}")).map(|u| u.path().to_owned()),
        Some(host) => {
            let scheme = request
                .headers
                .get(HeaderName::from_static("x-forwarded-proto"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("https");
            if url::Url::parse(&format!("{scheme}://example.com/")).is_err() {
                return broken(UriPart::ForwardedProto);
            }
            if url::Url::parse(&format!("https://{host}/")).is_err() {
                return broken(UriPart::Host);
            }
            url::Url::parse(&format!("{scheme}://{host}{path}")).map(|u| u.to_string())
        }
    };
    let Ok(mut uri) = url else {
        return broken(UriPart::Path);
    };
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(query);
    }
    if Uri::from_str(&uri).is_err() {
        return broken(UriPart::Path);
    }
    Ok(())
}

/// The path `lambda_http` puts in the URI: the stage in front of the raw
/// path, unless the stage is `$default`, the path starts with it already, or
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set.
fn path_with_stage(request: &ApiGatewayV2httpRequest) -> String {
    let path = request.raw_path.as_deref().unwrap_or_default();
    match request.request_context.stage.as_deref() {
        _ if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some() => path.to_owned(),
        None | Some("$default") => path.to_owned(),
        Some(stage) if path.starts_with(&format!("/{stage}/")) => path.to_owned(),
        Some(stage) => format!("/{stage}{path}"),
    }
}

/// The 400 for a request that never became an `http::Request`.
fn refused(request: &ApiGatewayV2httpRequest, error: &ApiError) -> ApiGatewayV2httpResponse {
    let correlation_id = fallback_correlation_id(&Headers(&request.headers));
    let response = {
        let span = tracing::info_span!("request", correlation_id = %correlation_id);
        span.in_scope(|| error_response(error, &correlation_id))
    };
    let (parts, body) = response.into_parts();
    let mut lambda = ApiGatewayV2httpResponse::default();
    lambda.status_code = i64::from(parts.status.as_u16());
    lambda.headers = parts.headers;
    lambda.body = match body {
        Body::Text(text) => Some(Body::Text(text)),
        _ => None,
    };
    lambda.is_base64_encoded = false;
    lambda
}
