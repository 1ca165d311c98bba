#!/usr/bin/env python3
"""Deploy N small VMS to a release `starweave-engine` through its admin API, once without and
once with `--state-dir` (the baseline and the cost of saving), kill the engine with SIGKILL,
start it again on the same state directory and time it until `/readyz` answers 200.

    cargo build --release -p starweave-engine --bin starweave-engine
    python3 bench/state/restore.py "$CARGO_TARGET_DIR/release/starweave-engine" 1000

Prints one JSON line. Loopback only; everything lives in a temporary directory.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ENGINE, N = sys.argv[1], int(sys.argv[2])
TOKEN = "restore-bench-token-0123456789"
root = tempfile.mkdtemp(prefix="starweave-restore-")
state = os.path.join(root, "state")
vms = os.path.join(root, "vms")
os.makedirs(os.path.join(vms, "functions"))
with open(os.path.join(vms, "functions/who.rhai"), "w") as f:
    f.write("fn main(input, ctx) { #{ ok: true } }\n")
with open(os.path.join(vms, "triggers.yaml"), "w") as f:
    f.write("- kind: http\n  function: who\n  method: GET\n  path: /who\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(addr, method, path, body=None):
    request = urllib.request.Request(
        f"http://{addr}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def launch(with_state):
    """Starts an engine; returns it, its admin and data addresses and the time to ready."""
    data, admin = free_port(), free_port()
    args = [ENGINE, "--listen", f"127.0.0.1:{data}", "--admin-listen", f"127.0.0.1:{admin}"]
    if with_state:
        args += ["--state-dir", state]
    engine = subprocess.Popen(
        args,
        env={"STARWEAVE_ADMIN_TOKEN": TOKEN, "STARWEAVE_LOG": "warn", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz") as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.005)
    return engine, f"127.0.0.1:{admin}", f"127.0.0.1:{data}", time.monotonic() - started


def deploy_all(admin):
    started = time.monotonic()
    for i in range(N):
        with open(os.path.join(vms, "vms.yaml"), "w") as f:
            f.write(f"name: vms{i}\n")
        status, body = call(admin, "POST", "/admin/deployments",
                            {"vms": f"vms{i}", "version": "1", "source": {"path": vms}})
        assert status == 201, (status, body)
    return time.monotonic() - started


engine, admin, data, _ = launch(False)
memory_only = deploy_all(admin)
engine.send_signal(signal.SIGKILL)
engine.wait()
engine, admin, data, empty = launch(True)
saved = deploy_all(admin)
state_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(state) for f in fs)
engine.send_signal(signal.SIGKILL)
engine.wait()
engine, admin, data, ready = launch(True)
_, listed = call(admin, "GET", "/admin/deployments")
with urllib.request.urlopen(f"http://{data}/vms{N - 1}/who") as response:
    assert response.status == 200
with open(f"/proc/{engine.pid}/status") as f:
    rss_kib = int(next(line for line in f if line.startswith("VmRSS")).split()[1])
engine.send_signal(signal.SIGTERM)
engine.wait()
shutil.rmtree(root)
print(json.dumps({
    "deployments": N,
    "restored": len(json.loads(listed)),
    "empty_start_s": round(empty, 3),
    "restart_to_ready_s": round(ready, 3),
    "restore_ms_per_deployment": round(ready * 1000 / N, 2),
    "deploy_ms_memory_only": round(memory_only * 1000 / N, 2),
    "deploy_ms_saved": round(saved * 1000 / N, 2),
    "state_dir_kib": state_bytes // 1024,
    "rss_mib_after_restore": rss_kib // 1024,
}))
