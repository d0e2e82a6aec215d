//! Invariants of the SAM template (`template.yaml`), checked without AWS.
//!
//! The template is read, its short-form intrinsics (`!Ref`, `!GetAtt`, ...)
//! turned into their long form, and then evaluated for every combination of
//! the parameters that change its shape (`FifoQueues`, `AlarmEmail`,
//! `Environment`, `ApiAuth`, `MetricsSink`, `IdempotencyStore` and the Redis's
//! VPC): `Fn::If` picks its branch, `AWS::NoValue`
//! removes the property, conditional resources come and go. Each variant must
//! hold:
//!
//! - every SQS consumer reports batch item failures, has a bounded batch,
//!   window and concurrency, and a Lambda-compatible FIFO setup when FIFO;
//! - every source queue redrives to a DLQ after at least 5 receives, its DLQ
//!   allows redrive from it only, and its visibility timeout is at least
//!   6 x the consumer's timeout plus its batching window;
//! - the order relay reads the orders table's stream (the outbox `order-api`
//!   writes) with batch item failures, bisection, bounded retries and record
//!   age, one batch per shard at a time, and an on-failure destination: a
//!   standard queue with an alarm;
//! - every queue, DLQ and on-failure queue has its alarms, every function its
//!   error and throttle alarms, a stream reader its iterator-age alarm, all to
//!   the alert topic;
//! - no IAM statement allows a `*` action, no role reaches beyond its
//!   function's own queues, tables, stream and topic, and `*` resources only
//!   where the service cannot scope (metrics, by namespace; listing streams);
//! - each role's DynamoDB actions are exactly those its code (or Lambda's
//!   stream poller) calls, and on the idempotency table only for its own
//!   step's keys (`<step>#...`); on the orders table `order-api` accepts
//!   orders and the consumers only update them (their status transitions):
//!   no consumer may put or delete an order;
//! - every environment variable a function's code requires is set, and
//!   points at the right resource; the idempotency records are in the table
//!   or in the Redis whose URL an SSM parameter holds, never both, and the
//!   consumers run in the Redis's VPC (allowed to make their network
//!   interfaces there) exactly when it has one;
//! - every table is on demand, recoverable, encrypted, and protected from
//!   deletion in production;
//! - both routes of the orders API go to `order-api` with the authorization
//!   `ApiAuth` chooses (SigV4 by default, a JWT authorizer, or none), and
//!   `ApiAuth=jwt` cannot be deployed without its issuer and audience.
//!
//! And the README's Deploy section names every output and explains every alarm.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

use orderflow_aws::step_ports::{queue_url_variable, variables_read_by};
use orderflow_aws::wiring::{Mode, var as adapters};
use orderflow_batch::config::var as processor;
use orderflow_batch::processor::idempotency_key;
use orderflow_orders::pipeline::Queue;

/// Variables every consumer's deployment sets, beyond what its own code
/// requires: the environment, the DLQ fast path, the idempotency store (and
/// its table or Redis, checked apart) and the metrics settings (all read by
/// the shared crates).
const DEPLOYED: &[&str] = &[
    processor::ENVIRONMENT,
    processor::DLQ_URL,
    processor::MAX_RECEIVE_COUNT,
    adapters::IDEMPOTENCY_STORE,
    adapters::METRICS_SINK,
    adapters::METRICS_NAMESPACE,
];

/// The consumer functions: logical ID, binary (= crate under `functions/`),
/// and the environment variables its step reads in AWS (found by building
/// the step, so a new variable in the code fails this test until the
/// template sets it). The notification topic is optional in the code
/// (without it, messages are logged); the template always creates one.
fn consumers() -> [(&'static str, &'static str, Vec<&'static str>); 3] {
    [
        (
            "InventoryFunction",
            "inventory",
            variables_read_by(inventory::step),
        ),
        ("ShippingFunction", "shipping", variables_read_by(shipping::step)),
        (
            "NotificationFunction",
            "notification",
            variables_read_by(notification::step),
        ),
    ]
}

/// The logical ID of the function consuming the orders queue, which batches
/// up to 100 messages within 5 s.
const ORDERS_CONSUMER: &str = "InventoryFunction";

/// Actions a consumer needs on its source queue (the event source mapping and
/// the visibility backoff).
const CONSUME_ACTIONS: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
];

/// The DynamoDB actions the idempotency store (`orderflow_aws::dynamodb::
/// DynamoIdempotencyStore`) calls: `PutItem` claims and completes, `GetItem`
/// reads a claimed record, `BatchWriteItem` completes a batch's records,
/// `DeleteItem` releases.
const IDEMPOTENCY_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
];

/// The DynamoDB actions the inventory (`orderflow_aws::dynamodb::DynamoInventory`)
/// calls: its `TransactWriteItems` is authorized per item, as `PutItem` (the
/// reservation) and `UpdateItem` (each SKU's stock); `GetItem` reads stock and
/// reservations after a cancelled transaction.
const INVENTORY_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"];

/// The DynamoDB actions `order-api` calls on the orders table (`ORDERS_TABLE`):
/// a conditional `PutItem` accepts an order, a consistent `GetItem` reads it back.
const ORDERS_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:PutItem"];

/// The DynamoDB actions a consumer calls on the orders table (`ORDERS_TABLE`) to
/// record its status transitions: a conditional `UpdateItem` (inventory's is an
/// item of its stock `TransactWriteItems`, authorized as `UpdateItem`), and a
/// consistent `GetItem` after a refused one (already past that status, or an
/// unknown order). IAM cannot restrict the status an update writes: the update's
/// condition keeps an order from moving backwards.
const TRANSITION_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:UpdateItem"];

/// The DynamoDB actions each function calls on the orders table. A function not
/// listed calls none (the relay reads the table's stream, not the table).
const ORDERS_TABLE_ACTIONS: &[(&str, &[&str])] = &[
    ("OrderApiFunction", ORDERS_ACTIONS),
    ("InventoryFunction", TRANSITION_ACTIONS),
    ("ShippingFunction", TRANSITION_ACTIONS),
    ("NotificationFunction", TRANSITION_ACTIONS),
];

/// Actions that write a whole item, replacing or removing it: no consumer may
/// call them on the orders table.
const WHOLE_ITEM_WRITES: &[&str] = &[
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
];

/// The order relay: logical ID, binary (= crate under `functions/`), and the
/// environment variables its step reads in AWS. It reads the orders table's
/// stream, not a queue, so it is not one of `consumers()`: the SQS checks
/// leave it out, and its own checks below cover it.
fn relay() -> (&'static str, &'static str, Vec<&'static str>) {
    (
        "OrderRelayFunction",
        "order-relay",
        variables_read_by(order_relay::step),
    )
}

/// The table `order-api` writes and whose stream the relay publishes: the outbox.
const OUTBOX_TABLE: &str = "OrdersTable";

/// Actions Lambda's poller calls, with the function's role, on the stream an
/// event source mapping reads.
const STREAM_ACTIONS: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
];

/// The poller's fourth action, which supports no resource-level permissions:
/// allowed on `*` only.
const LIST_STREAMS: &str = "dynamodb:ListStreams";

/// The orders HTTP API and its routes, all served by `order-api`.
const ORDERS_API: &str = "OrdersHttpApi";
const ORDER_ROUTES: [&str; 2] = ["POST /orders", "GET /orders/{orderId}"];

/// Each consumer's step: its idempotency keys are `<step>#<businessKey>`.
const STEPS: &[(&str, &str)] = &[
    ("InventoryFunction", inventory::STEP),
    ("ShippingFunction", shipping::STEP),
    ("NotificationFunction", notification::STEP),
];

/// Actions whose service allows no resource scoping (so `Resource: "*"`),
/// with the condition key that must scope them instead, when there is one.
const UNSCOPABLE: &[(&str, Option<&str>)] = &[
    ("cloudwatch:PutMetricData", Some("cloudwatch:namespace")),
    // Lists the account's stream ARNs, no data; no condition key narrows it.
    (LIST_STREAMS, None),
    // Active tracing: X-Ray's actions take no resource and no condition key.
    (XRAY_ACTIONS[0], None),
    (XRAY_ACTIONS[1], None),
    // A VPC function's network interfaces: EC2's Describe calls take no resource.
    (VPC_DESCRIBE_ACTIONS[0], None),
    (VPC_DESCRIBE_ACTIONS[1], None),
];

/// What Lambda calls with a function's role to give it network interfaces in
/// a VPC (those of the managed policy `AWSLambdaVPCAccessExecutionRole`,
/// without its logs actions): describing takes `Resource: "*"` only, the
/// others are kept to the account and region (`VPC_RESOURCES`).
const VPC_DESCRIBE_ACTIONS: [&str; 2] = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"];
const VPC_INTERFACE_ACTIONS: [&str; 4] = [
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];
const VPC_RESOURCES: &str = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*/*";

/// What a function with active tracing sends to X-Ray.
const XRAY_ACTIONS: [&str; 2] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

// ------------------------------------------------------------------ loading

/// The template as JSON with long-form intrinsics.
fn raw_template() -> Value {
    let text = std::fs::read_to_string(template_path()).expect("template.yaml is readable");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("template.yaml is valid YAML");
    long_form(yaml)
}

fn long_form(value: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(u) = n.as_u64() {
                json!(u)
            } else if let Some(i) = n.as_i64() {
                json!(i)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(long_form).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml::to_string(&other)
                            .expect("a scalar key")
                            .trim()
                            .to_owned(),
                    };
                    (key, long_form(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').expect("!GetAtt Resource.Attribute");
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): inner }),
            }
        }
    }
}

// ------------------------------------------------------------- evaluation

/// Parameter values of one variant of the template.
type Params = BTreeMap<String, String>;

/// The parameter combinations that change the template's shape.
fn variants(raw: &Value) -> Vec<Params> {
    let defaults: Params = raw["Parameters"]
        .as_object()
        .expect("Parameters")
        .iter()
        .map(|(name, p)| (name.clone(), scalar_text(&p["Default"])))
        .collect();
    let mut out = Vec::new();
    for fifo in ["false", "true"] {
        for email in ["", "ops@example.com"] {
            for environment in ["development", "production"] {
                for auth in ["iam", "jwt", "none"] {
                    let mut params = defaults.clone();
                    params.insert("FifoQueues".into(), fifo.into());
                    params.insert("AlarmEmail".into(), email.into());
                    params.insert("Environment".into(), environment.into());
                    params.insert("ApiAuth".into(), auth.into());
                    // Both sinks across every other choice, without doubling the variants.
                    let sink = if email.is_empty() { "emf" } else { "cloudwatch" };
                    params.insert("MetricsSink".into(), sink.into());
                    if auth == "jwt" {
                        params.insert("JwtIssuer".into(), "https://issuer.example.com".into());
                        params.insert("JwtAudience".into(), "orders".into());
                    }
                    // The idempotency table, a Redis in a VPC, a Redis outside any.
                    let (store, subnets, groups) = match auth {
                        "iam" => ("dynamodb", "", ""),
                        "jwt" => ("redis", "subnet-0a1b2c3d,subnet-4e5f6a7b", "sg-0123abcd"),
                        _ => ("redis", "", ""),
                    };
                    params.insert("IdempotencyStore".into(), store.into());
                    params.insert("RedisSubnetIds".into(), subnets.into());
                    params.insert("RedisSecurityGroupIds".into(), groups.into());
                    out.push(params);
                }
            }
        }
    }
    out
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One variant: conditions decided, `Fn::If` resolved, `AWS::NoValue` and
/// resources whose condition is false removed, `Globals.Function` merged
/// into each serverless function.
struct Template {
    name: String,
    params: Params,
    resources: BTreeMap<String, Value>,
    outputs: BTreeMap<String, Value>,
}

impl Template {
    fn evaluate(raw: &Value, params: &Params) -> Template {
        let conditions = raw["Conditions"].as_object().cloned().unwrap_or_default();
        let decided: BTreeMap<String, bool> = conditions
            .keys()
            .map(|name| (name.clone(), condition(&conditions, params, name)))
            .collect();
        let keep = |v: &Value| {
            v.get("Condition")
                .and_then(Value::as_str)
                .is_none_or(|c| decided[c])
        };
        let section = |name: &str| -> BTreeMap<String, Value> {
            raw[name]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| keep(v))
                .filter_map(|(k, v)| resolve(v, &decided).map(|v| (k.clone(), v)))
                .collect()
        };
        // SAM merges Globals.Function before evaluating intrinsics, so a function
        // can drop a global variable with `!Ref AWS::NoValue`.
        let resources: BTreeMap<String, Value> = raw["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| keep(v))
            .filter_map(|(k, v)| {
                let mut v = v.clone();
                if v["Type"] == "AWS::Serverless::Function" {
                    merge_globals(&mut v["Properties"], &raw["Globals"]["Function"]);
                }
                resolve(&v, &decided).map(|v| (k.clone(), v))
            })
            .collect();
        Template {
            name: params
                .iter()
                .filter(|(k, _)| {
                    [
                        "FifoQueues",
                        "AlarmEmail",
                        "Environment",
                        "ApiAuth",
                        "MetricsSink",
                        "IdempotencyStore",
                        "RedisSubnetIds",
                    ]
                    .contains(&k.as_str())
                })
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join(" "),
            params: params.clone(),
            resources,
            outputs: section("Outputs"),
        }
    }

    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| r["Type"] == kind)
            .map(|(k, r)| (k.as_str(), &r["Properties"]))
    }

    fn props(&self, id: &str) -> &Value {
        &self.resources[id]["Properties"]
    }

    fn kind(&self, id: &str) -> &str {
        self.resources
            .get(id)
            .and_then(|r| r["Type"].as_str())
            .unwrap_or("(missing)")
    }
}

fn condition(conditions: &serde_json::Map<String, Value>, params: &Params, name: &str) -> bool {
    eval_condition(&conditions[name], conditions, params)
}

fn eval_condition(v: &Value, conditions: &serde_json::Map<String, Value>, params: &Params) -> bool {
    let (function, args) = single_key(v).unwrap_or_else(|| panic!("condition {v}"));
    let list = || {
        args.as_array()
            .unwrap_or_else(|| panic!("{function} takes a list"))
    };
    match function {
        "Fn::Equals" => {
            let side = |v: &Value| match ref_target(v) {
                Some(p) => params[p].clone(),
                None => scalar_text(v),
            };
            side(&list()[0]) == side(&list()[1])
        }
        "Fn::Not" => !eval_condition(&list()[0], conditions, params),
        "Fn::And" => list().iter().all(|c| eval_condition(c, conditions, params)),
        "Fn::Or" => list().iter().any(|c| eval_condition(c, conditions, params)),
        "Condition" => condition(conditions, params, args.as_str().expect("a condition name")),
        other => panic!("unsupported condition function {other}"),
    }
}

/// `v` with `Fn::If` resolved; `None` when it is `AWS::NoValue`.
fn resolve(v: &Value, decided: &BTreeMap<String, bool>) -> Option<Value> {
    if let Some(("Fn::If", args)) = single_key(v) {
        let args = args.as_array().expect("Fn::If takes a list");
        let chosen = if decided[args[0].as_str().expect("condition name")] {
            &args[1]
        } else {
            &args[2]
        };
        return resolve(chosen, decided);
    }
    if ref_target(v) == Some("AWS::NoValue") {
        return None;
    }
    match v {
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| resolve(v, decided).map(|v| (k.clone(), v)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|v| resolve(v, decided)).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// SAM's rule: properties of `Globals.Function` apply unless the function sets
/// them; maps (environment variables) are merged, the function winning.
fn merge_globals(props: &mut Value, globals: &Value) {
    let Some(globals) = globals.as_object() else {
        return;
    };
    if props.is_null() {
        *props = json!({});
    }
    let props = props.as_object_mut().expect("function Properties is a map");
    for (key, global) in globals {
        match props.get_mut(key) {
            None => {
                props.insert(key.clone(), global.clone());
            }
            Some(local) => {
                if let (Some(local), Some(global)) = (local.as_object_mut(), global.as_object()) {
                    for (k, g) in global {
                        match local.get_mut(k) {
                            None => {
                                local.insert(k.clone(), g.clone());
                            }
                            Some(l) => {
                                if let (Some(l), Some(g)) = (l.as_object_mut(), g.as_object()) {
                                    for (kk, gg) in g {
                                        l.entry(kk.clone()).or_insert_with(|| gg.clone());
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- helpers

fn single_key(v: &Value) -> Option<(&str, &Value)> {
    let map = v.as_object()?;
    if map.len() == 1 {
        map.iter().next().map(|(k, v)| (k.as_str(), v))
    } else {
        None
    }
}

/// `X` of `{"Ref": "X"}`.
fn ref_target(v: &Value) -> Option<&str> {
    match single_key(v)? {
        ("Ref", Value::String(s)) => Some(s),
        _ => None,
    }
}

/// `(X, A)` of `{"Fn::GetAtt": ["X", "A"]}`.
fn get_att(v: &Value) -> Option<(&str, &str)> {
    match single_key(v)? {
        ("Fn::GetAtt", Value::Array(parts)) if parts.len() == 2 => {
            Some((parts[0].as_str()?, parts[1].as_str()?))
        }
        _ => None,
    }
}

/// The resource a `Ref` or `GetAtt` points at.
fn target(v: &Value) -> Option<&str> {
    ref_target(v).or_else(|| get_att(v).map(|(r, _)| r))
}

/// A value or a list of values as a list.
fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .or_else(|| v.as_f64().map(|f| f as u64))
}

fn strings(v: &Value) -> BTreeSet<String> {
    list(v)
        .into_iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The text of a `Fn::Sub` with no variable map.
fn sub_text(v: &Value) -> Option<&str> {
    match single_key(v)? {
        ("Fn::Sub", Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Problems of one variant, reported together.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
}

fn check_all_variants(check: impl Fn(&Template, &mut Problems)) {
    let raw = raw_template();
    let mut report = Vec::new();
    for params in variants(&raw) {
        let template = Template::evaluate(&raw, &params);
        let mut problems = Problems::default();
        check(&template, &mut problems);
        if !problems.0.is_empty() {
            report.push(format!(
                "with {}:\n  - {}",
                template.name,
                problems.0.join("\n  - ")
            ));
        }
    }
    assert!(report.is_empty(), "template.yaml:\n{}", report.join("\n"));
}

/// A consumer's SQS event: (source queue ID, event properties).
fn sqs_events(function: &Value) -> Vec<(String, &Value)> {
    function["Events"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, e)| e["Type"] == "SQS")
        .map(|(_, e)| {
            let queue = target(&e["Properties"]["Queue"]).unwrap_or("(not a queue in this template)");
            (queue.to_owned(), &e["Properties"])
        })
        .collect()
}

/// A function's DynamoDB stream events: (table whose stream it reads, event properties).
fn stream_events(function: &Value) -> Vec<(String, &Value)> {
    function["Events"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, e)| e["Type"] == "DynamoDB")
        .map(|(_, e)| {
            let table = match get_att(&e["Properties"]["Stream"]) {
                Some((table, "StreamArn")) => table,
                _ => "(not a table's stream in this template)",
            };
            (table.to_owned(), &e["Properties"])
        })
        .collect()
}

/// The queue a stream event sends the batches it gives up on to.
fn on_failure_destination(event: &Value) -> Option<&str> {
    target(&event["DestinationConfig"]["OnFailure"]["Destination"])
}

/// Every queue that is a stream event's on-failure destination.
fn failure_queues(t: &Template) -> BTreeSet<String> {
    t.of_type("AWS::Serverless::Function")
        .flat_map(|(_, f)| stream_events(f))
        .filter_map(|(_, e)| on_failure_destination(e).map(str::to_owned))
        .collect()
}

/// What a policy statement's resource names: `*`, `<Table>.StreamArn` for a
/// table's stream, or else the logical ID of the resource it points at.
fn resource_name(r: &Value) -> String {
    match (r.as_str(), get_att(r)) {
        (Some("*"), _) => "*".to_owned(),
        (_, Some((table, "StreamArn"))) => format!("{table}.StreamArn"),
        _ => target(r).unwrap_or("(outside the template)").to_owned(),
    }
}

/// The DLQ a queue redrives to.
fn dlq_of<'a>(t: &'a Template, queue: &str) -> Option<&'a str> {
    get_att(&t.props(queue)["RedrivePolicy"]["deadLetterTargetArn"]).map(|(dlq, _)| dlq)
}

/// Source queues: every queue with a redrive policy.
fn source_queues(t: &Template) -> Vec<&str> {
    t.of_type("AWS::SQS::Queue")
        .filter(|(_, p)| !p["RedrivePolicy"].is_null())
        .map(|(id, _)| id)
        .collect()
}

fn is_fifo(t: &Template) -> bool {
    t.of_type("AWS::SQS::Queue").any(|(_, p)| p["FifoQueue"] == true)
}

/// All statements of the IAM role `role` (inline policies and attached
/// `AWS::IAM::Policy` resources).
fn role_statements<'a>(t: &'a Template, role: &str) -> Vec<&'a Value> {
    let inline = list(&t.props(role)["Policies"])
        .into_iter()
        .flat_map(|p| list(&p["PolicyDocument"]["Statement"]));
    let attached = t
        .of_type("AWS::IAM::Policy")
        .filter(|(_, p)| list(&p["Roles"]).iter().any(|r| ref_target(r) == Some(role)))
        .flat_map(|(_, p)| list(&p["PolicyDocument"]["Statement"]));
    inline.chain(attached).collect()
}

/// Every policy statement of the template: identity and resource policies.
fn all_statements(t: &Template) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (id, r) in &t.resources {
        let p = &r["Properties"];
        for doc in [&p["PolicyDocument"], &p["AssumeRolePolicyDocument"]] {
            for s in list(&doc["Statement"]) {
                out.push((id.clone(), s));
            }
        }
        for policy in list(&p["Policies"]) {
            for s in list(&policy["PolicyDocument"]["Statement"]) {
                out.push((id.clone(), s));
            }
        }
    }
    out
}

/// The DynamoDB calls the code of function `id` makes on the tables its
/// variables `env` name, as (action, table): the idempotency store's, the
/// inventory's, and its own on the orders table (`ORDERS_TABLE_ACTIONS`).
fn table_calls(id: &str, env: &Value) -> BTreeSet<(String, String)> {
    let orders_actions: &[&str] = match ORDERS_TABLE_ACTIONS.iter().find(|(function, _)| *function == id) {
        Some(&(_, actions)) => actions,
        None => &[],
    };
    let mut calls = BTreeSet::new();
    for (variable, actions) in [
        ("IDEMPOTENCY_TABLE", IDEMPOTENCY_ACTIONS),
        ("INVENTORY_TABLE", INVENTORY_ACTIONS),
        ("ORDERS_TABLE", orders_actions),
    ] {
        if let Some(table) = target(&env[variable]) {
            calls.extend(actions.iter().map(|a| (a.to_string(), table.to_owned())));
        }
    }
    calls
}

/// Whether the IAM action pattern `pattern` matches `action` as IAM matches
/// them: case-insensitively, `*` standing for any run of characters and `?`
/// for one.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn glob(p: &[u8], a: &[u8]) -> bool {
        match (p.split_first(), a.split_first()) {
            (None, None) => true,
            (Some((&b'*', rest)), _) => glob(rest, a) || (!a.is_empty() && glob(p, &a[1..])),
            (Some((&b'?', rest)), Some((_, tail))) => glob(rest, tail),
            (Some((c, rest)), Some((d, tail))) => c.eq_ignore_ascii_case(d) && glob(rest, tail),
            _ => false,
        }
    }
    glob(pattern.as_bytes(), action.as_bytes())
}

// ------------------------------------------------------------------ tests

#[test]
fn template_parses_and_declares_its_parameters() {
    let raw = raw_template();
    assert_eq!(raw["Transform"], "AWS::Serverless-2016-10-31");
    let params = &raw["Parameters"];
    assert_eq!(
        strings(&params["Environment"]["AllowedValues"]),
        ["development", "production", "staging"].map(String::from).into()
    );
    assert_eq!(params["AlarmEmail"]["Default"], "", "AlarmEmail is optional");
    assert_eq!(
        params["FifoQueues"]["Default"], "false",
        "standard queues by default"
    );
    assert!(params["MaxConcurrency"].is_object(), "MaxConcurrency parameter");
    assert_eq!(
        strings(&params["ApiAuth"]["AllowedValues"]),
        ["iam", "jwt", "none"].map(String::from).into()
    );
    assert_eq!(
        params["ApiAuth"]["Default"], "iam",
        "SigV4-signed callers only by default"
    );
    for jwt in ["JwtIssuer", "JwtAudience"] {
        assert_eq!(
            params[jwt]["Default"], "",
            "{jwt} is only needed with ApiAuth=jwt"
        );
    }
    assert_eq!(variants(&raw).len(), 24);
}

#[test]
fn functions_are_arm64_rust_binaries_built_by_cargo_lambda() {
    check_all_variants(|t, p| {
        let functions: Vec<_> = t.of_type("AWS::Serverless::Function").collect();
        let (relay_id, relay_binary, _) = relay();
        let built = consumers()
            .into_iter()
            .map(|(id, binary, _)| (id, binary))
            .chain([("OrderApiFunction", "order-api"), (relay_id, relay_binary)]);
        for (id, binary) in built {
            p.check(t.kind(id) == "AWS::Serverless::Function", || {
                format!("{id} is missing")
            });
            let Some(metadata) = t.resources.get(id).map(|r| &r["Metadata"]) else {
                continue;
            };
            p.check(metadata["BuildMethod"] == "rust-cargolambda", || {
                format!("{id}: Metadata.BuildMethod must be rust-cargolambda")
            });
            p.check(metadata["BuildProperties"]["Binary"] == binary, || {
                format!("{id}: Metadata.BuildProperties.Binary must be {binary}")
            });
            let main =
                Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../functions/{binary}/src/main.rs"));
            p.check(main.exists(), || format!("{id}: no binary at {}", main.display()));
        }
        for (id, f) in functions {
            p.check(f["Runtime"] == "provided.al2023", || {
                format!("{id}: Runtime provided.al2023")
            });
            p.check(f["Architectures"] == json!(["arm64"]), || format!("{id}: arm64"));
            p.check(f["Handler"] == "bootstrap", || format!("{id}: Handler bootstrap"));
            p.check(f["LoggingConfig"]["LogFormat"] == "JSON", || {
                format!("{id}: JSON logs")
            });
            p.check(f["LoggingConfig"]["ApplicationLogLevel"].is_string(), || {
                format!("{id}: an application log level")
            });
            p.check(number(&f["Timeout"]).is_some(), || format!("{id}: a Timeout"));
        }
    });
}

#[test]
fn every_consumer_reports_batch_item_failures_with_bounded_batches() {
    check_all_variants(|t, p| {
        let fifo = is_fifo(t);
        let mut consumed = BTreeSet::new();
        for (id, f) in t.of_type("AWS::Serverless::Function") {
            for (queue, e) in sqs_events(f) {
                consumed.insert(queue.clone());
                p.check(t.kind(&queue) == "AWS::SQS::Queue", || {
                    format!("{id}: its SQS event must name a queue of the template")
                });
                p.check(
                    strings(&e["FunctionResponseTypes"]).contains("ReportBatchItemFailures"),
                    || format!("{id}: FunctionResponseTypes must include ReportBatchItemFailures"),
                );
                p.check(
                    ref_target(&e["ScalingConfig"]["MaximumConcurrency"]) == Some("MaxConcurrency"),
                    || format!("{id}: ScalingConfig.MaximumConcurrency must be the MaxConcurrency parameter"),
                );
                let batch = number(&e["BatchSize"]);
                let window = number(&e["MaximumBatchingWindowInSeconds"]);
                p.check(batch.is_some(), || format!("{id}: a BatchSize"));
                let batch = batch.unwrap_or(0);
                if fifo {
                    p.check(batch <= 10, || {
                        format!("{id}: FIFO batches hold at most 10, not {batch}")
                    });
                    p.check(window.is_none(), || {
                        format!("{id}: FIFO event sources take no batching window")
                    });
                } else {
                    p.check(batch <= 10 || window.unwrap_or(0) >= 1, || {
                        format!("{id}: a batch over 10 needs a batching window of at least 1 s")
                    });
                    if id == ORDERS_CONSUMER {
                        p.check(batch == 100 && window == Some(5), || {
                            format!("{id}: the orders consumer batches up to 100 messages within 5 s")
                        });
                    }
                }
            }
        }
        for (id, _, _) in &consumers() {
            let f = t.props(id);
            p.check(sqs_events(f).len() == 1, || {
                format!("{id}: exactly one SQS event source")
            });
        }
        let sources: BTreeSet<String> = source_queues(t).into_iter().map(str::to_owned).collect();
        p.check(consumed == sources, || {
            format!("consumed queues {consumed:?} must be the queues with a DLQ {sources:?}")
        });
    });
}

#[test]
fn every_source_queue_has_a_dlq_and_a_long_enough_visibility_timeout() {
    check_all_variants(|t, p| {
        let fifo = is_fifo(t);
        let mut dlqs = BTreeSet::new();
        for (id, f) in t.of_type("AWS::Serverless::Function") {
            let timeout = number(&f["Timeout"]).unwrap_or(3);
            for (queue, e) in sqs_events(f) {
                if t.kind(&queue) != "AWS::SQS::Queue" {
                    continue;
                }
                let q = t.props(&queue);
                let window = number(&e["MaximumBatchingWindowInSeconds"]).unwrap_or(0);
                let visibility = number(&q["VisibilityTimeout"]).unwrap_or(30);
                p.check(visibility >= 6 * timeout + window, || {
                    format!(
                        "{queue}: VisibilityTimeout {visibility} < 6 x {timeout} s ({id} Timeout) + {window} s window"
                    )
                });
                let max_receives = number(&q["RedrivePolicy"]["maxReceiveCount"]).unwrap_or(0);
                p.check(max_receives >= 5, || {
                    format!("{queue}: RedrivePolicy.maxReceiveCount {max_receives} must be at least 5")
                });
                // The function dead-lettering a record on its last receive, with
                // a reason, must know which receive that is.
                let told = number(&f["Environment"]["Variables"][processor::MAX_RECEIVE_COUNT]);
                p.check(told == Some(max_receives), || {
                    format!(
                        "{id}: MAX_RECEIVE_COUNT {told:?} must be {queue}'s maxReceiveCount {max_receives}"
                    )
                });
                let Some(dlq) = dlq_of(t, &queue) else {
                    p.check(false, || {
                        format!("{queue}: no RedrivePolicy to a DLQ of the template")
                    });
                    continue;
                };
                dlqs.insert(dlq.to_owned());
                p.check(t.kind(dlq) == "AWS::SQS::Queue", || {
                    format!("{queue}: its DLQ {dlq} is a queue")
                });
                let d = t.props(dlq);
                p.check(number(&q["MessageRetentionPeriod"]) == Some(4 * 86_400), || {
                    format!("{queue}: retention 4 days")
                });
                p.check(number(&d["MessageRetentionPeriod"]) == Some(14 * 86_400), || {
                    format!("{dlq}: retention 14 days")
                });
                p.check(d["RedrivePolicy"].is_null(), || {
                    format!("{dlq}: a DLQ has no DLQ itself")
                });
                let allow = &d["RedriveAllowPolicy"];
                let queue_name = sub_text(&q["QueueName"]).unwrap_or_default().to_owned();
                let named = list(&allow["sourceQueueArns"])
                    .into_iter()
                    .filter_map(sub_text)
                    .any(|arn| !queue_name.is_empty() && arn.ends_with(&format!(":{queue_name}")));
                p.check(allow["redrivePermission"] == "byQueue" && named, || {
                    format!("{dlq}: RedriveAllowPolicy must be byQueue naming {queue} ({queue_name})")
                });
                // The DLQ of a FIFO queue must be FIFO too.
                p.check(q["FifoQueue"] == d["FifoQueue"], || {
                    format!("{queue} and {dlq}: both FIFO or neither")
                });
            }
        }
        let failure = failure_queues(t);
        for (id, q) in t.of_type("AWS::SQS::Queue") {
            let name = sub_text(&q["QueueName"]).unwrap_or_default();
            p.check(number(&q["ReceiveMessageWaitTimeSeconds"]) == Some(20), || {
                format!("{id}: long polling 20 s")
            });
            p.check(
                q["SqsManagedSseEnabled"] == true || q["KmsMasterKeyId"].is_string(),
                || format!("{id}: server-side encryption"),
            );
            if failure.contains(id) {
                // Lambda's on-failure destinations take no FIFO queue.
                p.check(q["FifoQueue"].is_null() && !name.ends_with(".fifo"), || {
                    format!("{id}: an on-failure destination is a standard queue, FIFO pipeline or not")
                });
                p.check(number(&q["MessageRetentionPeriod"]) == Some(14 * 86_400), || {
                    format!("{id}: retention 14 days")
                });
                p.check(q["RedrivePolicy"].is_null(), || {
                    format!("{id}: an on-failure destination has no DLQ itself")
                });
            } else if fifo {
                p.check(
                    q["FifoQueue"] == true && q["ContentBasedDeduplication"] == true,
                    || format!("{id}: FIFO with content-based deduplication"),
                );
                p.check(name.ends_with(".fifo"), || {
                    format!("{id}: a FIFO queue's name ends .fifo")
                });
            } else {
                p.check(q["FifoQueue"].is_null() && !name.ends_with(".fifo"), || {
                    format!("{id}: a standard queue")
                });
            }
            p.check(
                !q["RedrivePolicy"].is_null() || dlqs.contains(id) || failure.contains(id),
                || format!("{id}: neither a source queue, a DLQ nor an on-failure destination"),
            );
        }
    });
}

#[test]
fn every_queue_refuses_requests_without_tls() {
    check_all_variants(|t, p| {
        for (id, _) in t.of_type("AWS::SQS::Queue") {
            let covered = t.of_type("AWS::SQS::QueuePolicy").any(|(_, policy)| {
                list(&policy["Queues"]).iter().any(|q| ref_target(q) == Some(id))
                    && list(&policy["PolicyDocument"]["Statement"]).iter().any(|s| {
                        s["Effect"] == "Deny"
                            && s["Principal"] == "*"
                            && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
                            && list(&s["Resource"])
                                .iter()
                                .any(|r| get_att(r) == Some((id, "Arn")))
                    })
            });
            p.check(covered, || {
                format!("{id}: no queue policy denying requests without TLS")
            });
        }
    });
}

#[test]
fn every_queue_dlq_and_function_has_its_alarms() {
    check_all_variants(|t, p| {
        let alarms: Vec<&Value> = t.of_type("AWS::CloudWatch::Alarm").map(|(_, a)| a).collect();
        let find = |namespace: &str, metric: &str, dimension: &str, resource: &str| {
            alarms
                .iter()
                .copied()
                .filter(|a| {
                    a["Namespace"] == namespace
                        && a["MetricName"] == metric
                        && list(&a["Dimensions"])
                            .iter()
                            .any(|d| d["Name"] == dimension && target(&d["Value"]) == Some(resource))
                })
                .collect::<Vec<_>>()
        };
        let alerting = |a: &Value| {
            list(&a["AlarmActions"])
                .iter()
                .any(|action| ref_target(action).is_some_and(|topic| t.kind(topic) == "AWS::SNS::Topic"))
        };
        let rule = |a: &Value, period: u64, evaluations: u64, threshold: u64, op: &str| {
            number(&a["Period"]) == Some(period)
                && number(&a["EvaluationPeriods"]) == Some(evaluations)
                && number(&a["Threshold"]) == Some(threshold)
                && a["ComparisonOperator"] == op
                && alerting(a)
        };
        // DLQs and on-failure queues: any message held is one to look at.
        let any_message = |a: &&Value| {
            alerting(a)
                && number(&a["EvaluationPeriods"]) == Some(1)
                && matches!(
                    (number(&a["Threshold"]), a["ComparisonOperator"].as_str()),
                    (Some(1), Some("GreaterThanOrEqualToThreshold"))
                        | (Some(0), Some("GreaterThanThreshold"))
                )
        };
        for queue in source_queues(t) {
            let depth = find(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                queue,
            );
            p.check(
                depth
                    .iter()
                    .any(|a| rule(a, 300, 2, 1000, "GreaterThanThreshold")),
                || format!("{queue}: an alarm on depth over 1000 for 2 periods of 5 minutes"),
            );
            let age = find("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue);
            // Older than 300 s throughout 5 minutes: 1 period of 5 minutes or 5 of 1.
            p.check(
                age.iter().any(|a| {
                    rule(a, 300, 1, 300, "GreaterThanThreshold")
                        || rule(a, 60, 5, 300, "GreaterThanThreshold")
                }),
                || format!("{queue}: an alarm on the oldest message older than 300 s for 5 minutes"),
            );
            if let Some(dlq) = dlq_of(t, queue) {
                let held = find("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq);
                p.check(held.iter().any(&any_message), || {
                    format!("{dlq}: an alarm when it holds at least one message")
                });
            }
        }
        for queue in failure_queues(t) {
            let held = find(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                queue.as_str(),
            );
            p.check(held.iter().any(&any_message), || {
                format!("{queue}: an alarm when it holds at least one message")
            });
        }
        for (id, f) in t.of_type("AWS::Serverless::Function") {
            for metric in ["Errors", "Throttles"] {
                let found = find("AWS/Lambda", metric, "FunctionName", id);
                p.check(found.iter().any(|a| alerting(a)), || {
                    format!("{id}: a {metric} alarm")
                });
            }
            if !stream_events(f).is_empty() {
                // Behind the stream by over a minute throughout 5 minutes.
                let age = find("AWS/Lambda", "IteratorAge", "FunctionName", id);
                p.check(
                    age.iter().any(|a| {
                        a["Statistic"] == "Maximum"
                            && (rule(a, 60, 5, 60_000, "GreaterThanThreshold")
                                || rule(a, 300, 1, 60_000, "GreaterThanThreshold"))
                    }),
                    || format!("{id}: an alarm on its iterator age over 60 s for 5 minutes"),
                );
            }
        }
        let email = !t.name.contains("AlarmEmail=\"\"");
        let subscribed = t
            .of_type("AWS::SNS::Subscription")
            .any(|(_, s)| s["Protocol"] == "email" && ref_target(&s["Endpoint"]) == Some("AlarmEmail"));
        p.check(subscribed == email, || {
            "an e-mail subscription to the alarms exactly when AlarmEmail is set".to_owned()
        });
    });
}

#[test]
fn no_iam_statement_allows_a_wildcard_action() {
    check_all_variants(|t, p| {
        for (id, s) in all_statements(t) {
            for action in strings(&s["Action"]) {
                p.check(action != "*", || {
                    format!("{id}: statement {} has Action \"*\"", s["Sid"])
                });
                if s["Effect"] == "Allow" {
                    p.check(!action.contains('*'), || {
                        format!("{id}: statement {} allows the wildcard action {action}", s["Sid"])
                    });
                }
            }
            p.check(s["NotAction"].is_null() && s["NotResource"].is_null(), || {
                format!("{id}: statement {} uses NotAction/NotResource", s["Sid"])
            });
            if s["Effect"] == "Allow" && strings(&s["Resource"]).contains("*") {
                for action in strings(&s["Action"]) {
                    let scoped = UNSCOPABLE.iter().any(|(a, key)| {
                        *a == action
                            && key.is_none_or(|key| {
                                s["Condition"]
                                    .as_object()
                                    .into_iter()
                                    .flatten()
                                    .any(|(_, keys)| !keys[key].is_null())
                            })
                    });
                    p.check(scoped, || {
                        format!("{id}: {action} on Resource \"*\" although it can be scoped (or lacks its condition)")
                    });
                }
            }
        }
    });
}

#[test]
fn every_function_role_is_least_privilege() {
    check_all_variants(|t, p| {
        for (id, f) in t.of_type("AWS::Serverless::Function") {
            let Some((role, "Arn")) = get_att(&f["Role"]) else {
                p.check(false, || format!("{id}: Role must be !GetAtt <its own role>.Arn"));
                continue;
            };
            p.check(t.kind(role) == "AWS::IAM::Role", || {
                format!("{id}: role {role} is in the template")
            });
            let shared = t
                .of_type("AWS::Serverless::Function")
                .filter(|(_, other)| get_att(&other["Role"]).map(|(r, _)| r) == Some(role))
                .count();
            p.check(shared == 1, || format!("{id}: role {role} is its own"));
            let env = &f["Environment"]["Variables"];
            let env_target = |name: &str| target(&env[name]).map(str::to_owned);
            let sources: Vec<String> = sqs_events(f).into_iter().map(|(q, _)| q).collect();
            let own_dlqs: BTreeSet<String> = sources
                .iter()
                .filter_map(|q| dlq_of(t, q).map(str::to_owned))
                .collect();
            let outputs: BTreeSet<String> = env
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.ends_with("_QUEUE_URL"))
                .filter_map(|(_, v)| ref_target(v).map(str::to_owned))
                .collect();
            // Exactly the calls its code makes on its tables (`ORDERS_TABLE_ACTIONS`
            // on the orders table), each on its own table.
            let own_calls = table_calls(id, env);
            let streams = stream_events(f);
            let read_streams: BTreeSet<String> = streams
                .iter()
                .map(|(table, _)| format!("{table}.StreamArn"))
                .collect();
            let failure_destinations: BTreeSet<String> = streams
                .iter()
                .filter_map(|(_, e)| on_failure_destination(e).map(str::to_owned))
                .collect();
            let topic = env_target("NOTIFICATION_TOPIC_ARN");
            let log_group = target(&f["LoggingConfig"]["LogGroup"]).map(str::to_owned);
            let namespace = env["METRICS_NAMESPACE"].as_str().unwrap_or("Orderflow");
            let in_vpc = !f["VpcConfig"].is_null();

            let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for s in role_statements(t, role) {
                if s["Effect"] != "Allow" {
                    continue;
                }
                let resources: Vec<&Value> = list(&s["Resource"]);
                for action in strings(&s["Action"]) {
                    for r in &resources {
                        let on = resource_name(r);
                        granted.entry(action.clone()).or_default().insert(on.clone());
                        let allowed = match action.split(':').next().unwrap_or_default() {
                            "logs" => log_group.as_deref() == Some(on.as_str()),
                            "sqs" if action == "sqs:SendMessage" => {
                                outputs.contains(&on)
                                    || own_dlqs.contains(&on)
                                    || failure_destinations.contains(&on)
                            }
                            "sqs" => CONSUME_ACTIONS.contains(&action.as_str()) && sources.contains(&on),
                            "dynamodb" if STREAM_ACTIONS.contains(&action.as_str()) => {
                                read_streams.contains(&on)
                            }
                            "dynamodb" if action == LIST_STREAMS => !read_streams.is_empty() && on == "*",
                            "dynamodb" => own_calls.contains(&(action.clone(), on.clone())),
                            "sns" => action == "sns:Publish" && topic.as_deref() == Some(on.as_str()),
                            "xray" => {
                                XRAY_ACTIONS.contains(&action.as_str())
                                    && on == "*"
                                    && f["Tracing"] == "Active"
                            }
                            "ec2" => {
                                in_vpc
                                    && ((VPC_DESCRIBE_ACTIONS.contains(&action.as_str()) && on == "*")
                                        || (VPC_INTERFACE_ACTIONS.contains(&action.as_str())
                                            && sub_text(r) == Some(VPC_RESOURCES)))
                            }
                            "cloudwatch" => {
                                action == "cloudwatch:PutMetricData"
                                    && t.params["MetricsSink"] == "cloudwatch"
                                    && on == "*"
                                    && s["Condition"]["StringEquals"]["cloudwatch:namespace"] == namespace
                            }
                            _ => false,
                        };
                        p.check(allowed, || format!("{id}: its role allows {action} on {on}"));
                    }
                }
            }
            // And it can do what its code does.
            let has = |action: &str, on: &str| granted.get(action).is_some_and(|r| r.contains(on));
            for source in &sources {
                for action in CONSUME_ACTIONS {
                    p.check(has(action, source), || {
                        format!("{id}: needs {action} on {source}")
                    });
                }
            }
            for queue in outputs.iter().chain(&own_dlqs).chain(&failure_destinations) {
                p.check(has("sqs:SendMessage", queue), || {
                    format!("{id}: needs sqs:SendMessage on {queue}")
                });
            }
            for (action, table) in &own_calls {
                p.check(has(action, table), || format!("{id}: needs {action} on {table}"));
            }
            for stream in &read_streams {
                for action in STREAM_ACTIONS {
                    p.check(has(action, stream), || {
                        format!("{id}: needs {action} on {stream}")
                    });
                }
                p.check(has(LIST_STREAMS, "*"), || {
                    format!("{id}: needs {LIST_STREAMS} on \"*\"")
                });
            }
            if let Some(topic) = &topic {
                p.check(has("sns:Publish", topic), || {
                    format!("{id}: needs sns:Publish on {topic}")
                });
            }
            let sink = match ref_target(&env["METRICS_SINK"]) {
                Some(param) => t.params.get(param).map_or("", String::as_str),
                None => env["METRICS_SINK"].as_str().unwrap_or_default(),
            };
            if sink == "cloudwatch" {
                p.check(has("cloudwatch:PutMetricData", "*"), || {
                    format!("{id}: needs cloudwatch:PutMetricData")
                });
            }
            if let Some(group) = &log_group {
                p.check(has("logs:PutLogEvents", group), || {
                    format!("{id}: needs to write its logs")
                });
            }
            if in_vpc {
                for action in VPC_DESCRIBE_ACTIONS {
                    p.check(has(action, "*"), || format!("{id}: in a VPC, needs {action}"));
                }
                for action in VPC_INTERFACE_ACTIONS {
                    p.check(granted.contains_key(action), || {
                        format!("{id}: in a VPC, needs {action}")
                    });
                }
            }
            // One trace per order: every function traced, and allowed to send it.
            p.check(f["Tracing"] == "Active", || format!("{id}: Tracing: Active"));
            for action in XRAY_ACTIONS {
                p.check(has(action, "*"), || format!("{id}: needs {action}"));
            }
        }
    });
}

/// The DynamoDB actions of each role are exactly those its code calls, on the
/// tables its variables name, and those Lambda's poller calls on the stream its
/// event reads; on the idempotency table only for the keys of its own step
/// (`dynamodb:LeadingKeys`), so no consumer reads, completes or releases
/// another's records; on the orders table `PutItem` and `GetItem` for
/// `order-api`, `UpdateItem` and `GetItem` for each consumer
/// (`ORDERS_TABLE_ACTIONS`).
#[test]
fn each_role_grants_exactly_its_dynamodb_calls_on_its_own_idempotency_keys() {
    check_all_variants(|t, p| {
        for (id, f) in t.of_type("AWS::Serverless::Function") {
            let Some((role, _)) = get_att(&f["Role"]) else {
                continue; // every_function_role_is_least_privilege reports it
            };
            let env = &f["Environment"]["Variables"];
            let idempotency_table = target(&env["IDEMPOTENCY_TABLE"]);
            let mut expected = table_calls(id, env);
            for (table, _) in stream_events(f) {
                let stream = format!("{table}.StreamArn");
                expected.extend(STREAM_ACTIONS.iter().map(|a| (a.to_string(), stream.clone())));
                expected.insert((LIST_STREAMS.to_owned(), "*".to_owned()));
            }
            let own_keys = STEPS
                .iter()
                .find(|(function, _)| *function == id)
                .map(|(_, step)| idempotency_key(step, "*"));
            let mut granted = BTreeSet::new();
            for s in role_statements(t, role) {
                let actions: Vec<String> = strings(&s["Action"])
                    .into_iter()
                    .filter(|a| a.starts_with("dynamodb:"))
                    .collect();
                if s["Effect"] != "Allow" || actions.is_empty() {
                    continue;
                }
                for r in list(&s["Resource"]) {
                    let on = resource_name(r);
                    granted.extend(actions.iter().map(|a| (a.clone(), on.clone())));
                    if Some(on.as_str()) != idempotency_table {
                        continue;
                    }
                    let condition = &s["Condition"];
                    let leading_keys = strings(&condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]);
                    let keys_named = condition["Null"]["dynamodb:LeadingKeys"] == "false";
                    let Some(own) = &own_keys else {
                        p.check(false, || {
                            format!("{id}: uses the idempotency table but has no entry in STEPS")
                        });
                        continue;
                    };
                    p.check(leading_keys == BTreeSet::from([own.clone()]) && keys_named, || {
                        let sid = &s["Sid"];
                        format!(
                            "{id}: statement {sid} on {on} must hold ForAllValues:StringLike dynamodb:LeadingKeys \
                             [{own:?}] and Null dynamodb:LeadingKeys \"false\", not {condition}"
                        )
                    });
                }
            }
            let extra: Vec<_> = granted.difference(&expected).collect();
            let missing: Vec<_> = expected.difference(&granted).collect();
            p.check(extra.is_empty() && missing.is_empty(), || {
                format!("{id}: {role} grants DynamoDB actions no code calls {extra:?}, lacks {missing:?}")
            });
        }
    });
}

/// No consumer may replace or remove an order: no statement of its role allows
/// `PutItem`, `DeleteItem` or `BatchWriteItem` (which puts and deletes whole
/// items too) on the orders table or on `*`, under any spelling or wildcard IAM
/// would match, and it attaches no managed policy, whose statements this test
/// cannot read. A consumer changes an order only by the conditional
/// `UpdateItem` of a transition.
#[test]
fn no_consumer_puts_or_deletes_orders() {
    check_all_variants(|t, p| {
        for (id, _) in STEPS {
            let Some((role, _)) = get_att(&t.props(id)["Role"]) else {
                continue; // every_function_role_is_least_privilege reports it
            };
            p.check(list(&t.props(role)["ManagedPolicyArns"]).is_empty(), || {
                format!("{id}: {role} attaches managed policies, which may put or delete orders")
            });
            for s in role_statements(t, role) {
                if s["Effect"] != "Allow" {
                    continue;
                }
                let on_orders = list(&s["Resource"]).into_iter().any(|r| {
                    let on = resource_name(r);
                    on == OUTBOX_TABLE || on == "*"
                });
                if !on_orders {
                    continue;
                }
                for action in strings(&s["Action"]) {
                    for write in WHOLE_ITEM_WRITES {
                        p.check(!action_matches(&action, write), || {
                            let sid = &s["Sid"];
                            format!("{id}: statement {sid} allows {write} ({action}) on {OUTBOX_TABLE}")
                        });
                    }
                }
            }
        }
    });
}

/// Each of `env`'s variables naming a resource points at one of its kind:
/// `*_QUEUE_URL` and `DLQ_URL` at a queue, `*_TABLE` at a table, `*_TOPIC_ARN`
/// at a topic.
fn check_variable_kinds(t: &Template, p: &mut Problems, id: &str, env: &Value) {
    for (name, value) in env.as_object().into_iter().flatten() {
        let Some(resource) = target(value) else { continue };
        let expected = if name.ends_with("_QUEUE_URL") || name == "DLQ_URL" {
            "AWS::SQS::Queue"
        } else if name.ends_with("_TABLE") {
            "AWS::DynamoDB::Table"
        } else if name.ends_with("_TOPIC_ARN") {
            "AWS::SNS::Topic"
        } else {
            continue;
        };
        p.check(resource == "AWS::NoValue" || t.kind(resource) == expected, || {
            format!("{id}: {name} must point at an {expected}, not {resource}")
        });
    }
}

#[test]
fn every_variable_the_code_requires_is_set_and_points_at_the_right_resource() {
    check_all_variants(|t, p| {
        for (id, _, required) in &consumers() {
            let f = t.props(id);
            let env = &f["Environment"]["Variables"];
            for name in DEPLOYED.iter().chain(required.iter()) {
                p.check(!env[*name].is_null(), || {
                    format!("{id}: environment variable {name} is not set")
                });
            }
            p.check(ref_target(&env["ENVIRONMENT"]) == Some("Environment"), || {
                format!("{id}: ENVIRONMENT is the Environment parameter")
            });
            p.check(ref_target(&env["METRICS_SINK"]) == Some("MetricsSink"), || {
                format!("{id}: METRICS_SINK is the MetricsSink parameter")
            });
            let source_dlq = sqs_events(f)
                .first()
                .and_then(|(queue, _)| dlq_of(t, queue).map(str::to_owned));
            p.check(
                source_dlq.is_some() && ref_target(&env["DLQ_URL"]) == source_dlq.as_deref(),
                || format!("{id}: DLQ_URL must be the URL of its source queue's DLQ ({source_dlq:?})"),
            );
            check_variable_kinds(t, p, id, env);
            if let Some(table) = target(&env["IDEMPOTENCY_TABLE"]) {
                let table = t.props(table);
                p.check(
                    table["KeySchema"] == json!([{ "AttributeName": "id", "KeyType": "HASH" }])
                        && table["TimeToLiveSpecification"]
                            == json!({ "AttributeName": "expiresAt", "Enabled": true }),
                    || format!("{id}: IDEMPOTENCY_TABLE keyed by id with TTL on expiresAt"),
                );
            }
            if let Some(table) = target(&env["INVENTORY_TABLE"]) {
                p.check(
                    t.props(table)["KeySchema"] == json!([{ "AttributeName": "pk", "KeyType": "HASH" }]),
                    || format!("{id}: INVENTORY_TABLE keyed by pk"),
                );
            }
            // The table its transitions are recorded on is the one order-api writes.
            let orders_table = &env[adapters::ORDERS_TABLE];
            if !orders_table.is_null() {
                p.check(ref_target(orders_table) == Some(OUTBOX_TABLE), || {
                    format!(
                        "{id}: {} must be the orders table's name (!Ref {OUTBOX_TABLE})",
                        adapters::ORDERS_TABLE
                    )
                });
            }
        }
    });
}

/// Every table, and the orders table's key and stream (the relay publishes the
/// new image of each order from it).
#[test]
fn tables_are_on_demand_with_point_in_time_recovery_and_encryption() {
    check_all_variants(|t, p| {
        let production = t.params["Environment"] == "production";
        for (id, table) in t.of_type("AWS::DynamoDB::Table") {
            p.check(table["DeletionProtectionEnabled"] == production, || {
                format!("{id}: deletion protection in production only")
            });
            p.check(table["BillingMode"] == "PAY_PER_REQUEST", || {
                format!("{id}: on-demand")
            });
            p.check(
                table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] == true,
                || format!("{id}: point-in-time recovery"),
            );
            p.check(table["SSESpecification"]["SSEEnabled"] == true, || {
                format!("{id}: SSE")
            });
        }
        if t.kind(OUTBOX_TABLE) != "AWS::DynamoDB::Table" {
            p.check(false, || format!("{OUTBOX_TABLE}: a DynamoDB table"));
            return;
        }
        let orders = t.props(OUTBOX_TABLE);
        p.check(
            orders["KeySchema"] == json!([{ "AttributeName": "orderId", "KeyType": "HASH" }])
                && orders["AttributeDefinitions"]
                    == json!([{ "AttributeName": "orderId", "AttributeType": "S" }]),
            || format!("{OUTBOX_TABLE}: keyed by orderId, a string"),
        );
        p.check(
            orders["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE",
            || format!("{OUTBOX_TABLE}: a stream of new images"),
        );
    });
}

#[test]
fn outputs_export_every_queue_table_and_the_dashboard() {
    check_all_variants(|t, p| {
        let exported: BTreeMap<String, &Value> = t
            .outputs
            .iter()
            .map(|(name, o)| {
                let export = sub_text(&o["Export"]["Name"]).unwrap_or_default();
                p.check(export == format!("${{AWS::StackName}}-{name}"), || {
                    format!("output {name}: exported as ${{AWS::StackName}}-{name}")
                });
                (name.clone(), &o["Value"])
            })
            .collect();
        let values: Vec<&Value> = exported.values().copied().collect();
        for (id, _) in t.of_type("AWS::SQS::Queue") {
            p.check(values.iter().any(|v| ref_target(v) == Some(id)), || {
                format!("{id}: its URL is an output")
            });
        }
        for (id, _) in t.of_type("AWS::DynamoDB::Table") {
            p.check(values.iter().any(|v| ref_target(v) == Some(id)), || {
                format!("{id}: its name is an output")
            });
        }
        for (id, _) in t.of_type("AWS::Serverless::Function") {
            p.check(values.iter().any(|v| ref_target(v) == Some(id)), || {
                format!("{id}: its name is an output")
            });
        }
        let dashboard = exported
            .get("DashboardUrl")
            .and_then(|v| sub_text(v))
            .unwrap_or_default();
        let board = t.of_type("AWS::CloudWatch::Dashboard").next().map(|(id, _)| id);
        p.check(
            board.is_some_and(|b| dashboard.contains(&format!("#dashboards:name=${{{b}}}"))),
            || "DashboardUrl: the console URL of the dashboard".to_owned(),
        );
    });
}

#[test]
fn metrics_default_to_embedded_metric_format_the_measured_choice() {
    // README, Metrics: EMF adds no call before the function answers and costs
    // a tenth of PutMetricData's requests per million orders.
    let raw = raw_template();
    assert_eq!(raw["Parameters"]["MetricsSink"]["Default"], "emf");
}

#[test]
fn dashboard_shows_the_queues_dlqs_custom_metrics_and_functions() {
    check_all_variants(|t, p| {
        let Some((id, board)) = t.of_type("AWS::CloudWatch::Dashboard").next() else {
            p.check(false, || "a CloudWatch dashboard".to_owned());
            return;
        };
        let body = sub_text(&board["DashboardBody"]).unwrap_or_default();
        // Every ${...} must name a parameter, a pseudo parameter or a resource.
        let mut substituted = String::new();
        let mut rest = body;
        while let Some(start) = rest.find("${") {
            substituted.push_str(&rest[..start]);
            let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
            let variable = &rest[start + 2..end];
            let resource = variable.split('.').next().unwrap_or_default();
            p.check(
                resource.starts_with("AWS::")
                    || resource == "Environment"
                    || t.resources.contains_key(resource),
                || format!("{id}: ${{{variable}}} names nothing in the template"),
            );
            substituted.push('x');
            rest = &rest[(end + 1).min(rest.len())..];
        }
        substituted.push_str(rest);
        let parsed: Result<Value, _> = serde_json::from_str(&substituted);
        p.check(parsed.is_ok(), || {
            format!("{id}: DashboardBody is not JSON: {parsed:?}")
        });
        for queue in source_queues(t) {
            p.check(body.contains(&format!("${{{queue}.QueueName}}")), || {
                format!("{id}: shows {queue}")
            });
            if let Some(dlq) = dlq_of(t, queue) {
                p.check(body.contains(&format!("${{{dlq}.QueueName}}")), || {
                    format!("{id}: shows {dlq}")
                });
            }
        }
        for needle in [
            "ApproximateNumberOfMessagesVisible",
            "ApproximateAgeOfOldestMessage",
            "MessagesProcessed",
            "MessagesFailed",
            "MessagesSentToDlq",
            "DuplicatesSkipped",
            "ProcessingLatency",
            "\"p50\"",
            "\"p99\"",
            "\"Duration\"",
            "\"Errors\"",
        ] {
            p.check(body.contains(needle), || format!("{id}: shows {needle}"));
        }
        for (function, _, _) in &consumers() {
            p.check(body.contains(&format!("${{{function}}}")), || {
                format!("{id}: shows {function}")
            });
        }
        // The steps' own metrics, by the names and dimensions the code records them with.
        for (step, metric) in [
            (inventory::STEP, inventory::ORDERS_REJECTED.name),
            (inventory::STEP, inventory::ORDER_VALUE.name),
        ] {
            let series = format!("\"Orderflow\", \"{metric}\", \"Service\", \"{step}\"");
            p.check(body.contains(&series), || {
                format!("{id}: shows {step}'s {metric}")
            });
        }
        let by_carrier = format!(
            "SEARCH('{{Orderflow,Service,Environment,{}}} MetricName=\\\"{}\\\" Service=\\\"{}\\\"",
            shipping::CARRIER,
            shipping::SHIPMENTS_CREATED.name,
            shipping::STEP
        );
        p.check(body.contains(&by_carrier), || {
            format!(
                "{id}: shows shipping's {} by {}",
                shipping::SHIPMENTS_CREATED.name,
                shipping::CARRIER
            )
        });
        // Stream readers: their invocations, errors and iterator age, the table
        // whose stream they read, and their on-failure queue.
        for (function, f) in t.of_type("AWS::Serverless::Function") {
            for (table, _) in stream_events(f) {
                for metric in ["Invocations", "Errors", "IteratorAge"] {
                    let series =
                        format!("\"AWS/Lambda\", \"{metric}\", \"FunctionName\", \"${{{function}}}\"");
                    p.check(body.contains(&series), || {
                        format!("{id}: shows {function}'s {metric}")
                    });
                }
                p.check(
                    body.contains(&format!(
                        "\"AWS/DynamoDB\", \"ConsumedWriteCapacityUnits\", \"TableName\", \"${{{table}}}\""
                    )) || body.contains(&format!(
                        "\"AWS/DynamoDB\", \"SuccessfulRequestCount\", \"TableName\", \"${{{table}}}\""
                    )),
                    || format!("{id}: shows {table}'s writes"),
                );
            }
        }
        for queue in failure_queues(t) {
            p.check(body.contains(&format!("${{{queue}.QueueName}}")), || {
                format!("{id}: shows {queue}")
            });
        }
    });
}

/// The dashboard's order metrics come from metric filters on the functions'
/// log groups, each matching the exact line the code logs: orders accepted
/// from order-api's, failed transitions from every consumer's.
#[test]
fn order_metrics_count_the_lines_the_functions_log() {
    let pattern = |message: &str| format!(r#"{{ $.message = "{message}" }}"#);
    check_all_variants(|t, p| {
        let log_group =
            |function: &str| ref_target(&t.props(function)["LoggingConfig"]["LogGroup"]).map(str::to_owned);
        let filtered = |metric: &str| -> Vec<(Option<String>, String, String)> {
            t.of_type("AWS::Logs::MetricFilter")
                .filter(|(_, f)| f["MetricTransformations"][0]["MetricName"] == metric)
                .map(|(_, f)| {
                    (
                        ref_target(&f["LogGroupName"]).map(str::to_owned),
                        scalar_text(&f["FilterPattern"]),
                        scalar_text(&f["MetricTransformations"][0]["MetricValue"]),
                    )
                })
                .collect()
        };
        p.check(
            filtered("OrdersAccepted")
                == vec![(
                    log_group("OrderApiFunction"),
                    pattern(order_api::ACCEPTED_LOG_MESSAGE),
                    "1".to_owned(),
                )],
            || {
                format!(
                    "OrdersAccepted: one filter on order-api's log group, {:?}",
                    filtered("OrdersAccepted")
                )
            },
        );
        let mut failed = filtered("FailedTransitions");
        failed.sort();
        let mut expected: Vec<_> = consumers()
            .iter()
            .map(|(function, _, _)| {
                (
                    log_group(function),
                    pattern(orderflow_orders::recording::FAILED_LOG_MESSAGE),
                    "1".to_owned(),
                )
            })
            .collect();
        expected.sort();
        p.check(failed == expected, || {
            format!("FailedTransitions: one filter per consumer's log group, {failed:?}")
        });
        let board = t
            .of_type("AWS::CloudWatch::Dashboard")
            .next()
            .map(|(_, b)| sub_text(&b["DashboardBody"]).unwrap_or_default())
            .unwrap_or_default();
        for metric in ["OrdersAccepted", "FailedTransitions"] {
            p.check(
                board.contains(&format!("\"Orderflow/${{AWS::StackName}}\", \"{metric}\"")),
                || format!("the dashboard shows {metric}"),
            );
        }
    });
}

/// The saved Logs Insights queries read every function's log group, by the
/// keys the functions log; the dashboard's dead-letter widget counts the line
/// the processor logs for each dead letter, in every consumer's log group.
#[test]
fn saved_queries_and_the_dead_letter_widget_read_what_the_functions_log() {
    check_all_variants(|t, p| {
        let function_groups: BTreeSet<String> = t
            .of_type("AWS::Serverless::Function")
            .filter_map(|(_, f)| ref_target(&f["LoggingConfig"]["LogGroup"]).map(str::to_owned))
            .collect();
        let queries: Vec<(&str, &Value)> = t.of_type("AWS::Logs::QueryDefinition").collect();
        p.check(queries.len() == 2, || {
            format!("two saved queries, {}", queries.len())
        });
        for (id, q) in &queries {
            let groups: BTreeSet<String> = list(&q["LogGroupNames"])
                .into_iter()
                .filter_map(ref_target)
                .map(str::to_owned)
                .collect();
            p.check(groups == function_groups, || {
                format!("{id}: every function's log group, {groups:?}")
            });
        }
        let text = |id: &str| scalar_text(&t.props(id)["QueryString"]);
        p.check(
            text("OrderJourneyQuery").contains("order_id = ")
                && text("OrderJourneyQuery").contains("correlation_id = "),
            || "OrderJourneyQuery: by order ID or correlation ID".to_owned(),
        );
        p.check(text("ErrorsByCodeQuery").contains("level = \"ERROR\""), || {
            "ErrorsByCodeQuery: error lines".to_owned()
        });
        let board = t
            .of_type("AWS::CloudWatch::Dashboard")
            .next()
            .map(|(_, b)| sub_text(&b["DashboardBody"]).unwrap_or_default())
            .unwrap_or_default();
        let filter = format!(
            "filter message = \\\"{}\\\"",
            orderflow_batch::processor::DEAD_LETTERED_LOG_MESSAGE
        );
        p.check(board.contains(&filter), || {
            format!("the dashboard counts `{filter}`")
        });
        for (function, _, _) in &consumers() {
            let group = ref_target(&t.props(function)["LoggingConfig"]["LogGroup"]).unwrap_or_default();
            p.check(board.contains(&format!("SOURCE '${{{group}}}'")), || {
                format!("the dead-letter widget reads {group}")
            });
        }
    });
}

/// `orderflow run` mirrors the deployment (event source mappings and queues);
/// its settings are constants in `orderflow::run::settings`, checked here.
#[test]
fn the_local_runner_uses_the_templates_settings() {
    use orderflow::invoke::Function;
    use orderflow::run::settings;

    let raw = raw_template();
    let max_concurrency = raw["Parameters"]["MaxConcurrency"]["Default"].clone();
    assert_eq!(
        number(&max_concurrency),
        Some(settings::MAX_CONCURRENCY as u64),
        "MaxConcurrency default"
    );
    let function_of = |f: Function| match f {
        Function::Inventory => "InventoryFunction",
        Function::Shipping => "ShippingFunction",
        Function::Notification => "NotificationFunction",
        Function::OrderApi => "OrderApiFunction",
        Function::OrderRelay => "OrderRelayFunction",
    };
    check_all_variants(|t, p| {
        let fifo = is_fifo(t);
        for stage in settings::STAGES {
            let id = function_of(stage.function);
            let f = t.props(id);
            p.check(
                number(&f["Timeout"]) == Some(settings::FUNCTION_TIMEOUT.as_secs()),
                || {
                    format!(
                        "{id}: Timeout is {}s in the runner",
                        settings::FUNCTION_TIMEOUT.as_secs()
                    )
                },
            );
            let Some((queue, e)) = sqs_events(f).into_iter().next() else {
                p.check(false, || format!("{id} has no SQS event"));
                continue;
            };
            let (batch, window) = if fifo {
                (settings::FIFO_BATCH_SIZE as u64, None)
            } else {
                (stage.batch_size as u64, Some(stage.batching_window.as_secs()))
            };
            p.check(number(&e["BatchSize"]) == Some(batch), || {
                format!("{id}: BatchSize {batch} in the runner")
            });
            p.check(number(&e["MaximumBatchingWindowInSeconds"]) == window, || {
                format!("{id}: batching window {window:?} in the runner")
            });
            let q = t.props(&queue);
            p.check(
                number(&q["VisibilityTimeout"]) == Some(settings::VISIBILITY_TIMEOUT.as_secs()),
                || {
                    format!(
                        "{queue}: VisibilityTimeout {} in the runner",
                        settings::VISIBILITY_TIMEOUT.as_secs()
                    )
                },
            );
            p.check(
                number(&q["MessageRetentionPeriod"]) == Some(settings::SOURCE_RETENTION.as_secs()),
                || format!("{queue}: retention in the runner"),
            );
            p.check(
                number(&q["RedrivePolicy"]["maxReceiveCount"])
                    == Some(u64::from(settings::MAX_RECEIVE_COUNT)),
                || {
                    format!(
                        "{queue}: maxReceiveCount {} in the runner",
                        settings::MAX_RECEIVE_COUNT
                    )
                },
            );
            if let Some(dlq) = dlq_of(t, &queue) {
                p.check(
                    number(&t.props(dlq)["MessageRetentionPeriod"])
                        == Some(settings::DLQ_RETENTION.as_secs()),
                    || format!("{dlq}: retention in the runner"),
                );
            }
            let source_name = sub_text(&q["QueueName"]).unwrap_or_default();
            p.check(source_name.contains(stage.source), || {
                format!(
                    "{id} consumes {queue} ({source_name}); the runner has it consume {}",
                    stage.source
                )
            });
        }
    });
}

/// The order API gets every variable its code requires, pointing at the orders
/// table; it sends nothing (the relay publishes what it writes).
#[test]
fn the_order_api_gets_its_variables() {
    check_all_variants(|t, p| {
        let env = &t.props("OrderApiFunction")["Environment"]["Variables"];
        for name in variables_read_by(order_api::config) {
            p.check(!env[name].is_null(), || {
                format!("OrderApiFunction: {name} is not set")
            });
        }
        p.check(
            ref_target(&env[adapters::ORDERS_TABLE]) == Some(OUTBOX_TABLE),
            || {
                format!(
                    "OrderApiFunction: {} must be the orders table's name",
                    adapters::ORDERS_TABLE
                )
            },
        );
        p.check(env[queue_url_variable(Queue::Orders)].is_null(), || {
            "OrderApiFunction sends nothing (the order relay publishes the orders table's stream): \
             ORDERS_QUEUE_URL should not be set"
                .to_owned()
        });
        p.check(env["IDEMPOTENCY_TABLE"].is_null(), || {
            "OrderApiFunction keeps no idempotency records: IDEMPOTENCY_TABLE should not be set".to_owned()
        });
        check_variable_kinds(t, p, "OrderApiFunction", env);
    });
}

/// The order relay gets every variable its code requires, pointing at the
/// orders queue, and the metrics settings; it keeps no idempotency records and
/// has no DLQ (a stream has none: its on-failure destination takes the batches
/// it gives up on).
#[test]
fn the_order_relay_gets_its_variables() {
    let (id, _, required) = relay();
    check_all_variants(|t, p| {
        let env = &t.props(id)["Environment"]["Variables"];
        for name in &required {
            p.check(!env[*name].is_null(), || format!("{id}: {name} is not set"));
        }
        p.check(
            ref_target(&env[queue_url_variable(Queue::Orders)]) == Some("OrdersQueue"),
            || format!("{id}: ORDERS_QUEUE_URL must be the orders queue's URL"),
        );
        p.check(env[adapters::IDEMPOTENCY_TABLE].is_null(), || {
            format!("{id} keeps no idempotency records: IDEMPOTENCY_TABLE should not be set")
        });
        p.check(env[processor::DLQ_URL].is_null(), || {
            format!("{id} reads a stream, which has no DLQ: DLQ_URL should not be set")
        });
        p.check(
            ref_target(&env[processor::ENVIRONMENT]) == Some("Environment"),
            || format!("{id}: ENVIRONMENT is the Environment parameter"),
        );
        p.check(
            ref_target(&env[adapters::METRICS_SINK]) == Some("MetricsSink")
                && env[adapters::METRICS_NAMESPACE] == "Orderflow",
            || format!("{id}: METRICS_SINK is the MetricsSink parameter, METRICS_NAMESPACE=Orderflow"),
        );
        check_variable_kinds(t, p, id, env);
    });
}

/// The relay's event source mapping: the orders table's stream from its oldest
/// record, one batch per shard at a time (an order's records stay in order),
/// batch item failures, bisection, bounded retries and record age, and an
/// on-failure destination that is a standard queue with an alarm.
#[test]
fn the_order_relay_reads_the_orders_stream_with_bounded_retries_and_a_failure_queue() {
    let (id, _, _) = relay();
    check_all_variants(|t, p| {
        let readers: Vec<&str> = t
            .of_type("AWS::Serverless::Function")
            .filter(|(_, f)| !stream_events(f).is_empty())
            .map(|(function, _)| function)
            .collect();
        p.check(readers == [id], || {
            format!("only {id} reads a stream, not {readers:?}")
        });
        if t.kind(id) != "AWS::Serverless::Function" {
            p.check(false, || format!("{id} is missing"));
            return;
        }
        let f = t.props(id);
        p.check(sqs_events(f).is_empty(), || format!("{id}: no SQS event"));
        p.check(number(&f["Timeout"]) == Some(30), || {
            format!("{id}: Timeout 30 s")
        });
        let events = stream_events(f);
        p.check(events.len() == 1, || format!("{id}: exactly one stream event"));
        let Some((table, e)) = events.into_iter().next() else {
            return;
        };
        p.check(table == OUTBOX_TABLE, || {
            format!(
                "{id}: reads the stream of {OUTBOX_TABLE} (!GetAtt {OUTBOX_TABLE}.StreamArn), not {table}"
            )
        });
        p.check(e["StartingPosition"] == "TRIM_HORIZON", || {
            format!("{id}: StartingPosition TRIM_HORIZON (no order written before the mapping is missed)")
        });
        p.check(
            strings(&e["FunctionResponseTypes"]).contains("ReportBatchItemFailures"),
            || format!("{id}: FunctionResponseTypes must include ReportBatchItemFailures"),
        );
        p.check(e["BisectBatchOnFunctionError"] == true, || {
            format!("{id}: BisectBatchOnFunctionError")
        });
        // -1 (the default) retries until the record expires from the stream.
        let retries = e["MaximumRetryAttempts"].as_i64();
        p.check(matches!(retries, Some(0..=10)), || {
            format!("{id}: MaximumRetryAttempts bounded, at most 10, not {retries:?}")
        });
        // The stream keeps records 24 hours; -1 (the default) means as long.
        let age = e["MaximumRecordAgeInSeconds"].as_i64();
        p.check(matches!(age, Some(60..=86_400)), || {
            format!("{id}: MaximumRecordAgeInSeconds bounded, at most a day, not {age:?}")
        });
        p.check(number(&e["ParallelizationFactor"]) == Some(1), || {
            format!("{id}: ParallelizationFactor 1 (an order's records stay in order)")
        });
        let batch = number(&e["BatchSize"]);
        p.check(batch.is_some_and(|b| (1..=1000).contains(&b)), || {
            format!("{id}: a BatchSize of at most 1000, not {batch:?}")
        });
        let Some((queue, "Arn")) = get_att(&e["DestinationConfig"]["OnFailure"]["Destination"]) else {
            p.check(false, || {
                format!("{id}: DestinationConfig.OnFailure.Destination must be !GetAtt <queue>.Arn")
            });
            return;
        };
        p.check(t.kind(queue) == "AWS::SQS::Queue", || {
            format!("{id}: its on-failure destination {queue} is a queue of the template")
        });
        let alarmed = t.of_type("AWS::CloudWatch::Alarm").any(|(_, a)| {
            a["Namespace"] == "AWS/SQS"
                && a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && list(&a["Dimensions"])
                    .iter()
                    .any(|d| d["Name"] == "QueueName" && target(&d["Value"]) == Some(queue))
        });
        p.check(alarmed, || format!("{queue}: an alarm on the messages it holds"));
    });
}

/// `ApiAuth` chooses the authorization of both routes of the orders API: `iam`
/// SigV4-signed requests (`AWS_IAM`), `jwt` the JWT authorizer with the
/// `JwtIssuer` and `JwtAudience` parameters, `none` nothing (demos only). SAM's
/// `HttpApi` `Auth` takes no intrinsic functions, so the API is made of
/// `AWS::ApiGatewayV2` resources whose routes choose with `Fn::If`. Each route
/// proxies to `order-api`, which API Gateway may invoke for these routes.
#[test]
fn the_api_auth_parameter_sets_both_routes_authorization() {
    check_all_variants(|t, p| {
        let routes: BTreeMap<&str, &Value> = t
            .of_type("AWS::ApiGatewayV2::Route")
            .map(|(_, r)| (r["RouteKey"].as_str().unwrap_or_default(), r))
            .collect();
        let keys: BTreeSet<&str> = routes.keys().copied().collect();
        p.check(keys == BTreeSet::from(ORDER_ROUTES), || {
            format!("the orders API's routes are {ORDER_ROUTES:?}, not {keys:?}")
        });
        let auth = t.params["ApiAuth"].as_str();
        for (key, route) in &routes {
            p.check(ref_target(&route["ApiId"]) == Some(ORDERS_API), || {
                format!("{key}: a route of {ORDERS_API}")
            });
            let integration = sub_text(&route["Target"])
                .and_then(|s| s.strip_prefix("integrations/${"))
                .and_then(|s| s.strip_suffix('}'));
            let proxied = integration
                .filter(|id| t.kind(id) == "AWS::ApiGatewayV2::Integration")
                .is_some_and(|id| {
                    let i = t.props(id);
                    ref_target(&i["ApiId"]) == Some(ORDERS_API)
                        && i["IntegrationType"] == "AWS_PROXY"
                        && get_att(&i["IntegrationUri"]) == Some(("OrderApiFunction", "Arn"))
                        && i["PayloadFormatVersion"] == "2.0"
                });
            p.check(proxied, || {
                format!("{key}: Target integrations/${{...}} proxying to OrderApiFunction, payload 2.0")
            });
            let kind = route["AuthorizationType"].as_str();
            let authorizer = target(&route["AuthorizerId"]);
            match auth {
                "iam" => p.check(kind == Some("AWS_IAM") && authorizer.is_none(), || {
                    format!("{key}: with ApiAuth=iam, AuthorizationType AWS_IAM, no authorizer")
                }),
                "jwt" => {
                    let jwt = authorizer
                        .filter(|a| t.kind(a) == "AWS::ApiGatewayV2::Authorizer")
                        .map(|a| t.props(a));
                    let checked = jwt.is_some_and(|a| {
                        a["AuthorizerType"] == "JWT"
                            && ref_target(&a["ApiId"]) == Some(ORDERS_API)
                            && ref_target(&a["JwtConfiguration"]["Issuer"]) == Some("JwtIssuer")
                            && list(&a["JwtConfiguration"]["Audience"])
                                .iter()
                                .any(|x| ref_target(x) == Some("JwtAudience"))
                            && strings(&a["IdentitySource"]).contains("$request.header.Authorization")
                    });
                    p.check(kind == Some("JWT") && checked, || {
                        format!(
                            "{key}: with ApiAuth=jwt, AuthorizationType JWT and a JWT authorizer of \
                             {ORDERS_API} on the Authorization header, issuer JwtIssuer, audience JwtAudience"
                        )
                    });
                }
                "none" => p.check(kind.is_none_or(|k| k == "NONE") && authorizer.is_none(), || {
                    format!("{key}: with ApiAuth=none, AuthorizationType NONE, no authorizer")
                }),
                other => p.check(false, || format!("ApiAuth={other}: no expectation in this test")),
            }
        }
        let authorizers: Vec<&str> = t
            .of_type("AWS::ApiGatewayV2::Authorizer")
            .map(|(id, _)| id)
            .collect();
        p.check(authorizers.is_empty() == (auth != "jwt"), || {
            format!("an authorizer exactly when ApiAuth=jwt, not {authorizers:?}")
        });
        // API Gateway may invoke order-api for each route: `{orderId}` is `*` in
        // the execute-api ARN (`<api>/<stage>/<method>/<path>`).
        for key in ORDER_ROUTES {
            let (method, path) = key.split_once(' ').unwrap_or_default();
            let arn_end = format!("/{method}{}", path.replace("{orderId}", "*"));
            let allowed = t.of_type("AWS::Lambda::Permission").any(|(_, permission)| {
                permission["Action"] == "lambda:InvokeFunction"
                    && permission["Principal"] == "apigateway.amazonaws.com"
                    && target(&permission["FunctionName"]) == Some("OrderApiFunction")
                    && sub_text(&permission["SourceArn"]).is_some_and(|arn| {
                        arn.contains(&format!(":${{{ORDERS_API}}}/")) && arn.ends_with(&arn_end)
                    })
            });
            p.check(allowed, || {
                format!(
                    "{key}: a permission for API Gateway to invoke OrderApiFunction (SourceArn ...{arn_end})"
                )
            });
        }
    });
}

/// With `ApiAuth=jwt`, a rule refuses the stack without `JwtIssuer` and
/// `JwtAudience`, so the JWT authorizer never gets empty settings; the other
/// choices need neither.
/// Whether the template's rules let the first variant, with `changes`, be deployed.
fn deployable(changes: &[(&str, &str)]) -> bool {
    let raw = raw_template();
    let conditions = raw["Conditions"].as_object().cloned().unwrap_or_default();
    let rules = raw["Rules"].as_object().cloned().unwrap_or_default();
    let mut params = variants(&raw).remove(0);
    for (name, value) in changes {
        params.insert(name.to_string(), value.to_string());
    }
    rules.values().all(|rule| {
        let applies = rule
            .get("RuleCondition")
            .is_none_or(|c| eval_condition(c, &conditions, &params));
        !applies
            || list(&rule["Assertions"])
                .iter()
                .all(|a| eval_condition(&a["Assert"], &conditions, &params))
    })
}

#[test]
fn jwt_auth_requires_an_issuer_and_an_audience() {
    let (issuer, audience) = ("https://issuer.example.com", "orders");
    for auth in ["iam", "none"] {
        assert!(
            deployable(&[("ApiAuth", auth), ("JwtIssuer", ""), ("JwtAudience", "")]),
            "ApiAuth={auth} needs no JWT settings"
        );
    }
    assert!(
        deployable(&[
            ("ApiAuth", "jwt"),
            ("JwtIssuer", issuer),
            ("JwtAudience", audience)
        ]),
        "ApiAuth=jwt with an issuer and an audience"
    );
    assert!(
        !deployable(&[("ApiAuth", "jwt"), ("JwtIssuer", ""), ("JwtAudience", audience)]),
        "ApiAuth=jwt without JwtIssuer must be refused by a rule"
    );
    assert!(
        !deployable(&[("ApiAuth", "jwt"), ("JwtIssuer", issuer), ("JwtAudience", "")]),
        "ApiAuth=jwt without JwtAudience must be refused by a rule"
    );
}

/// `IdempotencyStore`: the code's choices, DynamoDB by default; with `dynamodb`
/// each consumer gets the table and nothing of Redis, with `redis` the URL
/// from the SSM parameter, no table at all (and so no grant on one: the
/// DynamoDB test above), and the Redis's VPC exactly when it has subnets.
/// Neither the order API nor the relay keeps idempotency records.
#[test]
fn idempotency_records_are_in_the_table_or_in_redis_never_both() {
    let raw = raw_template();
    let parameter = &raw["Parameters"]["IdempotencyStore"];
    let stores = Mode::Aws.idempotency_stores();
    assert_eq!(parameter["AllowedValues"], json!(stores), "the code's choices");
    assert_eq!(parameter["Default"], stores[0], "DynamoDB, the code's default");
    let redis_url = json!({ "Fn::Sub": "{{resolve:ssm:${RedisUrlParameterName}}}" });
    let split = |param: &str| json!({ "Fn::Split": [",", { "Ref": param }] });
    check_all_variants(|t, p| {
        let redis = t.params["IdempotencyStore"] == "redis";
        let in_vpc = redis && !t.params["RedisSubnetIds"].is_empty();
        p.check(
            redis != (t.kind("IdempotencyTable") == "AWS::DynamoDB::Table"),
            || "the idempotency table exists exactly when the records are kept in it".to_owned(),
        );
        for (id, _, _) in &consumers() {
            let f = t.props(id);
            let env = &f["Environment"]["Variables"];
            p.check(
                ref_target(&env[adapters::IDEMPOTENCY_STORE]) == Some("IdempotencyStore"),
                || format!("{id}: IDEMPOTENCY_STORE is the IdempotencyStore parameter"),
            );
            p.check(
                ref_target(&env[adapters::IDEMPOTENCY_TABLE]) == (!redis).then_some("IdempotencyTable"),
                || format!("{id}: IDEMPOTENCY_TABLE is the table's name with dynamodb only"),
            );
            p.check(
                env[adapters::REDIS_URL] == if redis { redis_url.clone() } else { Value::Null },
                || {
                    format!(
                        "{id}: REDIS_URL resolves the RedisUrlParameterName SSM parameter, with redis only"
                    )
                },
            );
            let vpc = &f["VpcConfig"];
            p.check(
                if in_vpc {
                    vpc["SubnetIds"] == split("RedisSubnetIds")
                        && vpc["SecurityGroupIds"] == split("RedisSecurityGroupIds")
                } else {
                    vpc.is_null()
                },
                || {
                    format!(
                        "{id}: in the Redis's subnets and security groups exactly when it has them, not {vpc}"
                    )
                },
            );
        }
        for (id, f) in t.of_type("AWS::Serverless::Function") {
            if consumers().iter().any(|(consumer, _, _)| *consumer == id) {
                continue;
            }
            let env = &f["Environment"]["Variables"];
            for name in [
                adapters::IDEMPOTENCY_STORE,
                adapters::IDEMPOTENCY_TABLE,
                adapters::REDIS_URL,
            ] {
                p.check(env[name].is_null(), || {
                    format!("{id}: keeps no idempotency records, sets no {name}")
                });
            }
            p.check(f["VpcConfig"].is_null(), || {
                format!("{id}: reaches no Redis, runs in no VPC")
            });
        }
    });
}

#[test]
fn a_redis_vpc_needs_its_subnets_its_security_groups_and_redis() {
    let (subnets, groups) = ("subnet-0a1b2c3d", "sg-0123abcd");
    assert!(
        deployable(&[("IdempotencyStore", "redis")]),
        "a Redis outside any VPC"
    );
    assert!(
        deployable(&[
            ("IdempotencyStore", "redis"),
            ("RedisSubnetIds", subnets),
            ("RedisSecurityGroupIds", groups)
        ]),
        "a Redis in a VPC"
    );
    for (what, changes) in [
        (
            "subnets without security groups",
            [("IdempotencyStore", "redis"), ("RedisSubnetIds", subnets)],
        ),
        (
            "security groups without subnets",
            [("IdempotencyStore", "redis"), ("RedisSecurityGroupIds", groups)],
        ),
        (
            "a VPC for the table",
            [("RedisSubnetIds", subnets), ("RedisSecurityGroupIds", groups)],
        ),
    ] {
        assert!(!deployable(&changes), "{what} must be refused by a rule");
    }
}

// ------------------------------------------------------------- the README

/// The rows of the table under `### <heading>` in the README's Deploy
/// section: the names in backticks of each row's first cell.
fn readme_deploy_table(heading: &str) -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md is readable");
    let deploy = readme
        .split("\n## ")
        .find(|s| s.starts_with("Deploy\n"))
        .expect("README.md has a Deploy section");
    let section = deploy
        .split("\n### ")
        .find(|s| s.starts_with(&format!("{heading}\n")))
        .unwrap_or_else(|| panic!("README.md, Deploy: no ### {heading}"));
    section
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2) // the header and its separator
        .map(|row| {
            let first_cell = row.split('|').nth(1).unwrap_or_default();
            first_cell
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Whether `name` fits `pattern`, where each `<Placeholder>` stands for one or
/// more letters or digits (`<Queue>DlqAlarm` fits `OrdersDlqAlarm`).
fn fits(pattern: &str, name: &str) -> bool {
    match pattern.split_once('<') {
        None => pattern == name,
        Some((literal, rest)) => {
            let Some(name) = name.strip_prefix(literal) else {
                return false;
            };
            let rest = rest.split_once('>').map_or("", |(_, rest)| rest);
            let run = name
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(name.len());
            (1..=run).any(|taken| fits(rest, &name[taken..]))
        }
    }
}

/// The README's outputs table names exactly the template's outputs.
#[test]
fn the_readme_lists_every_output() {
    let raw = raw_template();
    let outputs: BTreeSet<String> = raw["Outputs"]
        .as_object()
        .expect("Outputs")
        .keys()
        .cloned()
        .collect();
    let listed: BTreeSet<String> = readme_deploy_table("Outputs").into_iter().flatten().collect();
    let missing: Vec<_> = outputs.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&outputs).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "README.md, Deploy, Outputs: outputs without a row {missing:?}; rows naming no output {stale:?}"
    );
}

/// Every alarm of the template has a row in the README's Alerts table, and
/// every row there names at least one alarm.
#[test]
fn the_readme_explains_every_alarm() {
    let raw = raw_template();
    let alarms: Vec<&String> = raw["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, _)| id)
        .collect();
    let rows: Vec<String> = readme_deploy_table("Alerts").into_iter().flatten().collect();
    let unexplained: Vec<_> = alarms
        .iter()
        .filter(|alarm| !rows.iter().any(|row| fits(row, alarm)))
        .collect();
    let stale: Vec<_> = rows
        .iter()
        .filter(|row| !alarms.iter().any(|alarm| fits(row, alarm)))
        .collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "README.md, Deploy, Alerts: alarms without a row {unexplained:?}; rows naming no alarm {stale:?}"
    );
}
