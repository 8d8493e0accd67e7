// hub/static/hub-msgpack.js, the MessagePack codec the hub serves next to hub-client.js: the committed
// file is exactly what `npm run build` (scripts/build.mjs, esbuild) makes now, it imports nothing, and
// it encodes and decodes like @msgpack/msgpack itself. `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import * as msgpack from "@msgpack/msgpack";

import { OUTFILE, bundle } from "../scripts/build.mjs";

describe("hub/static/hub-msgpack.js", () => {
  test("equals a fresh build (run `npm run build` in clients/js after changing the dependency)", async () => {
    const committed = readFileSync(OUTFILE, "utf8");
    const fresh = await bundle();
    assert.ok(committed === fresh, `${OUTFILE} is stale: run \`npm run build\` in clients/js and commit it`);
    assert.equal(await bundle(), fresh, "two builds give the same bytes");
  });

  test("self-contained: no import or require left, encode and decode exported", async () => {
    const text = readFileSync(OUTFILE, "utf8");
    assert.doesNotMatch(text, /\bimport\s*[("{*]|\bfrom\s*["']|\brequire\s*\(/);
    const mod = await import(new URL("../../../hub/static/hub-msgpack.js", import.meta.url));
    assert.deepEqual(Object.keys(mod).sort(), ["decode", "encode"]);
    const op = { op: "hello", token: "t", resume: { epoch: "E1", seq: 7 }, types: ["quiz_status"] };
    const bytes = mod.encode(op);
    assert.deepEqual([...bytes], [...msgpack.encode(op)], "same bytes as @msgpack/msgpack");
    assert.deepEqual(mod.decode(bytes), op);
    const env = { seq: 3, type: "quiz_status", ts: 1764094212.531, data: { progress: 40, title: "Café ✓" } };
    assert.deepEqual(mod.decode(msgpack.encode(env)), env);
  });
});
