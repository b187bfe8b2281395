"""The score log's delivery in AWS: the scoring function's marked log lines, through Kinesis Data
Firehose, to the artifact bucket's score-log/ prefix.

The Lambda prints one JSON line per scored lead (leadgen.stores.score_log: marked with
SCORE_LOG_MARKER). A subscription filter on the function's log group (SCORE_LOG_FILTER) hands
those lines, and only those, to a Firehose stream, which decompresses the CloudWatch Logs
envelopes, extracts each message, appends a newline and writes gzipped JSON lines to
score-log/firehose/YYYY/MM/DD/HH/ (UTC), where the build job reads them with the bulk job's
parquet parts (score-log/day=YYYY-MM-DD/).

Why this way (docs/outcomes.md weighs the options): printing a line is all a request pays (no
network call on the request path), and a line printed before the handler returns is in
CloudWatch Logs even if the environment is reaped right after, so nothing is lost to a frozen
or killed environment; Firehose buffers (FIREHOSE_BUFFER_SECONDS) so the bucket gets few objects.
The same lines also sit in the function's log group until its retention expires, where the
erasure (`leadgen forget`) cannot reach them: the stack keeps that group's retention short
(LeadgenConfig.function_log_retention).

Encrypted: the stream's buffer with an AWS-owned key (SSE), the objects by the bucket's SSE-S3.
Retention: score-log/ objects expire after `score_log_days` (stacks/artifact_storage.py). Two
roles, each with one job: CloudWatch Logs may put records into this stream only; Firehose may
write objects under score-log/firehose/ and its own delivery log only.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from constructs import Construct

from leadgen.names import FIREHOSE_LOG_FOLDER, SCORE_LOG_FILTER, SCORE_LOG_PREFIX
from stacks.artifact_storage import ArtifactStorage, nag_objects_resource
from stacks.config import LeadgenConfig
from stacks.log_groups import frozen_log_group
from stacks.nag import acknowledge

DELIVERY_PREFIX = f"{SCORE_LOG_PREFIX}/{FIREHOSE_LOG_FOLDER}/"
ERROR_PREFIX = f"{SCORE_LOG_PREFIX}/{FIREHOSE_LOG_FOLDER}-errors/"
FIREHOSE_BUFFER_SECONDS = 300
FIREHOSE_BUFFER_MB = 5
# Frozen CloudFormation logical id of the stream's delivery-error log group. Never change it.
DELIVERY_LOG_GROUP_ID = "ScoreLogDeliveryLogGroup"
DELIVERY_LOG_STREAM = "S3Delivery"


def _processor(kind: str, **parameters: str) -> firehose.CfnDeliveryStream.ProcessorProperty:
    return firehose.CfnDeliveryStream.ProcessorProperty(
        type=kind,
        parameters=[
            firehose.CfnDeliveryStream.ProcessorParameterProperty(
                parameter_name=k, parameter_value=v
            )
            for k, v in parameters.items()
        ]
        or None,
    )


class ScoreLogDelivery(Construct):
    """The Firehose stream, its two roles and the subscription filter on the function's logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LeadgenConfig,
        storage: ArtifactStorage,
        function_logs: logs.ILogGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = frozen_log_group(
            self, "DeliveryLogs", config=config, logical_id=DELIVERY_LOG_GROUP_ID
        )
        logs.LogStream(self, "DeliveryLogStream", log_group=self.log_group,
                       log_stream_name=DELIVERY_LOG_STREAM)  # fmt: skip
        self.delivery_role = self._delivery_role(storage)
        self.stream = self._stream(storage)
        self.subscription_role = self._subscription_role()
        self.filter = logs.CfnSubscriptionFilter(
            self,
            "Subscription",
            log_group_name=function_logs.log_group_name,
            filter_pattern=SCORE_LOG_FILTER,
            destination_arn=self.stream.attr_arn,
            role_arn=self.subscription_role.role_arn,
        )
        self.filter.node.add_dependency(self.subscription_policy)

    def _delivery_role(self, storage: ArtifactStorage) -> iam.Role:
        role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com",
                conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}},
            ),
            description="leadgen score log: Firehose writes score-log/firehose/ objects",
        )
        storage.grant_score_log_delivery(role, DELIVERY_PREFIX.rstrip("/"))
        storage.grant_score_log_delivery(role, ERROR_PREFIX.rstrip("/"))
        self.log_group.grant_write(role)
        for prefix in (DELIVERY_PREFIX, ERROR_PREFIX):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{nag_objects_resource(prefix.rstrip('/'))}]",
                "Firehose names its objects by delivery time (YYYY/MM/DD/HH/stream-...): it may "
                f"put objects under {prefix} of the artifact bucket and nowhere else.",
            )
        return role

    def _stream(self, storage: ArtifactStorage) -> firehose.CfnDeliveryStream:
        props = firehose.CfnDeliveryStream
        stream = props(
            self,
            "Stream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=props.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=props.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=storage.bucket.bucket_arn,
                role_arn=self.delivery_role.role_arn,
                prefix=DELIVERY_PREFIX,
                error_output_prefix=ERROR_PREFIX + "!{firehose:error-output-type}/",
                compression_format="GZIP",
                buffering_hints=props.BufferingHintsProperty(
                    interval_in_seconds=FIREHOSE_BUFFER_SECONDS, size_in_m_bs=FIREHOSE_BUFFER_MB
                ),
                processing_configuration=props.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        _processor("Decompression", CompressionFormat="GZIP"),
                        _processor("CloudWatchLogProcessing", DataMessageExtraction="true"),
                        _processor("AppendDelimiterToRecord"),
                    ],
                ),
                cloud_watch_logging_options=props.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.log_group.log_group_name,
                    log_stream_name=DELIVERY_LOG_STREAM,
                ),
            ),
        )
        stream.node.add_dependency(self.delivery_role)
        return stream

    def _subscription_role(self) -> iam.Role:
        """CloudWatch Logs (of this account and region) may put records into this stream."""
        role = iam.Role(
            self,
            "SubscriptionRole",
            assumed_by=iam.ServicePrincipal(
                "logs.amazonaws.com",
                conditions={
                    "StringLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"
                    }
                },
            ),
            description="leadgen score log: the function's marked lines into the Firehose stream",
        )
        self.subscription_policy = iam.Policy(
            self,
            "SubscriptionPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                    resources=[self.stream.attr_arn],
                )
            ],
        )
        return role

    def delivery_success(self) -> cloudwatch.Metric:
        """The share of deliveries to S3 that succeeded (1 = all)."""
        return cloudwatch.Metric(
            namespace="AWS/Firehose",
            metric_name="DeliveryToS3.Success",
            dimensions_map={"DeliveryStreamName": self.stream.ref},
            statistic="Minimum",
            period=Duration.minutes(15),
        )
