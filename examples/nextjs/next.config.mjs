// The example's Next.js settings. Nothing here reaches the network at build time: no next/font/google
// (the page uses the system font stack), and the scripts set NEXT_TELEMETRY_DISABLED=1.
import { fileURLToPath } from "node:url";

/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // This folder is the project root (the repository around it is a Python project, not an npm workspace).
  turbopack: { root: fileURLToPath(new URL(".", import.meta.url)) },
};

export default nextConfig;
