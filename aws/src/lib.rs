//! AWS SDK adapters for the orderflow ports (SQS, DynamoDB, CloudWatch, SNS).
