"""The email hash key: a generated secret, read by ARN by the scoring Lambda and the build job.

Customers' email hashes (built by the build job) and leads' (made by the Lambda) only meet when
both use the same key, and a plain sha256 of an email is reversible with a dictionary of
addresses. So the stack generates one key in Secrets Manager, hands each runtime the secret's ARN
(LEADGEN_EMAIL_HASH_KEY_SECRET_ARN) and GetSecretValue on that secret alone; the key itself is in
no template, environment variable or log. The artifact manifest records a fingerprint of the key,
and the service flags a version built with another one (GET /health: hash_key_mismatch).

Not rotated, on purpose: a new key invalidates every stored hash (the next build re-hashes the
customers, but recorded leads would no longer be recognised until they expire).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.config import LeadgenConfig
from stacks.nag import acknowledge

# Frozen CloudFormation logical id: a replaced secret is a new key. Never change it.
SECRET_ID = "EmailHashKeySecret"
READ_ACTIONS: tuple[str, ...] = ("secretsmanager:GetSecretValue",)


class EmailHashKey(Construct):
    """The generated key (64 alphanumerics) and the grant to read it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: LeadgenConfig) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="leadgen: HMAC key of email hashes and fuzzy blocking keys",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=config.removal_policy,
        )
        cfn = self.secret.node.default_child
        assert isinstance(cfn, secretsmanager.CfnSecret)
        cfn.override_logical_id(SECRET_ID)
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "Not rotated on purpose: the key hashes every stored email and blocking key, so a "
            "rotation would make every known customer and recorded lead unrecognisable; the "
            "manifest's key fingerprint flags any change instead.",
        )

    @property
    def secret_arn(self) -> str:
        return self.secret.secret_arn

    def grant_read(self, grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee, actions=list(READ_ACTIONS), resource_arns=[self.secret.secret_arn]
        )
