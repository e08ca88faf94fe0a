"""Fixtures of the interop suite (run with each era's venv python: `make interop`).

- The era (ContextForge 1.0.0 or 1.1.0 + cpex) comes from `era` (INTEROP_ERA or what is installed);
  `@pytest.mark.era("1.1.0")` tests are deselected (reported as such, never skipped) under the other
  era.
- The era's package must import, or every test ERRORS (never skipped): `python_package`; the
  `transport` tests also need its gRPC and raw-socket runtimes (`python_transports`).
- Every test gets a temp working directory without `.env` (`workdir`), a process group whose members
  are always killed at teardown (`procs`), and, when it fails, every process log in its report.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

import pytest

import cases
import era
import harness


def pytest_configure(config):
    config.addinivalue_line("markers", "era(name): runs only under that ContextForge era (1.0.0 or 1.1.0)")
    config.addinivalue_line("markers", "transport: gRPC / raw Unix-socket transport tests")


def pytest_report_header(config):
    return f"interop era: ContextForge {era.CURRENT.name} ({era.CURRENT.framework}), python {sys.version.split()[0]}"


def pytest_collection_modifyitems(config, items):
    """Deselect the tests of the other era (counted as deselected in the summary, not skipped)."""
    keep, other = [], []
    for item in items:
        marks = [m.args[0] for m in item.iter_markers("era")]
        unknown = [m for m in marks if m not in era.ERAS]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown era {unknown}, expected one of {era.ERAS}")
        (keep if not marks or era.CURRENT.name in marks else other).append(item)
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = keep


def _import_or_fail(source: str, what: str) -> None:
    with tempfile.TemporaryDirectory(prefix="plugwire-interop-import-") as cwd:
        done = subprocess.run([sys.executable, "-c", source], cwd=cwd, capture_output=True, text=True,
                              env=harness.python_env(), timeout=120)
    if done.returncode != 0:
        name = era.CURRENT.name
        pytest.fail(
            f"interop: cannot import {what} of ContextForge {name} with {sys.executable} "
            f"(install: {era.CURRENT.distribution}, pinned by tests/interop/contextforge-{name}-constraints.txt; "
            f"`make interop` builds the venv):\n{done.stderr[-3000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session", autouse=True)
def python_package():
    """Fail (not skip) every test when the era's plugin framework cannot be imported."""
    _import_or_fail(era.CURRENT.import_check, era.CURRENT.framework)
    return era.CURRENT


@pytest.fixture(scope="session")
def python_transports(python_package):
    """Fail (not skip) when the era's gRPC or raw-socket runtime cannot be imported (grpcio missing)."""
    _import_or_fail(f"import {python_package.grpc_runtime}, {python_package.unix_runtime}",
                    "the gRPC and raw Unix-socket runtimes")
    return python_package


@pytest.fixture(scope="session")
def current_era(python_package):
    """The running era (`era.Era`): import paths, runtime modules, mode names as its client reports them."""
    return python_package


@pytest.fixture(scope="session")
def plugwire_bin():
    """The plugwire binary under test (`make interop` builds it first)."""
    if not harness.PLUGWIRE.is_file():
        pytest.fail(f"interop: {harness.PLUGWIRE} does not exist; run `cargo build -p plugwire` (make interop does)",
                    pytrace=False)
    return harness.PLUGWIRE


@pytest.fixture
def workdir(tmp_path):
    """A fresh working directory for every process of the test; the Python settings read `./.env`."""
    assert not (tmp_path / ".env").exists()
    return tmp_path


@pytest.fixture
def procs(request, workdir):
    group = harness.ProcGroup(workdir)
    request.node._interop_procs = group
    yield group
    group.kill_all()


@pytest.fixture
def certs(plugwire_bin, workdir):
    """ECDSA certificates from `plugwire certs all --config <gateway config>` (server uses the first plugin's)."""
    cfg = cases.write_yaml(workdir / "certs-gateway.yaml", cases.gateway_config(1, None))
    return harness.plugwire_certs(workdir / "certs", cfg, cases.PLUGIN_NAMES[0])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    group = getattr(item, "_interop_procs", None)
    if report.failed and group is not None:
        for title, log in group.logs:
            try:
                text = log.read_text(errors="replace")
            except OSError:
                continue
            if len(text) > 20000:
                text = "[... " + str(len(text) - 20000) + " bytes cut ...]\n" + text[-20000:]
            report.sections.append((f"log: {title}", text))
