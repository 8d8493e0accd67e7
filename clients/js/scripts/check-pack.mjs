// `npm run check-pack` in clients/js (make test runs it): the package as a user gets it.
//  1. `npm pack` makes the tarball; it must hold package.json, README.md and every file the `exports`
//     name (an entry whose file is not in src/ yet is reported and skipped), and nothing from test/ or
//     scripts/.
//  2. A scratch project in a temp dir installs the tarball with the pinned typescript and @types/react
//     (package.json devDependencies; npm's cache makes this quick after `npm ci`).
//  3. `tsc --noEmit --strict` on test/types/consumer.ts, which uses every public export of the entry
//     points, with NodeNext and with Bundler module resolution (what Node and Next.js do with `exports`).
//  4. Node imports "hub-client" from the scratch project and round-trips MessagePack through the
//     installed dependency (a client with protocol "msgpack" over a stand-in WebSocket).
// Exits non-zero with what failed; the temp dir is removed either way (HUB_KEEP_PACK_DIR=1 keeps it).
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { PACKAGE_DIR } from "./build.mjs";

const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8"));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function run(cmd, args, cwd, what) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    throw new Error(`${what} failed (${cmd} ${args.join(" ")}):\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

/** Files the `exports` map names, each with whether it is in the source tree now. */
function exportTargets() {
  const targets = [];
  for (const [entry, value] of Object.entries(pkg.exports)) {
    for (const file of typeof value === "string" ? [value] : Object.values(value)) {
      targets.push({ entry, file: file.replace(/^\.\//, ""), present: existsSync(join(PACKAGE_DIR, file)) });
    }
  }
  return targets;
}

const SMOKE = `
import { createRequire } from "node:module";
import { HubClient, MSGPACK_SUBPROTOCOL } from "hub-client";
import { decode, encode } from "@msgpack/msgpack";
const version = createRequire(import.meta.url)("hub-client/package.json").version;
const made = [];
class Socket {
  constructor(url, protocols) { Object.assign(this, { url, protocols, protocol: "", sent: [] }); made.push(this); }
  send(data) { this.sent.push(data); }
  close() {}
}
const client = new HubClient({ url: "http://hub.test", token: "tok", protocol: "msgpack", WebSocket: Socket });
const ready = client.start();
for (let i = 0; i < 200 && !made.length; i++) await new Promise((r) => setTimeout(r, 5));
const ws = made[0];
if (!ws || JSON.stringify(ws.protocols) !== JSON.stringify([MSGPACK_SUBPROTOCOL, "hub.v1"])) throw new Error("no msgpack offer");
ws.protocol = MSGPACK_SUBPROTOCOL;
ws.onopen({});
for (let i = 0; i < 200 && !ws.sent.length; i++) await new Promise((r) => setTimeout(r, 5));
const hello = decode(ws.sent[0]);
if (hello.op !== "hello" || hello.token !== "tok") throw new Error("hello not MessagePack: " + JSON.stringify(hello));
ws.onmessage({ data: encode({ op: "welcome", session: "s", epoch: "E", seq: 0, heartbeat: 20, resumed: false, snapshot: [] }).slice().buffer });
const welcome = await ready;
if (client.protocol !== "msgpack" || welcome.session !== "s") throw new Error("welcome not read");
client.close();
console.log("hub-client " + version + ": imported from the tarball, MessagePack round trip ok");
`;

async function main() {
  const scratch = mkdtempSync(join(tmpdir(), "hub-client-pack-"));
  try {
    // 1. the tarball
    const [info] = JSON.parse(run(npm, ["pack", "--json", "--pack-destination", scratch], PACKAGE_DIR, "npm pack"));
    const files = new Set(info.files.map((f) => f.path));
    const problems = [];
    for (const need of ["package.json", "README.md"]) if (!files.has(need)) problems.push(`${need} is not in the tarball`);
    for (const { entry, file, present } of exportTargets()) {
      if (!present) console.log(`check-pack: exports["${entry}"] -> ${file}: not in src/ on this branch, skipped`);
      else if (!files.has(file)) problems.push(`exports["${entry}"] -> ${file} is not in the tarball`);
    }
    for (const file of files) {
      if (/^(test|scripts|node_modules)\//.test(file)) problems.push(`${file} should not be in the tarball`);
    }
    if (problems.length) throw new Error(`the tarball ${info.filename}:\n  ${problems.join("\n  ")}`);
    console.log(`check-pack: ${info.filename}: ${files.size} files, ${info.size} bytes packed`);

    // 2. a scratch project that installs it
    writeFileSync(join(scratch, "package.json"),
      JSON.stringify({ name: "hub-client-consumer", version: "0.0.0", private: true, type: "module" }, null, 2));
    copyFileSync(join(PACKAGE_DIR, "test", "types", "consumer.ts"), join(scratch, "consumer.ts"));
    const dev = pkg.devDependencies;
    run(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", "--loglevel=error",
      `./${info.filename}`, `typescript@${dev.typescript}`, `@types/react@${dev["@types/react"]}`],
    scratch, "npm install of the tarball");

    // 3. the TypeScript check, as Node and as a bundler resolve `exports`
    const tsc = join(scratch, "node_modules", "typescript", "bin", "tsc");
    for (const [module, resolution] of [["nodenext", "nodenext"], ["esnext", "bundler"]]) {
      run(process.execPath, [tsc, "--noEmit", "--strict", "--target", "es2022", "--lib", "es2022,dom",
        "--module", module, "--moduleResolution", resolution, "consumer.ts"], scratch,
      `tsc --noEmit --strict (moduleResolution ${resolution}) on test/types/consumer.ts`);
      console.log(`check-pack: tsc --noEmit --strict --moduleResolution ${resolution} consumer.ts: ok`);
    }

    // 4. the installed package runs
    writeFileSync(join(scratch, "smoke.mjs"), SMOKE);
    process.stdout.write(`check-pack: ${run(process.execPath, ["smoke.mjs"], scratch, "importing the installed package")}`);
  } finally {
    if (process.env.HUB_KEEP_PACK_DIR === "1") console.log(`check-pack: kept ${scratch}`);
    else rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(`check-pack: ${err.message}`); process.exit(1); });
