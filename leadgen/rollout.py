"""The deployed scoring function: roll a published artifact version out to it.

A refresh in AWS happens outside the request path. After LATEST moved, the build job pins the new
artifact version in the function's configuration ($LATEST), publishes that as a new function
version and moves the alias `live` to it. With provisioned concurrency on the alias, Lambda
initialises environments of the new version (which download and load the pinned artifacts in
their init phase) and keeps routing to the old version until they are ready: the alias carries
transient routing weights on the old version while it shifts (the AWS provider for Terraform
waits for them to clear: hashicorp/terraform-provider-aws#48116). No environment ever holds two
versions and no request waits on a download.

The CDK stack owns the function, its `live` alias and the versions it creates itself; this module
only adds versions and moves the alias, and every write carries the revision id it read (when
the API returns one), so a concurrent `cdk deploy` makes the roll-out fail rather than be undone
silently. A deploy that changes the function resets the pin (the template has none) and publishes
a version that loads LATEST at init, which is the newest published artifact version anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadgen.errors import LeadgenError
from leadgen.names import LIVE_ALIAS, Env
from leadgen.stores.artifacts import Pointer, pin_of

DESCRIPTION_PREFIX = "leadgen artifact "
UPDATE_POLL_SECONDS = 2.0


class RolloutError(LeadgenError):
    """The artifact version is published but the function could not be moved to it."""


@dataclass(frozen=True)
class Rollout:
    """What a roll-out did: the function version published for the artifact version, the one the
    alias pointed to before, and whether traffic had fully shifted when we stopped waiting."""

    function: str
    artifact_pin: str
    function_version: str
    previous_version: str | None
    shifted: bool
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lambda_client() -> Any:
    """boto3 Lambda client (botocore reads AWS_ENDPOINT_URL itself: moto's server in tests)."""
    import boto3

    return boto3.client("lambda")


def roll_out(
    function: str,
    pointer: Pointer,
    client: Any = None,
    wait_seconds: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Rollout:
    """Pin the artifact version `pointer` names on `function`, publish a function version, move
    the alias to it and wait up to `wait_seconds` for the alias to route all traffic to it."""
    lam = client or lambda_client()
    pin = pin_of(pointer)
    t0 = time.monotonic()
    try:
        config = lam.get_function_configuration(FunctionName=function)
        revision = _pin(lam, function, config, pin, sleep)
        published = lam.publish_version(
            FunctionName=function,
            Description=f"{DESCRIPTION_PREFIX}{pointer.version}",
            **_revision(revision),
        )
        alias = lam.get_alias(FunctionName=function, Name=LIVE_ALIAS)
        lam.update_alias(
            FunctionName=function,
            Name=LIVE_ALIAS,
            FunctionVersion=published["Version"],
            **_revision(alias.get("RevisionId")),
        )
        shifted = _wait_for_shift(lam, function, t0 + wait_seconds, sleep)
    except LeadgenError:
        raise
    except Exception as exc:  # botocore errors: one line for the job's log
        raise RolloutError(f"function {function}: {type(exc).__name__}: {exc}") from None
    return Rollout(
        function=function,
        artifact_pin=pin,
        function_version=str(published["Version"]),
        previous_version=alias.get("FunctionVersion"),
        shifted=shifted,
        seconds=round(time.monotonic() - t0, 3),
    )


def _pin(
    lam: Any, function: str, config: dict[str, Any], pin: str, sleep: Callable[[float], None]
) -> str | None:
    """Set the pin in the function's environment (keeping every other variable); returns the
    revision to publish. Lambda publishes nothing new for an unchanged configuration."""
    variables = dict(config.get("Environment", {}).get("Variables", {}))
    if variables.get(Env.ARTIFACT_PIN) == pin:
        return config.get("RevisionId")  # a re-run after a failure further on
    variables[Env.ARTIFACT_PIN] = pin
    updated = lam.update_function_configuration(
        FunctionName=function,
        Environment={"Variables": variables},
        **_revision(config.get("RevisionId")),
    )
    while updated.get("LastUpdateStatus") == "InProgress":
        sleep(UPDATE_POLL_SECONDS)
        updated = lam.get_function_configuration(FunctionName=function)
    if updated.get("LastUpdateStatus") == "Failed":
        raise RolloutError(
            f"function {function}: configuration update failed "
            f"({updated.get('LastUpdateStatusReason', 'no reason given')})"
        )
    return updated.get("RevisionId")


def _wait_for_shift(
    lam: Any, function: str, deadline: float, sleep: Callable[[float], None]
) -> bool:
    """True once the alias carries no routing weights (Lambda adds them while provisioned
    concurrency of the new version initialises); False if still shifting at `deadline`."""
    while True:
        alias = lam.get_alias(FunctionName=function, Name=LIVE_ALIAS)
        if not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights"):
            return True
        if time.monotonic() >= deadline:
            return False
        sleep(UPDATE_POLL_SECONDS)


def _revision(revision: str | None) -> dict[str, str]:
    return {"RevisionId": revision} if revision else {}
