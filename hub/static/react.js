// React bindings of hub-client.js. The page's bundler (or import map) resolves "react".
//
//   const hub = useMemo(() => new HubClient({ token }), [token]);
//   useEffect(() => { hub.start(); return () => hub.close(); }, [hub]);
//   const state = useHubState(hub);
//   useHubMessages(hub, "quiz_status", (env) => setProgress(env.data.progress));

import { useEffect, useRef, useState } from "react";

/**
 * Call `handler(payload)` for every `type` event of `client` (a message type, "*", "welcome",
 * "snapshot", "state" or "error") while the component is mounted. The latest `handler` is always
 * the one called; the subscription is renewed when `client`, `type` or `deps` change.
 */
export function useHubMessages(client, type, handler, deps = []) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    if (!client) return undefined;
    return client.on(type, (payload) => latest.current?.(payload));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, type, ...deps]);
}

/** The client's connection state, re-rendering when it changes. */
export function useHubState(client) {
  const [state, setState] = useState(() => client?.state ?? "idle");
  useEffect(() => {
    if (!client) return undefined;
    setState(client.state);
    return client.on("state", (event) => setState(event.state));
  }, [client]);
  return state;
}

/** The client's job states as an array (newest first), re-rendering on every job change. */
export function useHubJobs(client) {
  const snapshot = () => (client ? [...client.jobs.values()].sort(
    (a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0)) : []);
  const [jobs, setJobs] = useState(snapshot);
  useEffect(() => {
    if (!client) return undefined;
    const refresh = () => setJobs(snapshot());
    refresh();
    const offSnapshot = client.on("snapshot", refresh);
    const offJobs = client.on("*", (env) => { if (env.data?.jobId) refresh(); });
    return () => { offSnapshot(); offJobs(); };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client]);
  return jobs;
}
