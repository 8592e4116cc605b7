"""The staging template, synthesized once per process (the lifecycle uses its custom resource's properties)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from aws_cdk.assertions import Template

from tests.cdk.synth import synth


@functools.cache
def staging_template() -> Template:
    return synth(Path(tempfile.mkdtemp(prefix="e2e-cdk-")), env="staging")["staging"]
