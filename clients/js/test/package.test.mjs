// The npm package's shape (package.json) and its public surface: for each entry point of `exports`,
// the JavaScript module's exports and its .d.ts declarations name the same values, and
// test/types/consumer.ts (type-checked against the packed tarball by `npm run check-pack`) imports and
// uses every export, types included. An entry whose file is not in src/ yet is skipped (said so).
// `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { register } from "node:module";
import { describe, test } from "node:test";

const root = new URL("../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
const consumer = readFileSync(new URL("test/types/consumer.ts", root), "utf8");

// react.js (and entries built on it) import "react", which is only a peer dependency: a stand-in
// with React's hook names is enough to list a module's exports.
const reactStub = ["useState", "useEffect", "useLayoutEffect", "useRef", "useCallback", "useMemo", "useReducer",
  "useContext", "useSyncExternalStore", "useId", "createContext", "createElement", "Fragment"]
  .map((name) => `export const ${name} = () => { throw new Error("react stand-in"); };`).join("\n")
  + "\nexport default {};";
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(specifier, context, next) {
  if (specifier === "react") return { url: ${JSON.stringify(`data:text/javascript,${encodeURIComponent(reactStub)}`)}, shortCircuit: true };
  return next(specifier, context);
}`)}`);

/** Names a .d.ts exports: { values, types } (value: const, function, class, default). */
function declared(text) {
  const values = new Set(), types = new Set();
  for (const m of text.matchAll(/^export\s+declare\s+(?:const|let|function|class|abstract\s+class)\s+(\w+)/gm)) values.add(m[1]);
  for (const m of text.matchAll(/^export\s+(?:interface|type)\s+(\w+)/gm)) types.add(m[1]);
  if (/^export\s+default\s/m.test(text)) values.add("default");
  for (const m of text.matchAll(/^export\s+(type\s+)?\{([^}]*)\}/gm)) {
    for (const part of m[2].split(",").map((s) => s.trim()).filter(Boolean)) {
      const name = part.replace(/^type\s+/, "").split(/\s+as\s+/).pop();
      (m[1] || part.startsWith("type ") ? types : values).add(name);
    }
  }
  return { values, types };
}

/** consumer.ts's imports from `specifier`: exported name -> local name. */
function imported(specifier) {
  const names = new Map();
  const pattern = /^import\s+(?:type\s+)?([\s\S]*?)\s+from\s+"([^"]+)";/gm;
  for (const m of consumer.matchAll(pattern)) {
    if (m[2] !== specifier) continue;
    const clause = m[1];
    const braces = clause.match(/\{([\s\S]*)\}/);
    const head = clause.replace(/\{[\s\S]*\}/, "").replace(/,/g, "").trim();
    if (head) names.set("default", head);
    for (const part of (braces?.[1] ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
      const [name, local = name] = part.replace(/^type\s+/, "").split(/\s+as\s+/);
      names.set(name, local);
    }
  }
  return names;
}

const body = consumer.replace(/^import\s[\s\S]*?;$/gm, "");
const used = (local) => new RegExp(`\\b${local}\\b`).test(body);

describe("package.json", () => {
  test("an ES module package with the agreed entry points, files and pinned dependencies", () => {
    assert.equal(pkg.name, "hub-client");
    assert.equal(pkg.type, "module");
    assert.deepEqual(pkg.files, ["src"]);
    assert.equal(pkg.sideEffects, false);
    assert.deepEqual(Object.keys(pkg.exports), [".", "./react", "./testing", "./package.json"]);
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (entry === "./package.json") continue;
      assert.deepEqual(Object.keys(target), ["types", "default"], `${entry}: types first (TypeScript reads in order)`);
      assert.match(target.default, /^\.\/src\/[\w-]+\.js$/);
      assert.equal(target.types, target.default.replace(/\.js$/, ".d.ts"));
    }
    assert.match(pkg.dependencies["@msgpack/msgpack"], /^3\.\d+\.\d+$/, "exact 3.x");
    for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      assert.match(version, /^\d+\.\d+\.\d+$/, `${name} pinned exactly`);
    }
    assert.deepEqual(pkg.peerDependencies, { react: ">=17" });
    assert.deepEqual(pkg.peerDependenciesMeta, { react: { optional: true } });
    assert.equal(pkg.scripts.test, "node --test test/");
    const lock = JSON.parse(readFileSync(new URL("package-lock.json", root), "utf8"));
    assert.deepEqual(lock.packages[""].dependencies, pkg.dependencies, "package-lock.json is current");
    assert.deepEqual(lock.packages[""].devDependencies, pkg.devDependencies, "package-lock.json is current");
  });
});

describe("entry points: JS exports = .d.ts declarations, all used by test/types/consumer.ts", () => {
  for (const [entry, target] of Object.entries(pkg.exports)) {
    if (entry === "./package.json") continue;
    const specifier = entry === "." ? pkg.name : `${pkg.name}/${entry.slice(2)}`;
    const js = new URL(target.default, root), dts = new URL(target.types, root);
    test(specifier, { skip: existsSync(js) ? false : `${target.default} is not on this branch yet` }, async () => {
      assert.ok(existsSync(dts), `${target.types} exists`);
      const { values, types } = declared(readFileSync(dts, "utf8"));
      const runtime = Object.keys(await import(js)).sort();
      assert.deepEqual(runtime, [...values].sort(), `${target.default}'s exports are the values ${target.types} declares`);
      const names = imported(specifier);
      const missing = [...values, ...types].filter((name) => !names.has(name));
      assert.deepEqual(missing, [], `test/types/consumer.ts imports every export of "${specifier}"`);
      const unused = [...names.values()].filter((local) => !used(local));
      assert.deepEqual(unused, [], "and uses each one");
    });
  }
});
