"""Duplicate table: DynamoDB, one item per known email hash (customers and recently scored leads).

Partition key `email_hash` (S), no sort key. Lead items expire through the TTL attribute
`expires_at` (epoch seconds); customer items have none. On-demand, PITR, encrypted at rest.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import LeadgenConfig

PARTITION_KEY = "email_hash"
TTL_ATTRIBUTE = "expires_at"

# Frozen CloudFormation logical id: replacing the table loses its data. Never change it.
TABLE_ID = "DuplicateTable"

# Exactly the calls the code makes (leadgen/duplicates/dynamo_store.py), nothing "just in case".
# The scoring Lambda: BatchGetItem to look a hash up (with the lead's identity blocks, one call),
# PutItem (conditional; alone or inside TransactWriteItems) to record a scored lead.
SCORING_ACTIONS: tuple[str, ...] = (
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
)
# The build job's sync: BatchWriteItem puts every current customer, a paginated Scan (with a
# FilterExpression) finds the stale customer items, BatchWriteItem deletes them. BatchWriteItem
# is authorised by dynamodb:BatchWriteItem alone, whatever requests the batch carries.
SYNC_ACTIONS: tuple[str, ...] = (
    "dynamodb:Scan",
    "dynamodb:BatchWriteItem",
)


def on_demand_table(
    scope: Construct, partition_key: str, ttl_attribute: str, logical_id: str, config: LeadgenConfig
) -> dynamodb.Table:
    """A string-keyed, on-demand table with PITR, TTL and encryption at rest, kept (deletion
    protection) where the config retains data, under a frozen logical id."""
    table = dynamodb.Table(
        scope,
        "Table",
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=ttl_attribute,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        deletion_protection=config.retain_data,
        removal_policy=config.removal_policy,
    )
    cfn = table.node.default_child
    assert isinstance(cfn, dynamodb.CfnTable)
    cfn.override_logical_id(logical_id)
    return table


class OnDemandTable(Construct):
    """A DynamoDB table of the stack (see `on_demand_table`): subclasses name its key, TTL
    attribute and frozen logical id."""

    partition_key: str
    ttl_attribute: str
    logical_id: str

    def __init__(self, scope: Construct, construct_id: str, *, config: LeadgenConfig) -> None:
        super().__init__(scope, construct_id)
        self.table = on_demand_table(
            self, self.partition_key, self.ttl_attribute, self.logical_id, config
        )

    @property
    def table_name(self) -> str:
        return self.table.table_name


class DuplicateTable(OnDemandTable):
    """The DynamoDB duplicate table."""

    partition_key, ttl_attribute, logical_id = PARTITION_KEY, TTL_ATTRIBUTE, TABLE_ID

    def _grant(self, grantee: iam.IGrantable, actions: tuple[str, ...]) -> None:
        # The table has no indexes: the table ARN alone, no `index/*` wildcard.
        iam.Grant.add_to_principal(
            grantee=grantee, actions=list(actions), resource_arns=[self.table.table_arn]
        )

    def grant_scoring(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, SCORING_ACTIONS)

    def grant_sync(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, SYNC_ACTIONS)
