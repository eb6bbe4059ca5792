// Generates client/src/openapi.d.ts from the repository's
// openapi.json with openapi-typescript, or checks that the committed file is
// what it generates (the default), so that the types cannot drift from the
// API contract.
//
//   node scripts/openapi-types.mjs          check (exit 1 when stale)
//   node scripts/openapi-types.mjs --write  regenerate
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const spec = here("../../../openapi.json");
const target = here("../client/src/openapi.d.ts");
// openapi-typescript is installed on its own (tools/openapi-types, npm ci
// there): it runs on TypeScript 5's compiler API, the workspace on 7.
const cli = join(createRequire(here("../tools/openapi-types/package.json")).resolve("openapi-typescript/package.json"), "..", "bin", "cli.js");

const generate = (out) => execFileSync(process.execPath, [cli, spec, "--output", out], { stdio: ["ignore", "ignore", "inherit"] });

if (process.argv.includes("--write")) {
  generate(target);
} else {
  const dir = mkdtempSync(join(tmpdir(), "openapi-types-"));
  try {
    const fresh = join(dir, "openapi.d.ts");
    generate(fresh);
    if (readFileSync(fresh, "utf8") !== readFileSync(target, "utf8")) {
      console.error("client/src/openapi.d.ts is not what openapi.json generates: run npm run openapi:types");
      process.exit(1);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
