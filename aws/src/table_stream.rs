//! Reading a table's DynamoDB stream as Lambda's event source mapping does
//! (`DescribeStream`, `GetShardIterator`, `GetRecords`), for local runs and
//! tests against a server that serves streams: each page of records becomes
//! the [`StreamBatch`] Lambda would deliver.

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};
use orderflow_batch::error::{PortError, PortErrorKind};
use orderflow_batch::stream_source::{StreamBatch, StreamBatchRecord, StreamEventName};
use orderflow_orders::order_item::{self, ItemValue};

use crate::error::classify;

/// One table's stream.
#[derive(Clone, Debug)]
pub struct TableStream {
    client: Client,
    stream_arn: String,
}

/// Where reading a shard has got to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardPosition {
    /// The iterator for the next `GetRecords`; `None` once the shard is closed and read.
    pub iterator: Option<String>,
}

impl TableStream {
    /// The stream with ARN `stream_arn`.
    pub fn new(client: Client, stream_arn: impl Into<String>) -> Self {
        TableStream {
            client,
            stream_arn: stream_arn.into(),
        }
    }

    /// The latest stream of `table`, or an error if it has none.
    pub async fn of_table(
        dynamodb: &aws_sdk_dynamodb::Client,
        client: Client,
        table: &str,
    ) -> Result<TableStream, PortError> {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| crate::error::classify("DescribeTable", e))?;
        let arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| {
                PortError::new(
                    PortErrorKind::NotFound,
                    "DescribeTable",
                    format!("table {table} has no stream"),
                )
            })?;
        Ok(TableStream::new(client, arn))
    }

    /// The stream's shards, each read from its oldest record (`TRIM_HORIZON`,
    /// as the template's event source mapping starts).
    pub async fn shards_from_start(&self) -> Result<Vec<ShardPosition>, PortError> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|e| classify("DescribeStream", e))?;
        let shard_ids: Vec<String> = described
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut positions = Vec::with_capacity(shard_ids.len());
        for shard_id in shard_ids {
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| classify("GetShardIterator", e))?;
            positions.push(ShardPosition {
                iterator: iterator.shard_iterator().map(str::to_owned),
            });
        }
        Ok(positions)
    }

    /// The next page of up to `limit` records of a shard, as Lambda's event,
    /// and moves `position` past them.
    pub async fn read(&self, position: &mut ShardPosition, limit: i32) -> Result<StreamBatch, PortError> {
        let Some(iterator) = position.iterator.take() else {
            return Ok(StreamBatch::default());
        };
        let page = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit)
            .send()
            .await
            .map_err(|e| classify("GetRecords", e))?;
        position.iterator = page.next_shard_iterator().map(str::to_owned);
        let records = page
            .records()
            .iter()
            .map(lambda_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StreamBatch { records })
    }
}

/// A `GetRecords` record as Lambda's event carries it.
fn lambda_record(record: &Record) -> Result<StreamBatchRecord, PortError> {
    let malformed = |what: &str| PortError::new(PortErrorKind::Other, "GetRecords", what.to_owned());
    let event_name = match record.event_name() {
        Some(OperationType::Insert) => StreamEventName::Insert,
        Some(OperationType::Modify) => StreamEventName::Modify,
        Some(OperationType::Remove) => StreamEventName::Remove,
        _ => return Err(malformed("a record of an unknown kind")),
    };
    let change = record
        .dynamodb()
        .ok_or_else(|| malformed("a record without its change"))?;
    let json = |image: &std::collections::HashMap<String, AttributeValue>| {
        let item: order_item::Item = image
            .iter()
            .map(|(name, value)| (name.clone(), from_stream(value)))
            .collect();
        order_item::item_to_json(&item).map_err(|e| malformed(&e.to_string()))
    };
    StreamBatchRecord::new(
        change.sequence_number().unwrap_or_default(),
        event_name,
        change.keys().map(json).transpose()?,
        change.new_image().map(json).transpose()?,
    )
    .map_err(|e| malformed(&e.to_string()))
}

/// A stream's attribute value in the order layout's terms; kinds an order
/// item never holds (sets, binary) become [`ItemValue::Null`], read as a
/// value of the wrong kind.
fn from_stream(value: &AttributeValue) -> ItemValue {
    match value {
        AttributeValue::S(text) => ItemValue::S(text.clone()),
        AttributeValue::N(number) => ItemValue::N(number.clone()),
        AttributeValue::L(list) => ItemValue::L(list.iter().map(from_stream).collect()),
        AttributeValue::M(map) => ItemValue::M(
            map.iter()
                .map(|(name, value)| (name.clone(), from_stream(value)))
                .collect(),
        ),
        AttributeValue::Bool(value) => ItemValue::Bool(*value),
        AttributeValue::Null(value) => ItemValue::Null(*value),
        _ => ItemValue::Null(true),
    }
}
