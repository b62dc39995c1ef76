"""Times Verifier.verify on the reference licence: `verify.py N` prints nanoseconds per verify over N
verifies after N/10 to warm up. scripts/bench-bindings runs it beside the Rust, C and Node ones."""

import sys
import time

import tessera

KEY = ("ts1_AQEA2Uevh4x_IgEBAoD2_CiA3YE4H5yFzNQoS4SeF-xdzqY0ITq77_DPtlYLeJj4W4X4GbqwEavEwYKikN_"
       "qS4gbN3E0iEfCZIJmfY_x_yslyX8BPA8")
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
product = tessera.Product(1, tiers=["free", "pro", "team"], features=["export", "sync", "cloud", "ai", "plugins"])
verifier = tessera.Verifier(["tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"], product=product)
verify = verifier.verify
for _ in range(n // 10):
    verify(KEY, now=1798761600)
start = time.perf_counter_ns()
for _ in range(n):
    verify(KEY, now=1798761600)
print(f"{(time.perf_counter_ns() - start) / n:.1f}")
