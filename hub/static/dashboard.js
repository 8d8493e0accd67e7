// The hub's dashboard (served at /): an educator's jobs with live progress, a quiz form, the
// finished quiz, notification toasts and analytics, all fed by hub-client.js; with the quiz, a
// "Working together" panel (together.js) over the quiz's room.
import { HubClient, HubHttpError, TERMINAL } from "./hub-client.js";
import { TogetherPanel, el } from "./together.js";

const TOKEN_KEY = "hub.token";
const TITLES_KEY = "hub.jobTitles"; // jobId or quizId -> the first words of the text it was made from
const CLEARED_KEY = "hub.clearedJobs"; // + ":" + educator: the ids of the finished jobs "Clear finished" hid
const PAGE = 10; // jobs shown at first, and added by each "Show more"
const MAX_TITLES = 300;
const MAX_CLEARED = 5000; // ids remembered (the oldest are forgotten, and show again if still listed)
const $ = (selector) => document.querySelector(selector);
const STATE_LABELS = {
  idle: "Not connected", connecting: "Connecting…", connected: "Live", reconnecting: "Reconnecting…",
  polling: "Polling (fallback)", closed: "Disconnected",
};
const KIND_LABELS = {
  quiz_generation: "Quiz generation", question_replace: "Question replacement",
  document_processing: "Document processing",
};

let client = null;
const pastJobs = new Map(); // jobs from GET /api/jobs that the stream's snapshot did not carry
const shownQuiz = { jobId: null, quizId: null, result: null };
const view = { limit: PAGE, educator: "", cleared: new Set(), scheduled: false };
let figures = {}; // the analytics panel: GET /api/analytics and analytics_update merged, newest last
let together = null; // the "Working together" panel of the quiz on show
// Partial results (PROTOCOL.md section 9): jobId -> {total, items: Map(index -> value)}, the finished
// questions (a custom kind's items) of running jobs, shown one by one under their progress bar.
const partial = new Map();

// -- small DOM helpers -------------------------------------------------------------------------

function storage() {
  try { return window.sessionStorage; } catch { return null; }
}

function local() {
  try { return window.localStorage; } catch { return null; }
}

function readJson(key, fallback) {
  try { return JSON.parse(local()?.getItem(key) ?? "null") ?? fallback; } catch { return fallback; }
}

function writeJson(key, value) {
  try { local()?.setItem(key, JSON.stringify(value)); } catch { /* full or refused: not remembered */ }
}

/** The educator a token names (its `sub`), read without checking it: only to key what this browser remembers. */
function tokenSubject(token) {
  try {
    const part = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(part)).sub ?? "");
  } catch { return ""; }
}

function firstWords(text, words = 8, chars = 60) {
  const all = String(text).trim().split(/\s+/);
  let short = all.slice(0, words).join(" ");
  if (short.length > chars) short = short.slice(0, chars).replace(/\s+\S*$/, "");
  return short.length < String(text).trim().length ? `${short}…` : short;
}

function humanize(key) {
  const words = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function formatValue(key, value) {
  if (typeof value === "number") {
    const text = value.toLocaleString(undefined, { maximumFractionDigits: 1 });
    return /seconds$/i.test(key) ? `${text} s` : text;
  }
  if (value == null) return "—";
  if (value && typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function formatEta(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  if (seconds < 1) return "almost done";
  if (seconds < 90) return `about ${Math.round(seconds)} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

function formatTime(ts) {
  if (!ts) return "";
  return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function errorText(err) {
  if (err instanceof HubHttpError) {
    if (Array.isArray(err.detail)) {
      return err.detail.map((d) => (d && typeof d === "object" ? d.msg ?? JSON.stringify(d) : String(d))).join("; ");
    }
    return typeof err.detail === "string" ? err.detail : `HTTP ${err.status}`;
  }
  return err?.message ?? String(err);
}

// -- toasts ------------------------------------------------------------------------------------

function toast(level, title, body = "", timeout = level === "error" ? 10000 : 6000) {
  const node = el("div", { class: `toast toast-${level}`, role: level === "error" ? "alert" : "status",
    "data-level": level },
  el("div", { class: "toast-text" }, el("strong", { text: title }), body ? el("p", { text: body }) : null),
  el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", text: "×",
    onclick: () => node.remove() }));
  $("#toasts").append(node);
  while ($("#toasts").children.length > 5) $("#toasts").firstElementChild.remove();
  if (timeout) setTimeout(() => node.remove(), timeout);
  return node;
}

// -- connection indicator ----------------------------------------------------------------------

function showState(state) {
  const node = $("#connection");
  node.dataset.state = state;
  node.querySelector(".label").textContent = STATE_LABELS[state] ?? state;
  node.title = state === "polling" ? "WebSocket unavailable: updates arrive by long-polling" : "";
}

// -- jobs --------------------------------------------------------------------------------------

function jobState(jobId) {
  return client.jobs.get(jobId) ?? pastJobs.get(jobId);
}

function allJobs() {
  const jobs = new Map(pastJobs);
  for (const [id, job] of client.jobs) jobs.set(id, job);
  return [...jobs.values()].sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
}

function rememberTitle(keys, text) {
  const titles = readJson(TITLES_KEY, {});
  for (const key of keys) if (key) titles[key] = firstWords(text);
  const keep = Object.entries(titles).slice(-MAX_TITLES); // oldest first out
  writeJson(TITLES_KEY, Object.fromEntries(keep));
}

/** [kind label, name]: the name is the first words of the text it was made from (when this browser
 * started it), else the question, quiz or document it is about. */
function jobTitle(job) {
  const kind = KIND_LABELS[job.kind] ?? humanize(job.kind ?? "job");
  const titles = readJson(TITLES_KEY, {});
  const words = titles[job.jobId] ?? titles[job.quizId];
  if (titles[job.jobId] && job.quizId && !titles[job.quizId]) rememberTitle([job.quizId], titles[job.jobId]);
  let name;
  if (job.kind === "question_replace") {
    name = `question ${job.questionId ?? "?"} of ${words ? `“${words}”` : job.quizId ?? "a quiz"}`;
  } else {
    name = words ? `“${words}”` : job.documentId ?? job.quizId ?? `job ${String(job.jobId).slice(0, 8)}`;
  }
  if (job.kind === "document_processing" && job.stage) name += ` · ${job.stage}`;
  return [kind, name];
}

function isFinished(job) {
  return TERMINAL.includes(job.status);
}

function isCleared(job) {
  return view.cleared.has(job.jobId);
}

function buildRow(jobId) {
  const row = el("li", { class: "job", "data-job-id": jobId },
    el("div", { class: "job-head" },
      el("span", { class: "job-title" }, el("span", { class: "job-kind" }), el("span", { class: "job-name" })),
      el("span", { class: "badge" }),
      el("time", { class: "job-time muted" })),
    el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-label": "Progress" }, el("div", { class: "bar" })),
    // why the job waits for resources (PROTOCOL.md section 9), shown instead of a bar stuck at 0 %
    el("p", { class: "job-waiting", role: "status", hidden: true }),
    el("div", { class: "job-foot" },
      el("span", { class: "job-message" }),
      el("span", { class: "eta muted" })),
    el("p", { class: "job-error error", hidden: true }),
    el("section", { class: "job-items", hidden: true },
      el("p", { class: "job-items-count muted" }),
      el("ol", { class: "job-items-list" })),
    el("div", { class: "job-actions" },
      el("button", { type: "button", class: "cancel secondary", "data-job-id": jobId, text: "Cancel",
        onclick: (event) => cancelJob(jobId, event.currentTarget) }),
      el("button", { type: "button", class: "view secondary", "data-job-id": jobId, text: "View quiz",
        hidden: true, onclick: () => showResult(jobId) })));
  return row;
}

function fillRow(row, job) {
  const progress = Math.max(0, Math.min(100, Number(job.progress) || 0));
  const running = !isFinished(job);
  row.dataset.status = job.status ?? "queued";
  row.dataset.kind = job.kind ?? "";
  const [kind, name] = jobTitle(job);
  row.querySelector(".job-kind").textContent = kind;
  row.querySelector(".job-name").textContent = name;
  row.querySelector(".job-title").title = `${kind}: ${name} (job ${job.jobId})`;
  row.querySelector(".badge").textContent = job.status ?? "queued";
  row.querySelector(".job-time").textContent = formatTime(job.createdAt);
  const bar = row.querySelector(".progress");
  bar.dataset.progress = String(progress);
  bar.setAttribute("aria-valuenow", String(progress));
  bar.setAttribute("aria-valuetext", `${Math.round(progress)}%`);
  bar.setAttribute("aria-label", `${kind} ${name} progress`);
  bar.querySelector(".bar").style.width = `${progress}%`;
  row.querySelector(".job-message").textContent = job.message || "";
  row.querySelector(".eta").textContent = running ? formatEta(job.etaSeconds) : `${Math.round(progress)}%`;
  fillWaiting(row, running ? job.waiting : null, progress);
  const error = row.querySelector(".job-error");
  error.hidden = !job.error;
  error.textContent = job.error ?? "";
  const cancel = row.querySelector(".cancel");
  cancel.hidden = !running;
  if (!running) cancel.disabled = false;
  row.querySelector(".view").hidden = !(job.status === "completed" && job.kind === "quiz_generation");
  fillItems(row, job, running);
}

/** Keep the `item` a job's message carries (a question as soon as it is done); false if none. */
function keepItem(data) {
  const item = data.item;
  if (!item || typeof item !== "object" || !Number.isInteger(item.index) || item.index < 0) return false;
  const kept = partial.get(data.jobId) ?? { total: null, items: new Map() };
  if (Number.isInteger(item.total)) kept.total = item.total;
  kept.items.set(item.index, "question" in item ? item.question : item.value);
  partial.set(data.jobId, kept);
  return true;
}

function itemText(value) {
  if (value && typeof value === "object" && typeof value.prompt === "string") return value.prompt;
  return formatValue("", value);
}

/** A running job's finished items under its bar, in index order, each added once as it comes. */
function fillItems(row, job, running) {
  const box = row.querySelector(".job-items");
  const kept = partial.get(job.jobId);
  if (!running) partial.delete(job.jobId); // the result holds them all ("View quiz")
  box.hidden = !running || !kept || kept.items.size === 0;
  if (box.hidden) return;
  const noun = job.kind === "quiz_generation" ? "question" : "item";
  const total = kept.total ?? job.itemsDone;
  box.querySelector(".job-items-count").textContent =
    `${kept.items.size} of ${total ?? "?"} ${noun}${total === 1 ? "" : "s"} ready`;
  const list = box.querySelector(".job-items-list");
  const shown = new Map([...list.children].map((li) => [Number(li.dataset.index), li]));
  for (const index of [...kept.items.keys()].sort((a, b) => a - b)) {
    if (shown.has(index)) continue;
    const li = el("li", { class: "job-item", "data-index": index, value: index + 1, text: itemText(kept.items.get(index)) });
    const after = [...list.children].find((other) => Number(other.dataset.index) > index) ?? null;
    list.insertBefore(li, after);
  }
}

// Why a queued or processing job waits (its `waiting`, or null): the reason in place of a bar that has not
// moved yet, or under a bar that has (some of its tasks run, others wait).
function fillWaiting(row, waiting, progress) {
  const note = row.querySelector(".job-waiting");
  const reason = waiting && typeof waiting.reason === "string" ? waiting.reason : "";
  row.toggleAttribute("data-waiting", Boolean(reason));
  row.querySelector(".progress").hidden = Boolean(reason) && progress <= 1;
  note.hidden = !reason;
  note.textContent = reason ? reason.charAt(0).toUpperCase() + reason.slice(1) : "";
  note.title = reason && waiting.since ? `Waiting since ${formatTime(waiting.since)}` : "";
  // an estimate made before the wait means nothing while it lasts: say since when it waits instead
  if (reason) row.querySelector(".eta").textContent = waiting.since ? `waiting since ${formatTime(waiting.since)}` : "";
}

function renderJob() { // a job changed: draw the list again at the end of this turn (once for a batch)
  if (view.scheduled) return;
  view.scheduled = true;
  queueMicrotask(() => {
    view.scheduled = false;
    if (client) renderAllJobs();
  });
}

/** The newest `view.limit` jobs not cleared, newest first; rows are kept across renders by job id. */
function renderAllJobs() {
  const list = $("#jobs");
  const jobs = allJobs();
  const shown = jobs.filter((job) => !isCleared(job));
  const visible = shown.slice(0, view.limit);
  const rows = new Map([...list.children].map((row) => [row.dataset.jobId, row]));
  const wanted = visible.map((job) => {
    const row = rows.get(job.jobId) ?? buildRow(job.jobId);
    fillRow(row, job);
    return row;
  });
  const keep = new Set(wanted);
  for (const row of rows.values()) if (!keep.has(row)) row.remove();
  wanted.forEach((row, i) => { if (list.children[i] !== row) list.insertBefore(row, list.children[i] ?? null); });

  const hidden = jobs.length - shown.length;
  const more = shown.length - visible.length;
  const finishedShown = shown.filter(isFinished).length;
  $("#no-jobs").hidden = jobs.length > 0;
  $("#jobs-count").textContent = jobs.length ? `${visible.length} of ${shown.length} shown` : "";
  $("#show-more").hidden = more <= 0;
  $("#show-more").textContent = `Show ${Math.min(PAGE, more)} more (${more} not shown)`;
  $("#clear-finished").hidden = finishedShown === 0;
  $("#clear-finished").textContent = `Clear finished (${finishedShown})`;
  $("#cleared").hidden = hidden <= 0;
  $("#cleared-text").textContent =
    `${hidden} finished job${hidden === 1 ? "" : "s"} hidden in this browser (the hub keeps them).`;
}

/** Hide the jobs finished now, in this browser only (the hub keeps them); jobs still running stay. */
function clearFinished() {
  for (const job of allJobs()) if (isFinished(job)) view.cleared.add(job.jobId);
  writeJson(`${CLEARED_KEY}:${view.educator}`, [...view.cleared].slice(-MAX_CLEARED));
  view.limit = PAGE;
  renderAllJobs();
}

function showCleared() {
  view.cleared = new Set();
  local()?.removeItem(`${CLEARED_KEY}:${view.educator}`);
  renderAllJobs();
}

function cancelJob(jobId, button) {
  button.disabled = true;
  button.textContent = "Cancelling…";
  client.cancel(jobId);
  setTimeout(() => { // no cancelled status by then (the hub said no): let it be tried again
    button.disabled = false;
    button.textContent = "Cancel";
  }, 8000);
}

// -- the quiz ----------------------------------------------------------------------------------

function renderQuestion(question) {
  const options = Array.isArray(question.options)
    ? el("ul", { class: "options" }, question.options.map((option) =>
      el("li", { class: option === question.answer ? "option answer-option" : "option", text: option })))
    : null;
  return el("li", { class: "question", "data-question-id": question.id },
    el("p", { class: "prompt", text: question.prompt }),
    options,
    el("details", {},
      el("summary", { text: "Show answer" }),
      el("p", { class: "answer" }, "Answer: ", el("strong", { text: question.answer })),
      question.explanation ? el("p", { class: "explanation muted", text: question.explanation }) : null));
}

function renderQuiz(jobId, result) {
  shownQuiz.jobId = jobId;
  shownQuiz.quizId = result?.quizId ?? null;
  shownQuiz.result = result;
  const box = $("#quiz");
  box.dataset.jobId = jobId;
  box.dataset.quizId = result?.quizId ?? "";
  const questions = result?.questions ?? [];
  box.replaceChildren(
    el("p", { class: "quiz-meta muted" },
      `${questions.length} question${questions.length === 1 ? "" : "s"}`,
      result?.quizId ? ` · quiz ${result.quizId}` : ""),
    el("ol", { class: "questions" }, questions.map((q) => renderQuestion(q))));
  if (result?.quizId) together?.show(client, result.quizId, client.educatorId ?? view.educator); // who else is here
}

async function showResult(jobId) {
  const box = $("#quiz");
  box.setAttribute("aria-busy", "true");
  try {
    renderQuiz(jobId, await client.getResult(jobId));
  } catch (err) {
    toast("error", "Could not load the quiz", errorText(err));
  } finally {
    box.removeAttribute("aria-busy");
  }
}

function replaceQuestion(data) { // a question_replace job completed on the quiz on show
  if (!data.question || data.quizId !== shownQuiz.quizId || !shownQuiz.result) return;
  const questions = shownQuiz.result.questions.map((q) => (q.id === data.questionId ? data.question : q));
  renderQuiz(shownQuiz.jobId, { ...shownQuiz.result, questions });
}

// -- analytics ---------------------------------------------------------------------------------

function renderAnalytics() {
  const stats = $("#analytics .stats");
  const entries = Object.entries(figures);
  $("#analytics .empty").hidden = entries.length > 0;
  for (const [key, value] of entries) {
    let item = stats.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (!item) {
      const label = /.Seconds$/.test(key) ? `${humanize(key.slice(0, -7))} time` : humanize(key);
      item = el("div", { class: "stat", "data-key": key }, el("dt", { text: label }), el("dd"));
      stats.append(item);
    }
    const text = formatValue(key, value);
    const dd = item.querySelector("dd");
    if (dd.textContent !== text) {
      dd.textContent = text;
      item.classList.remove("changed");
      void item.offsetWidth; // restart the highlight animation
      item.classList.add("changed");
    }
  }
}

/** The figures now (GET /api/analytics), so the panel is full from the start, not after the next job. */
async function loadAnalytics() {
  try {
    figures = { ...figures, ...((await client.request("GET", "/api/analytics")) ?? {}) };
    renderAnalytics();
  } catch (err) {
    if (!(err instanceof HubHttpError && err.status === 403)) console.warn("hub: could not read analytics", err);
  }
}

// -- stream events -----------------------------------------------------------------------------

function onJobMessage(env) {
  const data = env.data ?? {};
  const job = client.jobs.get(data.jobId);
  keepItem(data);
  renderJob();
  if (!TERMINAL.includes(data.status)) return;
  const title = KIND_LABELS[job?.kind] ?? "Job";
  if (data.status === "completed") {
    if (env.type === "quiz_status" && job?.kind === "quiz_generation") {
      toast("success", "Quiz ready", data.message || "The quiz is below.");
      showResult(data.jobId);
    } else if (env.type === "question_replace") {
      toast("success", "Question replaced", data.message);
      replaceQuestion(data);
    } else {
      toast("success", `${title} completed`, data.message);
    }
  } else if (data.status === "failed") {
    toast("error", `${title} failed`, data.error || data.message);
  } else {
    toast("info", `${title} cancelled`, data.message);
  }
}

function connect(token) {
  const params = new URLSearchParams(location.search);
  client = new HubClient({
    url: window.NEXT_PUBLIC_WS_URL || location.origin,
    token,
    enabled: params.get("transport") === "poll" ? false : undefined,
    // reconnection tuning from the address, e.g. ?baseDelay=200&maxAttempts=3&upgradeDelay=500&upgradeRetry=5000
    ...Object.fromEntries(["baseDelay", "maxAttempts", "upgradeDelay", "upgradeRetry"]
      .filter((k) => params.has(k)).map((k) => [k, Number(params.get(k))])),
  });
  window.hub = client; // for the console and end-to-end tests
  client.on("state", (event) => showState(event.state));
  client.on("welcome", (frame) => {
    if (frame.educatorId) $("#educator").textContent = frame.educatorId;
  });
  client.on("snapshot", () => { renderAllJobs(); loadAnalytics(); }); // a new stream: figures may have moved
  // (custom job kinds report quiz_status messages carrying their `kind`)
  for (const type of ["quiz_status", "question_replace", "document_processing"]) client.on(type, onJobMessage);
  client.on("analytics_update", (env) => {
    figures = { ...figures, ...(env.data?.updates ?? {}) }; // newer than what was read or sent before
    renderAnalytics();
  });
  client.on("notification", (env) => {
    const d = env.data ?? {};
    toast(["info", "success", "warning", "error"].includes(d.level) ? d.level : "info", d.title || "Notification", d.body);
  });
  client.on("error", (event) => {
    if (event.fatal) return signedOut(`The hub refused this connection (${event.code}): ${event.message}`);
    toast("warning", "The hub reported a problem", event.message);
  });
  view.educator = tokenSubject(token);
  const cleared = readJson(`${CLEARED_KEY}:${view.educator}`, []);
  view.cleared = new Set(Array.isArray(cleared) ? cleared : []);
  view.limit = PAGE;
  showState(client.state);
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#sign-out").hidden = false;
  client.start().then(loadHistory, () => {});
  loadAnalytics();
}

async function loadHistory() { // finished jobs the live snapshot may not carry
  try {
    const reply = await client.listJobs(); // a list, or a page of one
    const jobs = Array.isArray(reply) ? reply : reply?.jobs ?? reply?.items ?? [];
    for (const job of jobs) if (!client.jobs.has(job.jobId)) pastJobs.set(job.jobId, job);
    renderAllJobs();
  } catch (err) {
    if (!(err instanceof HubHttpError && err.status === 403)) console.warn("hub: could not list jobs", err);
  }
}

function signedOut(message = "") {
  together?.hide();
  client?.close();
  client = null;
  storage()?.removeItem(TOKEN_KEY);
  pastJobs.clear();
  $("#jobs").replaceChildren();
  $("#analytics .stats").replaceChildren();
  figures = {};
  $("#analytics .empty").hidden = false;
  $("#quiz").replaceChildren(el("p", { class: "muted", text: "A quiz appears here when its job completes." }));
  Object.assign(shownQuiz, { jobId: null, quizId: null, result: null });
  $("#app").hidden = true;
  $("#sign-out").hidden = true;
  $("#educator").textContent = "";
  $("#signin").hidden = false;
  const error = $("#signin-error");
  error.hidden = !message;
  error.textContent = message;
  showState(message ? "closed" : "idle");
  $("#token").focus();
}

// -- forms -------------------------------------------------------------------------------------

async function submitQuiz(event) {
  event.preventDefault();
  const text = $("#quiz-text").value.trim();
  const numQuestions = Number($("#num-questions").value);
  const error = $("#form-error");
  error.hidden = true;
  if (!text) {
    error.textContent = "Paste some text to make questions from.";
    error.hidden = false;
    return;
  }
  const button = $("#start-quiz");
  button.disabled = true;
  button.textContent = "Starting…";
  try {
    const { jobId } = await client.submitJob("quiz_generation", { text, numQuestions });
    rememberTitle([jobId], text);
    if (!jobState(jobId)) {
      pastJobs.set(jobId, { jobId, kind: "quiz_generation", status: "queued", progress: 0,
        message: "Queued", createdAt: Date.now() / 1000 });
    }
    renderJob();
    loadAnalytics(); // jobsToday counts it now
  } catch (err) {
    error.textContent = errorText(err);
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = "Generate quiz";
  }
}

function init() {
  together = new TogetherPanel($("#together"));
  $("#quiz-form").addEventListener("submit", submitQuiz);
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (!token) return;
    storage()?.setItem(TOKEN_KEY, token);
    $("#token").value = "";
    connect(token);
  });
  $("#sign-out").addEventListener("click", () => signedOut());
  $("#show-more").addEventListener("click", () => { view.limit += PAGE; renderAllJobs(); });
  $("#clear-finished").addEventListener("click", clearFinished);
  $("#show-cleared").addEventListener("click", showCleared);

  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) { // keep it for this tab, out of the address bar and the history
    storage()?.setItem(TOKEN_KEY, fromUrl);
    params.delete("token");
    const query = params.toString();
    window.history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
  }
  const token = fromUrl || storage()?.getItem(TOKEN_KEY);
  if (token) connect(token);
  else signedOut();
}

init();
