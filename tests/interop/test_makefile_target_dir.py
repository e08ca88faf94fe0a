"""The Makefile honours CARGO_TARGET_DIR: it runs $CARGO_TARGET_DIR/debug/plugwire, where cargo builds it.

Before, it ran `target/debug/plugwire` by path, so with CARGO_TARGET_DIR set every `make certs-mcp-*`,
`make demo` and `make test` failed. Kept cheap: CARGO=true makes the `build` step a no-op, and the
temp target dir holds a wrapper that records its call and runs the binary under test.
"""

import os
import subprocess

import harness


def _fake_target_dir(tmp_path):
    target = tmp_path / "cargo-target"
    (target / "debug").mkdir(parents=True)
    marker = tmp_path / "called"
    wrapper = target / "debug" / "plugwire"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{marker}"\nexec "{harness.PLUGWIRE}" "$@"\n')
    wrapper.chmod(0o755)
    return target, marker


def _make(tmp_path, *args, **env):
    argv = ["make", "--no-print-directory", "-C", str(harness.REPO), *args]
    done = subprocess.run(argv, env=harness.base_env(**env), capture_output=True, text=True, timeout=300)
    (tmp_path / "make.log").write_text(f"$ {' '.join(argv)}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def test_make_certs_uses_cargo_target_dir(tmp_path, plugwire_bin):
    target, marker = _fake_target_dir(tmp_path)
    certs = tmp_path / "certs"
    done = _make(tmp_path, "certs-mcp-all", "CARGO=true", f"MCP_CERT_DIR={certs}", "MCP_KEY_TYPE=ecdsa-p256",
                 CARGO_TARGET_DIR=str(target))
    assert done.returncode == 0, f"make certs-mcp-all with CARGO_TARGET_DIR failed:\n{done.stdout}\n{done.stderr}"
    assert marker.read_text().startswith("certs all"), f"{target}/debug/plugwire was not the binary run: {done.stdout}"
    assert (certs / "ca" / "ca.crt").is_file() and (certs / "gateway" / "client.crt").is_file()
    plugin_dirs = [p for p in (certs / "plugins").iterdir() if (p / "server.crt").is_file()]
    assert plugin_dirs, f"no plugin certificate under {certs}/plugins"

    done = _make(tmp_path, "certs-mcp-check", "CARGO=true", f"MCP_CERT_DIR={certs}", CARGO_TARGET_DIR=str(target))
    assert done.returncode == 0, f"make certs-mcp-check failed:\n{done.stdout}\n{done.stderr}"
    assert "certs check" in marker.read_text()


def test_make_interop_and_demo_pass_the_binary_on(tmp_path):
    """`make -n`: the harness (PLUGWIRE_BIN) and the demo script (PLUGWIRE) get $CARGO_TARGET_DIR's binary."""
    target = tmp_path / "elsewhere"
    done = _make(tmp_path, "-n", "interop", "demo", CARGO_TARGET_DIR=str(target))
    assert done.returncode == 0, done.stderr
    binary = os.path.join(str(target), "debug", "plugwire")
    assert f'PLUGWIRE_BIN="{binary}"' in done.stdout, done.stdout
    assert f'PLUGWIRE="{binary}"' in done.stdout, done.stdout
