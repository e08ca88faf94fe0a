"""Fixtures of the interop suite (run with the venv's python: `make interop`).

- The Python package must import, or every test ERRORS (never skipped): `python_package`.
- Every test gets a temp working directory without `.env` (`workdir`), a process group whose members
  are always killed at teardown (`procs`), and, when it fails, every process log in its report.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

import pytest

import cases
import harness

IMPORT_CHECK = "import mcpgateway.plugins.framework, mcpgateway.plugins.framework.external.mcp.server.runtime"


@pytest.fixture(scope="session", autouse=True)
def python_package():
    """Fail (not skip) every test when mcp-contextforge-gateway 1.0.0 cannot be imported."""
    with tempfile.TemporaryDirectory(prefix="plugwire-interop-import-") as cwd:
        done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=cwd, capture_output=True, text=True,
                              env=harness.python_env(), timeout=120)
    if done.returncode != 0:
        pytest.fail(
            "interop: cannot import mcp-contextforge-gateway 1.0.0 with "
            f"{sys.executable} (run `make venv`; the pins in tests/interop/contextforge-1.0.0-constraints.txt "
            f"are required):\n{done.stderr[-3000:]}",
            pytrace=False,
        )


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
