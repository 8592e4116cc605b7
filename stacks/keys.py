"""What a reader of the stack's secrets needs from a customer-managed key (kmsKey).

Secrets Manager decrypts a secret with the caller's own permissions: whoever may GetSecretValue on a secret
encrypted with a customer-managed key also needs kms:Decrypt on that key, through Secrets Manager only. The
AWS managed key (no kmsKey) needs nothing: its key policy admits every principal of the account that may read
the secret.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def decrypt_secrets(scope: Construct, key: kms.IKey) -> iam.PolicyStatement:
    """kms:Decrypt on the key, only when Secrets Manager of this Region asks for it."""
    stack = cdk.Stack.of(scope)
    return iam.PolicyStatement(
        actions=["kms:Decrypt"],
        resources=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{stack.region}.{stack.url_suffix}"}},
    )
