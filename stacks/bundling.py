"""Build the migration Lambda's asset without Docker.

pip installs psycopg's binary wheel for the Lambda's platform and Python version
(--platform/--python-version/--only-binary), cached under .local/ so each synth
only copies; then the migrator package, migrations/ and schema.sql are added.
Docker bundling (the Lambda build image) remains the fallback when pip fails.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

from stacks.bundle import CA_BUNDLE, MIGRATIONS_DIR, PACKAGE_DIR, PROJECT_ROOT, SCHEMA_FILE

LAMBDA_PYTHON = "3.14"
LAMBDA_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
REQUIREMENTS = ("psycopg[binary]==3.3.9",)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.md")


def pip_arguments(target: Path) -> list[str]:
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON,
        "--only-binary=:all:",
        *platforms,
        *REQUIREMENTS,
    ]


def dependencies_key() -> str:
    return hashlib.sha256(" ".join(pip_arguments(Path("-"))[3:]).encode()).hexdigest()[:16]


def cached_dependencies(cache_root: Path = PROJECT_ROOT / ".local" / "lambda-deps") -> Path:
    """The pip-installed dependencies for the Lambda platform, built once per requirement set."""
    target = cache_root / dependencies_key()
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(pip_arguments(target), check=True)
        (target / ".complete").touch()
    return target


def assemble(output_dir: Path, dependencies: Path) -> None:
    shutil.copytree(
        dependencies, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete", "bin", "__pycache__")
    )
    shutil.copytree(PACKAGE_DIR, output_dir / "migrator", dirs_exist_ok=True, ignore=_IGNORE)
    shutil.copytree(MIGRATIONS_DIR, output_dir / "migrations", dirs_exist_ok=True, ignore=_IGNORE)
    shutil.copy2(SCHEMA_FILE, output_dir / "schema.sql")
    if CA_BUNDLE.is_file():
        (output_dir / "certs").mkdir(exist_ok=True)
        shutil.copy2(CA_BUNDLE, output_dir / "certs" / CA_BUNDLE.name)


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        try:
            dependencies = cached_dependencies()
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"local bundling failed ({exc}); falling back to Docker", file=sys.stderr)
            return False
        assemble(Path(output_dir), dependencies)
        return True


def docker_command() -> list[str]:
    """The same build inside the Lambda image (fallback only)."""
    return [
        "bash",
        "-c",
        " && ".join(
            [
                f"pip install --quiet --target /asset-output {' '.join(REQUIREMENTS)}",
                "cp -r /asset-input/lambda/migrator/migrator /asset-output/migrator",
                "cp -r /asset-input/migrations /asset-output/migrations",
                "cp /asset-input/schema.sql /asset-output/schema.sql",
            ]
        ),
    ]
