// GET /api/hub-token -> {"token": "..."}: a short-lived educator token for the hub, signed here, on the
// server, with the hub's secret (HUB_SECRET), so that the secret never reaches the browser.
// hub-client's WebSocketService fetches this route (NEXT_PUBLIC_HUB_TOKEN_URL, default /api/hub-token)
// when it connects and again before the token expires; the page uses it for POST /api/jobs too.
//
// Claims (the hub's PROTOCOL.md section 1): sub = the educator id, role = "educator", iat, exp; HS256.
import { SignJWT } from "jose";

export const dynamic = "force-dynamic"; // a fresh token on every request, never a cached one

const DEFAULT_TTL_SECONDS = 15 * 60;

/** The signed-in educator. A real app takes it from its session (NextAuth, a cookie, ...); this
 * example has no sign-in, so it is HUB_EDUCATOR_ID (default "demo-educator") for every visitor. */
function currentEducatorId() {
  return process.env.HUB_EDUCATOR_ID || "demo-educator";
}

function ttlSeconds() {
  const ttl = Number(process.env.HUB_TOKEN_TTL || DEFAULT_TTL_SECONDS);
  return Number.isFinite(ttl) && ttl > 0 ? Math.floor(ttl) : DEFAULT_TTL_SECONDS;
}

export async function GET() {
  const secret = process.env.HUB_SECRET;
  if (!secret) {
    return Response.json(
      { detail: "This app cannot sign hub tokens: set HUB_SECRET (the hub's secret) where `next start` runs." },
      { status: 500, headers: { "Cache-Control": "no-store" } },
    );
  }
  const token = await new SignJWT({ role: "educator" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(currentEducatorId())
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds()}s`)
    .sign(new TextEncoder().encode(secret));
  return Response.json({ token }, { headers: { "Cache-Control": "no-store" } });
}
