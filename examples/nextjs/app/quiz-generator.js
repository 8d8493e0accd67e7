"use client";
// The page's client part: submit a quiz to the hub (POST /api/jobs, kind quiz_generation) and show its
// progress live from the hub's `quiz_status` messages, with the seed app's hook:
//   useWebSocket("quiz_status", handler, deps)   and   getWebSocketService().isConnected
// Both come from "hub-client/react"; the page's one WebSocketService shares a single connection.
import { useEffect, useState } from "react";
import { httpUrl } from "hub-client";
import { configureWebSocketService, getWebSocketService, useWebSocket } from "hub-client/react";

const TOKEN_URL = "/api/hub-token"; // app/api/hub-token/route.js
const FINISHED = ["completed", "failed", "cancelled"];
const SAMPLE =
  "Photosynthesis is the process by which green plants convert light energy into chemical energy. " +
  "The chloroplast is the organelle where photosynthesis takes place in plant cells. " +
  "Chlorophyll absorbs mostly blue and red light and reflects green light. " +
  "The Calvin cycle uses ATP and NADPH to fix carbon dioxide into sugars. " +
  "Rubisco is the enzyme that catalyses the first step of carbon fixation. " +
  "Stomata are small pores on leaves that control gas exchange.";

let configuredUrl = null;

/** Point the page's WebSocketService at `hubUrl` (from the server, see page.js) once, before the
 * first connect. Without it the service uses the NEXT_PUBLIC_WS_URL inlined at build time. */
function configureOnce(hubUrl) {
  if (typeof window === "undefined" || !hubUrl || configuredUrl !== null) return;
  configureWebSocketService({ url: hubUrl });
  configuredUrl = hubUrl;
}

/** A token from this app's own server route (it signs with HUB_SECRET, which the browser never sees). */
async function hubToken() {
  const reply = await fetch(TOKEN_URL, { cache: "no-store" });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok || typeof body.token !== "string") {
    throw new Error(body.detail ?? `Could not get a hub token: ${TOKEN_URL} answered ${reply.status}.`);
  }
  return body.token;
}

/** FastAPI's `detail` (a sentence, or a list of {loc, msg} for a 422) as one sentence. */
function describe(detail, status) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc ?? []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return `The hub answered ${status}.`;
}

async function hubRequest(base, method, path, body) {
  const headers = { Authorization: `Bearer ${await hubToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(`${httpUrl(base)}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(describe(payload.detail, reply.status));
  return payload;
}

/** getWebSocketService().isConnected and .state, re-read four times a second. */
function useConnection() {
  const [connection, setConnection] = useState({ connected: false, state: "idle" });
  useEffect(() => {
    const read = () => {
      const service = getWebSocketService();
      setConnection((old) =>
        old.connected === service.isConnected && old.state === service.state
          ? old
          : { connected: service.isConnected, state: service.state },
      );
    };
    read();
    const timer = setInterval(read, 250);
    return () => clearInterval(timer);
  }, []);
  return connection;
}

const LABELS = { connected: "Connected", polling: "Polling (fallback)", reconnecting: "Reconnecting…" };

export default function QuizGenerator({ hubUrl }) {
  configureOnce(hubUrl);
  const base = hubUrl || process.env.NEXT_PUBLIC_WS_URL || (typeof window === "undefined" ? "" : location.origin);
  const { connected, state } = useConnection();
  const [text, setText] = useState(SAMPLE);
  const [numQuestions, setNumQuestions] = useState(5);
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState(null);
  const [jobId, setJobId] = useState(null);
  const [updates, setUpdates] = useState({}); // jobId -> its quiz_status messages, in order
  const [questions, setQuestions] = useState(null);

  // Every quiz_status of this educator's stream, kept by job: one may come before the POST answers.
  useWebSocket("quiz_status", (data) => {
    if (!data?.jobId) return;
    setUpdates((all) => ({ ...all, [data.jobId]: [...(all[data.jobId] ?? []), data] }));
  }, []);

  const events = jobId ? (updates[jobId] ?? []) : [];
  const latest = events.at(-1) ?? (jobId ? { status: "queued", progress: 0, message: "Queued" } : null);

  useEffect(() => {
    if (!jobId || latest?.status !== "completed") return;
    let stale = false;
    hubRequest(base, "GET", `/api/jobs/${encodeURIComponent(jobId)}/result`)
      .then((result) => { if (!stale) setQuestions(result.questions ?? []); })
      .catch((err) => { if (!stale) setError(err.message); });
    return () => { stale = true; };
  }, [base, jobId, latest?.status]);

  async function submit(event) {
    event.preventDefault();
    setSubmitting(true);
    setError(null);
    setQuestions(null);
    try {
      const { jobId: id } = await hubRequest(base, "POST", "/api/jobs", {
        kind: "quiz_generation",
        params: { text, numQuestions: Number(numQuestions) },
      });
      setJobId(id);
    } catch (err) {
      setError(err.message);
    } finally {
      setSubmitting(false);
    }
  }

  const busy = submitting || (latest !== null && !FINISHED.includes(latest.status));
  return (
    <main>
      <header>
        <h1>Quiz generator</h1>
        <span id="connection" data-connected={String(connected)} data-state={state}>
          {LABELS[state] ?? "Connecting…"}
        </span>
      </header>
      <form onSubmit={submit}>
        <label htmlFor="quiz-text">Source text</label>
        <textarea id="quiz-text" value={text} onChange={(e) => setText(e.target.value)} required />
        <label htmlFor="num-questions">Questions</label>
        <input id="num-questions" type="number" min={1} max={50} value={numQuestions}
          onChange={(e) => setNumQuestions(e.target.value)} required />
        <div>
          <button id="start-quiz" type="submit" disabled={busy}>
            {submitting ? "Submitting…" : "Generate quiz"}
          </button>
        </div>
      </form>
      {error && <p id="error" className="error" role="alert">{error}</p>}
      {latest && (
        <section id="job" className="job" data-job-id={jobId} data-status={latest.status}
          data-progress={latest.progress}>
          <progress max={100} value={latest.progress} />
          <p>
            <strong>{latest.status}</strong> · {Math.round(latest.progress)}% · {latest.message}
            {latest.error ? ` (${latest.error})` : ""}
          </p>
          <ol className="events" id="events">
            {events.map((e, i) => (
              <li key={i} data-status={e.status} data-progress={e.progress}>
                {e.status} {Math.round(e.progress)}%: {e.message}
              </li>
            ))}
          </ol>
          {questions && (
            <ol id="questions">
              {questions.map((q, i) => <li key={q.id ?? i}>{q.prompt}</li>)}
            </ol>
          )}
        </section>
      )}
    </main>
  );
}
