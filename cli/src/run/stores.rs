//! Where the functions keep their idempotency records and their stock: in
//! memory, or in DynamoDB tables on `--dynamodb-endpoint-url`.

use std::sync::Arc;

use orderflow_aws::dynamodb::{
    DynamoIdempotencyStore, DynamoInventory, EXPIRY_ATTRIBUTE, IDEMPOTENCY_KEY, INVENTORY_KEY, create_table,
};
use orderflow_batch::error::PortError;
use orderflow_batch::ports::IdempotencyStore;
use orderflow_embedded::{InMemoryIdempotencyStore, InMemoryInventory};
use orderflow_orders::ports::InventoryStore;

use super::options::RunSpec;

/// The idempotency store and the inventory of a run, shared by its stages.
pub(super) struct Stores {
    /// Every step's idempotency records.
    pub(super) idempotency: Arc<dyn IdempotencyStore>,
    /// The stock the inventory function reserves from.
    pub(super) inventory: Arc<dyn InventoryStore>,
}

impl Stores {
    /// Creates the stores, `spec.stock` units of each SKU in stock; DynamoDB
    /// tables' names start with `prefix`.
    pub(super) async fn create(spec: &RunSpec, prefix: &str) -> Result<Self, PortError> {
        let Some(endpoint) = &spec.dynamodb_endpoint_url else {
            return Ok(Stores {
                idempotency: Arc::new(InMemoryIdempotencyStore::new()),
                inventory: Arc::new(InMemoryInventory::new(spec.stock)),
            });
        };
        let config = orderflow_aws::load_sdk_config_for_endpoint(endpoint).await;
        let client = aws_sdk_dynamodb::Client::new(&config);
        let (idempotency, stock) = (format!("{prefix}idempotency"), format!("{prefix}inventory"));
        create_table(&client, &idempotency, IDEMPOTENCY_KEY, Some(EXPIRY_ATTRIBUTE)).await?;
        create_table(&client, &stock, INVENTORY_KEY, None).await?;
        let inventory = DynamoInventory::new(client.clone(), stock);
        for sku in 1..=crate::workload::SKU_COUNT {
            inventory.set_stock(&format!("SKU-{sku:04}"), spec.stock).await?;
        }
        Ok(Stores {
            idempotency: Arc::new(DynamoIdempotencyStore::new(client, idempotency)),
            inventory: Arc::new(inventory),
        })
    }
}
