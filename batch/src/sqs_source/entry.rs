//! Running a step on an SQS event: the processor with the [`SqsSource`].

use aws_lambda_events::sqs::SqsBatchResponse;

use crate::processor::{BatchError, BatchProcessor, BatchReport, InvocationContext, RecordStep};
use crate::sqs::SqsBatchEvent;

use super::SqsSource;

impl BatchProcessor {
    /// Processes one SQS batch and returns what Lambda gets.
    pub async fn handle<E: SqsBatchEvent, S: RecordStep>(
        &self,
        event: &E,
        context: &InvocationContext,
        step: &S,
    ) -> Result<SqsBatchResponse, BatchError> {
        self.process(event, context, step).await.map(|r| r.response)
    }

    /// Processes one SQS batch and reports what happened to each record.
    pub async fn process<E: SqsBatchEvent, S: RecordStep>(
        &self,
        event: &E,
        context: &InvocationContext,
        step: &S,
    ) -> Result<BatchReport<SqsBatchResponse>, BatchError> {
        let source = SqsSource::new(self.config(), self.queue());
        self.process_records(&source, event.records(), context, step)
            .await
    }
}
