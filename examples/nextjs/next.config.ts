import type { NextConfig } from 'next'

// SESSIOND_URL is where the Next server reaches sessiond (never the browser).
// Rewrites are resolved when the app is built, so build and start with the
// same value.
const sessiond = process.env.SESSIOND_URL ?? 'http://127.0.0.1:8080'

const config: NextConfig = {
  // The browser sees one origin: its calls to /api/auth/* (login, logout,
  // the session, devices, the live stream) go through this server to
  // sessiond, and the sid cookie is set for this site.
  async rewrites() {
    return [{ source: '/api/auth/:path*', destination: `${sessiond}/api/auth/:path*` }]
  },
  experimental: {
    // The session stream is a long-lived response: without this, Next cuts
    // proxied responses after 30 s (the client would reconnect, but needlessly).
    proxyTimeout: 10 * 60 * 1000,
  },
}

export default config
