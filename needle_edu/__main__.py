"""``python -m needle_edu``: which devices run here, and a quick check of each against numpy."""
import sys

import numpy as np

from .backend_ndarray import NDArray, all_devices


def smoke_check(device):
    """A strided sum, a broadcast product and a matmul on ``device``, compared with numpy."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((33, 17)).astype("float32"), rng.standard_normal((17, 9)).astype("float32")
    x, y = NDArray(a, device=device), NDArray(b, device=device)
    checks = [
        (x[::2, ::-1].sum(axis=0).numpy(), a[::2, ::-1].sum(axis=0)),
        ((x * x[0].broadcast_to(x.shape)).numpy(), a * a[0]),
        ((x @ y).numpy(), a @ b),
    ]
    return all(np.allclose(got, want, rtol=1e-4, atol=1e-4) for got, want in checks)


def main():
    print(f"{'device':<11} {'status':<12} details")
    failed = False
    for device in all_devices():
        if not device.enabled():
            print(f"{device.name:<11} {'unavailable':<12} {device.reason}")
            continue
        ok = smoke_check(device)
        failed |= not ok
        print(f"{device.name:<11} {'ok' if ok else 'WRONG':<12} {device.description}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
