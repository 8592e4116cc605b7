"""The staging stack of a cloud assembly: its template and the assets next to it.

The lifecycle needs more than the template: the Provider framework's runtime is a Lambda asset
next to it, and the tests run that very code. The assembly is the session's one synth of the default
app (tests/support/cdk_fixtures.py), shared by the xdist workers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cdk.synth import templates_in

STACK = "AalapVma-staging"


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


def stack_template(outdir: Path) -> dict[str, Any]:
    return dict(templates_in(outdir)[STACK.removeprefix("AalapVma-")].to_json())
