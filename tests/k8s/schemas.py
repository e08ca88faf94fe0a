"""Schema validation of Kubernetes objects with published schemas, strict about unknown keys.

- Built-in kinds: `kubernetes-validate` (the Kubernetes OpenAPI schemas, strict mode rejects
  unknown fields), at KUBERNETES_VERSION.
- cert-manager kinds: cloudcoil's cert-manager models (generated from cert-manager's CRDs).
- Prometheus Operator kinds: cloudcoil's prometheus-operator models (from its CRDs).

The pydantic models ignore unknown keys, so an object is accepted only when the model's dump
(aliases, set fields only) equals the input: a misspelt key makes the two differ.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
from cloudcoil.models.cert_manager import v1 as cert_manager_v1
from cloudcoil.models.prometheus_operator import v1 as prometheus_v1

# The Kubernetes API version the manifests target (sleep preStop actions need 1.30 or later).
KUBERNETES_VERSION = "1.32"

CRD_MODELS = {
    ("cert-manager.io/v1", "Certificate"): cert_manager_v1.Certificate,
    ("cert-manager.io/v1", "Issuer"): cert_manager_v1.Issuer,
    ("cert-manager.io/v1", "ClusterIssuer"): cert_manager_v1.ClusterIssuer,
    ("monitoring.coreos.com/v1", "PrometheusRule"): prometheus_v1.PrometheusRule,
    ("monitoring.coreos.com/v1", "PodMonitor"): prometheus_v1.PodMonitor,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): prometheus_v1.ServiceMonitor,
}


class SchemaError(Exception):
    """An object the schema of its kind refuses."""


def _diff(path: str, want: Any, got: Any, out: list[str]) -> None:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want:
            if key not in got:
                out.append(f"{path}.{key}: not a field of the schema")
            else:
                _diff(f"{path}.{key}", want[key], got[key], out)
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got)):
            _diff(f"{path}[{i}]", w, g, out)
    elif want != got:
        out.append(f"{path}: {json.dumps(want)} was read as {json.dumps(got)}")


def validate(obj: dict, where: str) -> str:
    """Validates one object; returns which validator accepted it, raises SchemaError."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    name = f"{where}: {key[1]} {obj.get('metadata', {}).get('name')!r}"
    model = CRD_MODELS.get(key)
    if model is not None:
        try:
            parsed = model.model_validate(obj)
        except Exception as e:  # pydantic.ValidationError
            raise SchemaError(f"{name}: {e}") from None
        dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
        problems: list[str] = []
        _diff("", obj, dumped, problems)
        if problems:
            raise SchemaError(f"{name}: " + "; ".join(problems))
        return f"cloudcoil {model.__module__}.{model.__name__}"
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise SchemaError(f"{name}: {e.message} at {'.'.join(map(str, e.path))}") from None
    except kubernetes_validate.SchemaNotFoundError:
        raise SchemaError(f"{name}: no schema known for {key}") from None
    return f"kubernetes-validate {KUBERNETES_VERSION} (strict)"
