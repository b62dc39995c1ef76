// The Rust verifier inside the same WebAssembly, without the JavaScript glue: `node rust_in_wasm.mjs
// PKG_DIR N` prints nanoseconds per verify. PKG_DIR holds a build with the `bench` feature
// (scripts/bench-bindings makes one).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const dir = resolve(process.argv[2]);
const n = Number(process.argv[3] ?? 1000);
const glue = await import(pathToFileURL(join(dir, "tessera_wasm.js")).href);
glue.initSync({ module: readFileSync(join(dir, "tessera_wasm_bg.wasm")) });
if (!glue.benchRustVerify(Math.max(1, Math.floor(n / 10)))) throw new Error("verify failed");
const start = process.hrtime.bigint();
if (!glue.benchRustVerify(n)) throw new Error("verify failed");
console.log((Number(process.hrtime.bigint() - start) / n).toFixed(1));
