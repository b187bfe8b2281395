"""The email hash key from AWS Secrets Manager, read once per runtime by its ARN.

The stack generates the key in a secret and hands each runtime only the secret's ARN
(LEADGEN_EMAIL_HASH_KEY_SECRET_ARN) and the right to read that one secret: the key is in no
environment variable, template or log. The Lambda reads it at init, the build job at start.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from leadgen.config import BuildConfig, ServiceConfig
from leadgen.errors import ConfigError
from leadgen.names import Env

C = TypeVar("C", BuildConfig, ServiceConfig)


def read_secret(arn: str, client: Any = None) -> str:
    """The secret's string value; a clear ConfigError (the ARN and AWS's error code) otherwise."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    sm = client or boto3.client("secretsmanager")
    try:
        value = sm.get_secret_value(SecretId=arn).get("SecretString")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise ConfigError(f"{Env.EMAIL_HASH_KEY_SECRET_ARN}: cannot read {arn} ({code})") from None
    except BotoCoreError as exc:
        raise ConfigError(
            f"{Env.EMAIL_HASH_KEY_SECRET_ARN}: cannot read {arn} ({type(exc).__name__})"
        ) from None
    if not value:
        raise ConfigError(f"{Env.EMAIL_HASH_KEY_SECRET_ARN}: {arn} has no string value")
    return str(value)


def with_hash_key(config: C, client: Any = None) -> C:
    """`config` with the email hash key read from its secret, when an ARN is configured."""
    if not config.email_hash_key_secret_arn:
        return config
    key = read_secret(config.email_hash_key_secret_arn, client)
    return replace(config, email_hash_key=key, email_hash_key_secret_arn=None)
