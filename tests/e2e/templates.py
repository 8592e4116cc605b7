"""The staging cloud assembly, synthesized once per test session and shared by the xdist workers.

The lifecycle needs more than the template: the Provider framework's runtime is a Lambda asset
next to it, and the tests run that very code. Synthesis costs tens of seconds (jsii, pip bundling),
so the first worker synthesizes under a file lock and the others read the same directory.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cdk.synth import synth
from tests.support.locks import locked

STACK = "AalapVma-staging"
_DONE = "e2e-synth-complete"


@dataclass(frozen=True)
class Assembly:
    """A synthesized cloud assembly (cdk.out) and its staging stack's template as deployed."""

    outdir: Path
    template: dict[str, Any]

    def asset_dir(self, logical_id: str) -> Path:
        """The directory a Lambda function's Code was built from: its S3 key → the assets manifest → the path."""
        code = self.template["Resources"][logical_id]["Properties"]["Code"]
        key = code["S3Key"]
        manifest = json.loads((self.outdir / f"{STACK}.assets.json").read_text())
        for asset in manifest["files"].values():
            if any(d.get("objectKey") == key for d in asset["destinations"].values()):
                return self.outdir / str(asset["source"]["path"])
        raise LookupError(f"{logical_id}: no asset in {STACK}.assets.json publishes {key}")


def _stack_template(outdir: Path) -> dict[str, Any]:
    manifest = json.loads((outdir / "manifest.json").read_text())
    artifact = manifest["artifacts"][STACK]
    template: dict[str, Any] = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
    return template


@functools.cache
def staging(shared: Path | None = None) -> Assembly:
    """The staging assembly: synthesized into `shared` unless another process already did (once per session)."""
    if shared is None:
        outdir = Path(tempfile.mkdtemp(prefix="e2e-cdk-"))
        synth(outdir, env="staging")
        return Assembly(outdir, _stack_template(outdir))
    shared.mkdir(parents=True, exist_ok=True)
    outdir = shared / "cdk.out"
    with locked(shared / "synth.lock"):
        if not (shared / _DONE).exists():
            shutil.rmtree(outdir, ignore_errors=True)  # a worker that died mid-synth leaves a partial one
            synth(outdir, env="staging")
            (shared / _DONE).touch()
    return Assembly(outdir, _stack_template(outdir))
