//! The pipeline steps' ports as the environment names them: [`EnvPorts`]
//! answers a step's [`StepPorts`] questions from the adapters chosen at cold
//! start and the variables below, so the steps never read the environment.

use std::cell::RefCell;
use std::sync::Arc;

use orderflow_batch::config::{ConfigError, Env};
use orderflow_embedded::address::embedded_queue_url;
use orderflow_embedded::{InMemoryInventory, InMemoryOrderStore, LogNotifier};
use orderflow_orders::pipeline::Queue;
use orderflow_orders::ports::{InventoryStore, Notifier, OrderStore, StepPorts};

use crate::dynamodb::DynamoInventory;
use crate::orders_table::DynamoOrderStore;
use crate::sns::SnsNotifier;
use crate::wiring::{Adapters, var};

/// Stock per SKU in the embedded inventory, unless `INVENTORY_DEFAULT_STOCK` says otherwise.
pub const EMBEDDED_DEFAULT_STOCK: u32 = 500;

/// The variable holding a queue's URL: `ORDERS_QUEUE_URL`, `INVENTORY_QUEUE_URL`,
/// `NOTIFICATIONS_QUEUE_URL` (required with AWS adapters).
pub fn queue_url_variable(queue: Queue) -> &'static str {
    match queue {
        Queue::Orders => "ORDERS_QUEUE_URL",
        Queue::Inventory => "INVENTORY_QUEUE_URL",
        Queue::Notifications => "NOTIFICATIONS_QUEUE_URL",
    }
}

/// A step's ports from `env` over `adapters`.
#[derive(Clone, Copy, Debug)]
pub struct EnvPorts<'a> {
    env: &'a Env,
    adapters: &'a Adapters,
}

impl<'a> EnvPorts<'a> {
    /// The ports `env` names, backed by `adapters`.
    pub fn new(env: &'a Env, adapters: &'a Adapters) -> Self {
        EnvPorts { env, adapters }
    }
}

impl StepPorts for EnvPorts<'_> {
    /// With AWS adapters, the queue's variable is required; embedded, it
    /// defaults to the embedded queue of that name.
    fn queue_url(&self, queue: Queue) -> Result<Arc<str>, ConfigError> {
        let variable = queue_url_variable(queue);
        match &self.adapters.sdk {
            Some(_) => self.env.required(variable, "a queue URL").map(Into::into),
            None => Ok(self
                .env
                .optional(variable)
                .unwrap_or_else(|| embedded_queue_url(queue.name()))
                .into()),
        }
    }

    /// The DynamoDB table `INVENTORY_TABLE`, recording reservations on
    /// `ORDERS_TABLE` in the same transaction, with AWS adapters; embedded,
    /// an in-memory stock of `INVENTORY_DEFAULT_STOCK` units per SKU over the
    /// embedded order store.
    fn inventory(&self) -> Result<Arc<dyn InventoryStore>, ConfigError> {
        Ok(match &self.adapters.sdk {
            Some(sdk) => Arc::new(
                DynamoInventory::new(
                    aws_sdk_dynamodb::Client::new(sdk),
                    self.env
                        .required(var::INVENTORY_TABLE, "the inventory table's name")?,
                )
                .with_orders_table(self.env.required(var::ORDERS_TABLE, "the orders table's name")?),
            ),
            None => {
                let stock = self.env.integer_or(
                    var::INVENTORY_DEFAULT_STOCK,
                    EMBEDDED_DEFAULT_STOCK.into(),
                    0..=u32::MAX.into(),
                )?;
                Arc::new(
                    InMemoryInventory::new(u32::try_from(stock).unwrap_or(u32::MAX))
                        .with_orders(Arc::clone(&self.adapters.embedded_orders) as _),
                )
            }
        })
    }

    /// SNS when `NOTIFICATION_TOPIC_ARN` is set (AWS adapters), else a log line.
    fn notifier(&self) -> Result<Arc<dyn Notifier>, ConfigError> {
        Ok(
            match (self.env.optional(var::NOTIFICATION_TOPIC_ARN), &self.adapters.sdk) {
                (Some(topic), Some(sdk)) => Arc::new(SnsNotifier::new(aws_sdk_sns::Client::new(sdk), topic)),
                _ => Arc::new(LogNotifier),
            },
        )
    }

    /// The DynamoDB table `ORDERS_TABLE` with AWS adapters; embedded, the
    /// process's in-memory store.
    fn orders(&self) -> Result<Arc<dyn OrderStore>, ConfigError> {
        Ok(match &self.adapters.sdk {
            Some(sdk) => Arc::new(DynamoOrderStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                self.env.required(var::ORDERS_TABLE, "the orders table's name")?,
            )),
            None => Arc::clone(&self.adapters.embedded_orders) as _,
        })
    }
}

/// The variables [`EnvPorts`] reads with AWS adapters for the step `build`
/// makes: what a deployment of it must set (the template's tests hold the
/// template to it).
pub fn variables_read_by<S>(
    build: impl FnOnce(&dyn StepPorts) -> Result<S, ConfigError>,
) -> Vec<&'static str> {
    let recorder = VariableRecorder::default();
    // The recorder answers every question, so `build` cannot fail on it.
    let _ = build(&recorder);
    recorder.read.into_inner()
}

/// Answers with embedded ports and notes the variable each answer would read.
#[derive(Default)]
struct VariableRecorder {
    read: RefCell<Vec<&'static str>>,
}

impl VariableRecorder {
    fn note(&self, variable: &'static str) {
        let mut read = self.read.borrow_mut();
        if !read.contains(&variable) {
            read.push(variable);
        }
    }
}

impl StepPorts for VariableRecorder {
    fn queue_url(&self, queue: Queue) -> Result<Arc<str>, ConfigError> {
        self.note(queue_url_variable(queue));
        Ok(embedded_queue_url(queue.name()).into())
    }

    fn inventory(&self) -> Result<Arc<dyn InventoryStore>, ConfigError> {
        self.note(var::INVENTORY_TABLE);
        self.note(var::ORDERS_TABLE);
        Ok(Arc::new(InMemoryInventory::new(0)))
    }

    fn notifier(&self) -> Result<Arc<dyn Notifier>, ConfigError> {
        self.note(var::NOTIFICATION_TOPIC_ARN);
        Ok(Arc::new(LogNotifier))
    }

    fn orders(&self) -> Result<Arc<dyn OrderStore>, ConfigError> {
        self.note(var::ORDERS_TABLE);
        Ok(Arc::new(InMemoryOrderStore::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn adapters(env: &Env) -> Adapters {
        Adapters::from_env(env).await.unwrap()
    }

    #[tokio::test]
    async fn aws_adapters_need_every_variable_a_step_asks_for() {
        let env = Env::from_pairs([
            ("ORDERFLOW_ADAPTERS", "aws"),
            ("IDEMPOTENCY_TABLE", "idempotency"),
            ("METRICS_SINK", "off"),
            (
                "INVENTORY_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/inventory",
            ),
        ]);
        let adapters = adapters(&env).await;
        let ports = EnvPorts::new(&env, &adapters);
        assert_eq!(
            &*ports.queue_url(Queue::Inventory).unwrap(),
            "https://sqs.us-east-1.amazonaws.com/1/inventory"
        );
        let err = ports.queue_url(Queue::Notifications).unwrap_err();
        assert!(err.to_string().contains("NOTIFICATIONS_QUEUE_URL"), "{err}");
        let err = ports.inventory().err().unwrap();
        assert!(err.to_string().contains(var::INVENTORY_TABLE), "{err}");
        let err = ports.orders().err().unwrap();
        assert!(err.to_string().contains(var::ORDERS_TABLE), "{err}");
        assert!(
            ports.notifier().is_ok(),
            "without a topic, customer messages are logged"
        );
    }

    #[tokio::test]
    async fn embedded_adapters_default_the_queues_and_check_the_stock() {
        let env = Env::from_pairs([("ORDERFLOW_ADAPTERS", "embedded")]);
        let adapters = adapters(&env).await;
        let ports = EnvPorts::new(&env, &adapters);
        assert_eq!(
            &*ports.queue_url(Queue::Orders).unwrap(),
            embedded_queue_url("orders")
        );
        assert!(ports.inventory().is_ok());

        let env = Env::from_pairs([
            ("ORDERFLOW_ADAPTERS", "embedded"),
            ("INVENTORY_DEFAULT_STOCK", "lots"),
        ]);
        let err = EnvPorts::new(&env, &adapters).inventory().err().unwrap();
        assert!(err.to_string().contains(var::INVENTORY_DEFAULT_STOCK), "{err}");
    }

    #[test]
    fn the_variables_a_step_reads_are_recorded_once_each() {
        let read = variables_read_by(|ports| {
            ports.queue_url(Queue::Inventory)?;
            ports.queue_url(Queue::Inventory)?;
            ports.inventory()?;
            ports.orders()?;
            Ok(())
        });
        assert_eq!(
            read,
            ["INVENTORY_QUEUE_URL", var::INVENTORY_TABLE, var::ORDERS_TABLE],
            "the inventory records on the orders table too"
        );
    }
}
