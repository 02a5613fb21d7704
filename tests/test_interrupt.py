"""A long kernel stops on Ctrl-C (SIGINT) with KeyboardInterrupt instead of running to the end."""
import signal
import subprocess
import sys
import time

import pytest

import needle_edu as ndl

# 16384^3 multiply-adds: about 40 s at this machine's peak, minutes in practice.
SCRIPT = """
import sys, needle_edu as ndl
a = ndl.backend_ndarray.full((16384, 16384), 1.0, device=sys.argv[1])
print("started", flush=True)
a @ a
print("finished", flush=True)
"""


@pytest.mark.parametrize("name", ["cpu", "numba"])
def test_large_matmul_can_be_interrupted(name):
    device = ndl.device(name)
    if not device.enabled():
        pytest.skip(f"{name}: {device.reason}")
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, name], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "started"
        time.sleep(1.5)  # well inside the multiply
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "KeyboardInterrupt" in err, err[-2000:]
    assert "finished" not in out
    assert process.returncode != 0
