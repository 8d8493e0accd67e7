// `npm run build` in clients/js: bundles src/hub-msgpack.js (encode and decode of @msgpack/msgpack) with
// esbuild into ../../hub/static/hub-msgpack.js, one self-contained ES module that the hub serves at
// /static/hub-msgpack.js next to hub-client.js (whose `import("./hub-msgpack.js")` loads it there).
// The output depends only on the locked versions of esbuild and @msgpack/msgpack (no timestamps, no
// paths): test/build.test.mjs checks that the committed file equals a fresh build.
//
//   node scripts/build.mjs            write hub/static/hub-msgpack.js
//   node scripts/build.mjs --out FILE write FILE instead
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));
export const PACKAGE_DIR = join(HERE, "..");
export const ENTRY = join(PACKAGE_DIR, "src", "hub-msgpack.js");
export const OUTFILE = join(PACKAGE_DIR, "..", "..", "hub", "static", "hub-msgpack.js");

function versionOf(name) {
  return JSON.parse(readFileSync(join(PACKAGE_DIR, "node_modules", name, "package.json"), "utf8")).version;
}

/** The bundle's text (a string), built in memory: ES module exporting `encode` and `decode`. */
export async function bundle() {
  const msgpack = versionOf("@msgpack/msgpack");
  const banner = [
    "// hub-msgpack.js: encode and decode of @msgpack/msgpack " + msgpack +
      " (ISC license, https://github.com/msgpack/msgpack-javascript),",
    "// bundled by esbuild " + esbuild.version + " from clients/js/src/hub-msgpack.js. Generated: do not edit;",
    "// `npm run build` in clients/js makes it again.",
  ].join("\n");
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    absWorkingDir: PACKAGE_DIR,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    minify: true,
    legalComments: "eof",
    charset: "utf8",
    banner: { js: banner },
    write: false,
    logLevel: "silent",
  });
  return new TextDecoder().decode(result.outputFiles[0].contents);
}

async function main() {
  const at = process.argv.indexOf("--out");
  const out = at >= 0 ? process.argv[at + 1] : OUTFILE;
  if (!out) throw new Error("--out needs a file name");
  const text = await bundle();
  writeFileSync(out, text);
  console.log(`wrote ${out} (${text.length} bytes)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => { console.error(`build failed: ${err.message}`); process.exit(1); });
}
