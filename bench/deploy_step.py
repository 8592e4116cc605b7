"""One run of the deploy step's apply (what the Lambda and the CodeBuild runner call), as its own process:
`python bench/deploy_step.py URL ASSET_ROOT`. bench_engine.py --path deploy times it against psql.

It builds the Deployment from the step's properties and the asset's root, as the functions do, and calls
apply_within with the Lambda's budget, so the deadline is set as on every deploy. The secrets client
is a stand-in that returns the URL's parts as RDS's secret JSON (reading a secret is not what is measured).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from migrator.aws.contract import ENV_BUNDLE_ROOT, StepProperties
from migrator.aws.deploy import Deployment, bundle_from_environment

BUDGET_MS = 14 * 60 * 1000  # what a fresh is_complete invocation has, less its margin


class UrlSecret:
    """get_secret_value as Secrets Manager answers it, from a connection URL."""

    def __init__(self, url: str) -> None:
        parts = conninfo_to_dict(url)
        self.secret = {
            "host": parts.get("host", "localhost"),
            "port": parts.get("port", "5432"),
            "username": parts.get("user"),
            "password": parts.get("password") or "unused",
            "dbname": parts.get("dbname"),
        }

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        return {"SecretString": json.dumps(self.secret)}


def main(url: str, root: str) -> None:
    props = StepProperties(secret_arn="arn:bench", instance="bench", take_snapshots=False)  # noqa: S106 (an ARN)
    bundle = bundle_from_environment({ENV_BUNDLE_ROOT: root})
    # the local server speaks no TLS: the one difference from a deploy (verify-full against RDS)
    deployment = Deployment(props, rds=None, secrets=UrlSecret(url), bundle=bundle, sslrootcert="", sslmode="prefer")
    data = deployment.apply_within(BUDGET_MS)
    print(data["SchemaVersion"])


if __name__ == "__main__":
    main(*sys.argv[1:3])
