//! Where the functions keep their idempotency records, their stock and the
//! order of record: in memory, or in DynamoDB tables on `--dynamodb-endpoint-url`;
//! the idempotency records in Redis with `--idempotency redis://...`.

use std::sync::Arc;

use orderflow_aws::dynamodb::{
    DynamoIdempotencyStore, DynamoInventory, EXPIRY_ATTRIBUTE, IDEMPOTENCY_KEY, INVENTORY_KEY, create_table,
};
use orderflow_aws::orders_table::{DynamoOrderStore, create_orders_table};
use orderflow_aws::table_stream::TableStream;
use orderflow_batch::error::PortError;
use orderflow_batch::ports::IdempotencyStore;
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryInventory, InMemoryOrderStore};
use orderflow_orders::ports::{InventoryStore, OrderStore};
use orderflow_redis::{RedisIdempotencyStore, RedisSettings};

use super::options::{Entry, RunSpec};
use super::untimed_store::UntimedStore;

/// Where the relay reads the orders table's changes.
pub(super) enum ChangeStream {
    /// No relay runs (`--entry queue`).
    None,
    /// The embedded store's own change stream.
    Embedded(Arc<InMemoryOrderStore>),
    /// The table's DynamoDB stream, read as Lambda's poller reads it.
    Table(TableStream),
}

/// The idempotency store and the inventory of a run, shared by its stages.
pub(super) struct Stores {
    /// Every step's idempotency records.
    pub(super) idempotency: Arc<dyn IdempotencyStore>,
    /// The stock the inventory function reserves from (recording each
    /// reservation on `orders`).
    pub(super) inventory: Arc<dyn InventoryStore>,
    /// The order of record, where order-api keeps orders and every stage
    /// records its transition.
    pub(super) orders: Arc<dyn OrderStore>,
    /// The order of record's changes, for the relay.
    pub(super) changes: ChangeStream,
}

impl Stores {
    /// Creates the stores, `spec.stock` units of each SKU in stock; DynamoDB
    /// tables' names start with `prefix`.
    pub(super) async fn create(spec: &RunSpec, prefix: &str) -> Result<Self, PortError> {
        let mut stores = Self::create_in_memory_or_tables(spec, prefix).await?;
        if let Some(url) = &spec.idempotency {
            let settings = RedisSettings {
                // A Redis outlives the run: keys of its own, whatever the backend's names.
                key_prefix: format!("orderflow-run-{}:", uuid::Uuid::new_v4().simple()),
                ..RedisSettings::default()
            };
            stores.idempotency = match spec.endpoint_url {
                Some(_) => Arc::new(RedisIdempotencyStore::connect(url, settings).await?),
                // The embedded run's paused clock must stand still while Redis answers.
                None => Arc::new(UntimedStore::connect(url, settings).await?),
            };
        }
        Ok(stores)
    }

    /// The stores in memory, or as DynamoDB tables on `--dynamodb-endpoint-url`.
    async fn create_in_memory_or_tables(spec: &RunSpec, prefix: &str) -> Result<Self, PortError> {
        let Some(endpoint) = &spec.dynamodb_endpoint_url else {
            let (orders, changes) = match spec.entry {
                Entry::Api => {
                    let orders = Arc::new(InMemoryOrderStore::with_stream());
                    (Arc::clone(&orders), ChangeStream::Embedded(orders))
                }
                Entry::Queue => (Arc::new(InMemoryOrderStore::new()), ChangeStream::None),
            };
            return Ok(Stores {
                idempotency: Arc::new(InMemoryIdempotencyStore::new()),
                inventory: Arc::new(InMemoryInventory::new(spec.stock).with_orders(Arc::clone(&orders) as _)),
                orders,
                changes,
            });
        };
        let config = orderflow_aws::load_sdk_config_for_endpoint(endpoint).await;
        let client = aws_sdk_dynamodb::Client::new(&config);
        let (idempotency, stock, orders) = (
            format!("{prefix}idempotency"),
            format!("{prefix}inventory"),
            format!("{prefix}orders"),
        );
        create_table(&client, &idempotency, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE)).await?;
        create_table(&client, &stock, INVENTORY_KEY, None).await?;
        create_orders_table(&client, &orders).await?;
        let inventory = DynamoInventory::new(client.clone(), stock).with_orders_table(&orders);
        for sku in 1..=crate::workload::SKU_COUNT {
            inventory.set_stock(&format!("SKU-{sku:04}"), spec.stock).await?;
        }
        let changes = match spec.entry {
            Entry::Api => {
                let streams = aws_sdk_dynamodbstreams::Client::new(&config);
                ChangeStream::Table(TableStream::of_table(&client, streams, &orders).await?)
            }
            Entry::Queue => ChangeStream::None,
        };
        Ok(Stores {
            idempotency: Arc::new(DynamoIdempotencyStore::new(client.clone(), idempotency)),
            inventory: Arc::new(inventory),
            orders: Arc::new(DynamoOrderStore::new(client, orders)),
            changes,
        })
    }
}
