// The package's entry point in Node: compiles the module beside this file synchronously, so that
// `import { Verifier } from "@tessera/verifier"` is ready to use. Browsers and bundlers get
// tessera_wasm.js instead, whose default export `init()` fetches the module once.
import { readFileSync } from "node:fs";
import { initSync } from "./tessera_wasm.js";

initSync({ module: readFileSync(new URL("./tessera_wasm_bg.wasm", import.meta.url)) });

export * from "./tessera_wasm.js";
