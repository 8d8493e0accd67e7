import QuizGenerator from "./quiz-generator";

// Rendered per request, so that the hub URL below is read when the page is served.
export const dynamic = "force-dynamic";

/** The hub's URL as `next start` sees it now. `next build` inlines NEXT_PUBLIC_WS_URL into the browser
 * code, which is all a page needs when the hub's address is known at build time (the seed app's case);
 * read here, on the server, it also lets one build be pointed at another hub when it starts.
 * (Looked up by a computed name: a literal `process.env.NEXT_PUBLIC_...` would be inlined here too.) */
function hubUrlAtRuntime() {
  const name = ["NEXT", "PUBLIC", "WS", "URL"].join("_");
  return process.env[name] || null;
}

export default function Page() {
  return <QuizGenerator hubUrl={hubUrlAtRuntime()} />;
}
