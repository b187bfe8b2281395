"""Identity table: DynamoDB blocks of the fuzzy duplicate check (docs/duplicates.md).

Partition key `pk` (S), no sort key, no index. Two item families, told apart by the key prefix:
`c#<hmac>` customer blocks, written only by the build job, and `l#<hmac>` lead blocks, written
only by the scoring Lambda and expired through the TTL attribute `expires_at`. On-demand, PITR,
encrypted at rest, like the duplicate table.

Least privilege per family, with `dynamodb:LeadingKeys`: the Lambda reads both families
(BatchGetItem) and updates lead blocks only (UpdateItem, inside its TransactWriteItems); the
build job writes and deletes customer blocks only (BatchWriteItem) and scans for stale ones
(Scan takes no LeadingKeys condition: it is read-only and on this table only).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from stacks.duplicate_table import OnDemandTable

PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expires_at"
CUSTOMER_KEYS, LEAD_KEYS = "c#*", "l#*"  # leadgen.duplicates.dynamo_store CUSTOMER / LEAD prefixes

# Frozen CloudFormation logical id: replacing the table loses the lead blocks. Never change it.
TABLE_ID = "IdentityTable"

# Exactly the calls the code makes (leadgen/duplicates/dynamo_store.py): a lookup is one
# BatchGetItem; a record is one TransactWriteItems, authorised per action (its Update of a lead
# block).
SCORING_READ_ACTIONS: tuple[str, ...] = ("dynamodb:BatchGetItem",)
SCORING_WRITE_ACTIONS: tuple[str, ...] = ("dynamodb:UpdateItem",)
# The build job's sync: a Scan of customer blocks (pk, digest), BatchWriteItem puts and deletes.
SYNC_SCAN_ACTIONS: tuple[str, ...] = ("dynamodb:Scan",)
SYNC_WRITE_ACTIONS: tuple[str, ...] = ("dynamodb:BatchWriteItem",)


class IdentityTable(OnDemandTable):
    """The DynamoDB identity table."""

    partition_key, ttl_attribute, logical_id = PARTITION_KEY, TTL_ATTRIBUTE, TABLE_ID

    def _grant(
        self, grantee: iam.IGrantable, actions: tuple[str, ...], keys: tuple[str, ...] = ()
    ) -> None:
        conditions = (
            {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(keys)}} if keys else None
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(actions), resources=[self.table.table_arn], conditions=conditions
            )
        )

    def grant_lookup(self, grantee: iam.IGrantable) -> None:
        """Lookups only (bulk scoring never records a row)."""
        self._grant(grantee, SCORING_READ_ACTIONS, (CUSTOMER_KEYS, LEAD_KEYS))

    def grant_scoring(self, grantee: iam.IGrantable) -> None:
        self.grant_lookup(grantee)
        self._grant(grantee, SCORING_WRITE_ACTIONS, (LEAD_KEYS,))

    def grant_sync(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, SYNC_SCAN_ACTIONS)
        self._grant(grantee, SYNC_WRITE_ACTIONS, (CUSTOMER_KEYS,))
