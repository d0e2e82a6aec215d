//! Running a step on a DynamoDB Streams event: the processor with the [`StreamSource`].

use crate::processor::{BatchError, BatchProcessor, BatchReport, InvocationContext, RecordStep};

use super::event::{StreamBatch, StreamRecord};
use super::{StreamBatchResponse, StreamSource};

impl BatchProcessor {
    /// Processes one stream batch and returns what Lambda gets.
    pub async fn handle_stream<S: RecordStep<dyn StreamRecord>>(
        &self,
        event: &StreamBatch,
        context: &InvocationContext,
        step: &S,
    ) -> Result<StreamBatchResponse, BatchError> {
        self.process_stream(event, context, step)
            .await
            .map(|r| r.response)
    }

    /// Processes one stream batch and reports what happened to each record.
    pub async fn process_stream<S: RecordStep<dyn StreamRecord>>(
        &self,
        event: &StreamBatch,
        context: &InvocationContext,
        step: &S,
    ) -> Result<BatchReport<StreamBatchResponse>, BatchError> {
        self.process_records(&StreamSource::new(), &event.records, context, step)
            .await
    }
}
