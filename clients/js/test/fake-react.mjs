// A tiny fake of React's hooks for the tests of clients/js/src/react.js, shared by the test files that
// need one: `fakeReact()` makes one component's hooks; a test sets it as `globalThis.__fakeReact` and
// renders through it. Importing this module makes `import ... from "react"` resolve to a shim that
// calls the current fake (a Node module loader hook, registered once).
import { register } from "node:module";

/** useState (with updater functions), useRef and useEffect (run after render, cleaned up when deps
 * change or at unmount); `renders` counts the renders a state change asked for. */
export function fakeReact() {
  const slots = [];
  const pending = [];
  let index = 0;
  const R = {
    renders: 0,
    useRef(init) { const k = index++; slots[k] ??= { current: init }; return slots[k]; },
    useState(init) {
      const k = index++;
      if (!slots[k]) slots[k] = { value: typeof init === "function" ? init() : init };
      const slot = slots[k];
      return [slot.value, (value) => {
        const next = typeof value === "function" ? value(slot.value) : value;
        if (!Object.is(next, slot.value)) R.renders += 1;
        slot.value = next;
      }];
    },
    useEffect(effect, deps) {
      const k = index++;
      const prev = slots[k];
      if (prev && deps && deps.length === prev.deps.length && deps.every((d, j) => Object.is(d, prev.deps[j]))) return;
      pending.push(() => { prev?.cleanup?.(); slots[k] = { deps: deps ?? [], cleanup: effect() }; });
    },
    render(component) { // render, run the effects, and again until no effect is due (what they set shows)
      for (let pass = 0; pass < 10; pass++) {
        index = 0;
        const out = component();
        if (!pending.length) return out;
        pending.splice(0).forEach((run) => run());
      }
      throw new Error("effects never settle");
    },
    unmount() { slots.forEach((slot) => slot?.cleanup?.()); slots.length = 0; },
  };
  return R;
}

const shim = "const R = () => globalThis.__fakeReact; export const useEffect = (...a) => R().useEffect(...a); "
  + "export const useRef = (...a) => R().useRef(...a); export const useState = (...a) => R().useState(...a);";
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(specifier, context, next) {
  if (specifier === "react") return { url: ${JSON.stringify(`data:text/javascript,${encodeURIComponent(shim)}`)}, shortCircuit: true };
  return next(specifier, context);
}`)}`);
