//! Nothing a client puts in a request's URI parts makes order-api panic:
//! what `check_uri_parts` lets through, `lambda_http` converts without
//! panicking (generated queries, hosts, schemes, paths, stages and domain
//! names of printable ASCII, with a fixed case budget and seed).

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::http::HeaderValue;
use lambda_http::request::LambdaRequest;
use order_api::check_uri_parts;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

fn base() -> ApiGatewayV2httpRequest {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/order-api-valid.json"
    ))
    .expect("the sample request");
    serde_json::from_str(&text).expect("a valid HTTP API request")
}

fn converts_without_panicking(request: &ApiGatewayV2httpRequest) -> bool {
    let request = request.clone();
    std::panic::catch_unwind(move || {
        let _: lambda_http::Request = LambdaRequest::ApiGatewayV2(request).into();
    })
    .is_ok()
}

/// Printable ASCII with the characters URIs care about made likely.
fn part() -> impl Strategy<Value = String> {
    let special: Vec<char> = " \"[]:@/?#%<>{}|\\^`".chars().collect();
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::char::range(' ', '~'),
            2 => proptest::sample::select(special),
            1 => proptest::char::range('a', 'z'),
        ],
        0..12,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// A fixed budget and seed for CI; `PROPTEST_RNG_SEED=<n>` explores another seed.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: 3000,
        rng_seed: match default.rng_seed {
            RngSeed::Random => RngSeed::Fixed(0x0a91_2026),
            chosen => chosen,
        },
        ..default
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn what_the_check_lets_through_converts_without_panicking(
        query in proptest::option::of(part()),
        host in proptest::option::of(part()),
        proto in proptest::option::of(part()),
        path in part(),
        stage in proptest::option::of(part()),
        domain in proptest::option::of(part()),
    ) {
        let mut request = base();
        request.raw_query_string = query;
        request.headers.remove("host");
        request.headers.remove("x-forwarded-proto");
        if let Some(h) = host.as_deref().and_then(|h| HeaderValue::from_str(h).ok()) {
            request.headers.insert("host", h);
        }
        if let Some(p) = proto.as_deref().and_then(|p| HeaderValue::from_str(p).ok()) {
            request.headers.insert("x-forwarded-proto", p);
        }
        request.raw_path = Some(path);
        request.request_context.stage = stage;
        request.request_context.domain_name = domain;
        if check_uri_parts(&request).is_ok() {
            prop_assert!(converts_without_panicking(&request), "{request:?}");
        }
    }
}

#[test]
fn the_requests_that_panicked_are_refused_and_a_plain_one_is_not() {
    std::panic::set_hook(Box::new(|_| {}));
    let plain = base();
    assert!(check_uri_parts(&plain).is_ok());
    assert!(converts_without_panicking(&plain));
    let mut hostile = Vec::new();
    for query in ["note=two words", "note=\"x\""] {
        let mut r = base();
        r.raw_query_string = Some(query.to_owned());
        hostile.push(r);
    }
    for host in ["[::1", "bad host:x:y"] {
        let mut r = base();
        r.headers.insert("host", HeaderValue::from_static(host));
        hostile.push(r);
    }
    for request in hostile {
        assert!(
            !converts_without_panicking(&request),
            "lambda_http converts {request:?} now"
        );
        assert!(check_uri_parts(&request).is_err(), "{request:?}");
    }
}
