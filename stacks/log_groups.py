"""Log groups of the stack: one place for retention, removal policy and frozen logical ids."""

from __future__ import annotations

from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LeadgenConfig


def frozen_log_group(
    scope: Construct,
    construct_id: str,
    *,
    config: LeadgenConfig,
    logical_id: str,
    retention: logs.RetentionDays | None = None,
) -> logs.LogGroup:
    """A log group with the configured retention (or `retention`) and removal policy under a
    fixed CloudFormation logical id: moving or renaming the construct must not replace the group
    (and orphan, or with RETAIN in prod, strand its logs under a new name)."""
    group = logs.LogGroup(
        scope,
        construct_id,
        retention=retention or config.log_retention,
        removal_policy=config.removal_policy,
    )
    cfn = group.node.default_child
    assert isinstance(cfn, logs.CfnLogGroup)
    cfn.override_logical_id(logical_id)
    return group
