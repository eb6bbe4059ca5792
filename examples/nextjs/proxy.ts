import { sessionMiddleware } from '@sessiond/next'
import type { NextRequest } from 'next/server'

// proxy (Next 16's name for middleware) moves browsers that still carry the
// old cookies to one sid cookie on their first request, and sends visitors
// without a session from protected pages to the login page. The pages check
// the session themselves too (app/server-session.ts): a proxy is a first
// gate, not a wall (CVE-2025-29927).
export async function proxy(request: NextRequest) {
  return sessionMiddleware(request, {
    // "/account" covers /account/…; the dashboard is "/" alone (a plain "/"
    // would cover every path, /login included).
    protect: [/^\/$/, '/account', '/onboarding'],
    loginUrl: '/login',
  })
}

export const config = {
  // Pages only: /api/auth/* is sessiond's (rewritten), the rest is assets.
  matcher: ['/((?!api/|_next/static|_next/image|favicon.ico).*)'],
}
