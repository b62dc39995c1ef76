// The README's JavaScript example runs against the built package and verifies its licence.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";

test("the README's JavaScript example runs", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const block = readme.split("```js\n")[1].split("```")[0];
  const entry = fileURLToPath(new URL("../pkg/node.js", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "tessera-readme-"));
  try {
    const script = join(dir, "example.mjs");
    writeFileSync(script, block.replace('"@tessera/verifier"', JSON.stringify(entry)));
    const printed = execFileSync(process.execPath, [script], { encoding: "utf8" });
    assert.equal(printed, "licensed: pro, export: true\n");
  } finally {
    rmSync(dir, { recursive: true });
  }
});
