// Times verifier.verify on the reference licence: `node verify.mjs N` prints nanoseconds per verify
// over N verifies after N/10 to warm up. scripts/bench-bindings runs it beside the Rust, C and Python
// ones.
import { Verifier } from "../pkg/node.js";

const KEY =
  "ts1_AQEA2Uevh4x_IgEBAoD2_CiA3YE4H5yFzNQoS4SeF-xdzqY0ITq77_DPtlYLeJj4W4X4GbqwEavEwYKikN_" +
  "qS4gbN3E0iEfCZIJmfY_x_yslyX8BPA8";
const n = Number(process.argv[2] ?? 1000);
const verifier = new Verifier(["tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"], {
  product: { id: 1, tiers: ["free", "pro", "team"], features: ["export", "sync", "cloud", "ai", "plugins"] },
});
const options = { now: 1798761600 };
for (let i = 0; i < n / 10; i++) verifier.verify(KEY, options);
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) verifier.verify(KEY, options);
console.log((Number(process.hrtime.bigint() - start) / n).toFixed(1));
