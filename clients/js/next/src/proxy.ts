// sessionMiddleware for Next 16's proxy.ts (formerly middleware.ts): legacy
// cookie migration and path protection. It is a first gate only: every
// protected route must check the session where it runs as well
// (withServerSession, getServerSession), since a proxy can be bypassed
// (CVE-2025-29927).

import { NextResponse, type NextRequest } from 'next/server.js'
import { SessionUnavailableError, paths, type Session } from '@sessiond/client'
import { safeNextPath } from './redirect.js'
import {
  callSessiond,
  cookieNameOf,
  cookieNames,
  resolveUrl,
  validateSession,
  type ForwardedRequest,
  type ServerOptions,
} from './validate.js'

/** The legacy cookie names sessiond migrates by default (its --legacy-cookies default). */
export const defaultLegacyCookies = [
  'dott_auth_session',
  'session_token',
  'onboarding_status',
  'businessInfoCompleted',
  'onboardingStep',
] as const

/** SessionMiddlewareOptions configure sessionMiddleware; every field is optional. */
export interface SessionMiddlewareOptions extends ServerOptions {
  /** Paths that need a session: "/account" covers "/account" and "/account/…"; or a RegExp, or a function. */
  protect?: Array<string | RegExp> | ((pathname: string) => boolean)
  /** Where browsers without a session go, with the requested path in `next`. Default "/login". */
  loginUrl?: string
  /**
   * Names of the legacy cookies, as sessiond's --legacy-cookies: exact names
   * or patterns in its syntax (`dott_*`: `*` any run of characters, `?` one,
   * `[...]` a class, `\\` escapes). The session cookie is never one.
   * Default: defaultLegacyCookies.
   */
  legacyCookies?: readonly string[]
  /** Migrate legacy cookies (false: leave them alone). Default true. */
  migrate?: boolean
  /** The browser's address chain for sessiond; default the request's X-Forwarded-For. */
  clientAddress?: (req: NextRequest) => string | null
  /**
   * The answer to a protected path while sessiond cannot say who is signed
   * in (never a redirect to the login page). Default: a plain 503 with
   * Retry-After. Return your own "unavailable" page, or NextResponse.next()
   * to let the page render and show the outage itself (it must then check
   * the session where it runs, as it should anyway).
   */
  onUnavailable?: (req: NextRequest) => NextResponse | Promise<NextResponse>
}

/**
 * sessionMiddleware runs in proxy.ts. A request with legacy cookies and no
 * valid session is migrated server to server (POST /api/auth/migrate-session
 * with the request's cookies, address and user agent), and redirected to
 * the same URL (303 for GET and HEAD, 307 otherwise) with every Set-Cookie
 * of sessiond's answer. A request for a protected path without a session is
 * redirected to loginUrl with a safe relative `next`. A sessiond outage on a
 * protected path answers 503, never a redirect to the login page. Otherwise
 * it answers NextResponse.next().
 *
 *   export async function proxy(request: NextRequest) {
 *     return sessionMiddleware(request, { protect: ['/account'] })
 *   }
 */
export async function sessionMiddleware(request: NextRequest, options: SessionMiddlewareOptions = {}): Promise<NextResponse> {
  const pathname = request.nextUrl.pathname
  // The login page itself is never protected, whatever the list says
  // ("/" covers every path): protecting it would redirect in a loop.
  const loginPath = new URL(options.loginUrl ?? '/login', request.nextUrl).pathname
  const isProtected = pathname !== loginPath && matches(options.protect, pathname)
  const cookieHeader = request.headers.get('cookie')
  const names = cookieNames(cookieHeader)
  const isLegacy = legacyCookieMatcher(options.legacyCookies ?? defaultLegacyCookies, cookieNameOf(options))
  const legacy = [...names].some(isLegacy)
  const wantsMigration = legacy && options.migrate !== false
  if (!isProtected && !wantsMigration) return NextResponse.next()

  const forwarded: ForwardedRequest = {
    cookie: cookieHeader,
    userAgent: request.headers.get('user-agent'),
    forwardedFor: options.clientAddress ? options.clientAddress(request) : request.headers.get('x-forwarded-for'),
  }
  let session: Session | null = null
  let unknown = false
  if (names.has(cookieNameOf(options))) {
    try {
      session = await validateSession(forwarded, options)
    } catch (err) {
      if (!(err instanceof SessionUnavailableError)) throw err
      unknown = true
    }
  }

  if (wantsMigration && !session && !unknown) {
    const migrated = await migrate(request, forwarded, options)
    if (migrated === 'unknown') unknown = true
    else if (migrated) return migrated
  }
  if (!isProtected || session) return NextResponse.next()
  if (unknown) {
    if (options.onUnavailable) return options.onUnavailable(request)
    return new NextResponse('The session service is unavailable; try again.', {
      status: 503,
      headers: { 'Retry-After': '1', 'Cache-Control': 'no-store', 'Content-Type': 'text/plain; charset=utf-8' },
    })
  }
  const login = new URL(options.loginUrl ?? '/login', request.nextUrl)
  const next = safeNextPath(pathname + request.nextUrl.search, '')
  if (next !== '') login.searchParams.set('next', next)
  return NextResponse.redirect(login, 303)
}

// migrate asks sessiond to migrate the request's legacy cookies and, when
// its answer sets cookies (the new sid, the legacy ones expired), returns
// the redirect that carries them. Without cookies to set the request goes
// on with its cookies untouched: "unknown" when sessiond or the old backend
// could not answer (the user may well be signed in), null otherwise.
async function migrate(
  request: NextRequest,
  forwarded: ForwardedRequest,
  options: SessionMiddlewareOptions,
): Promise<NextResponse | 'unknown' | null> {
  const base = resolveUrl(options)
  let res: Response
  try {
    // sessiond waits up to 3 s for the old backend: wait a little longer.
    res = await callSessiond(base, 'POST', paths.migrate, forwarded, options.timeoutMs ?? 5000, options)
  } catch {
    return 'unknown'
  }
  await res.body?.cancel().catch(() => {})
  const setCookies = res.headers.getSetCookie()
  if (setCookies.length === 0) return res.status >= 500 ? 'unknown' : null
  const method = request.method.toUpperCase()
  const target = request.nextUrl.clone()
  const out = NextResponse.redirect(target, method === 'GET' || method === 'HEAD' ? 303 : 307)
  for (const c of setCookies) out.headers.append('Set-Cookie', c)
  out.headers.set('Cache-Control', 'no-store')
  return out
}

function matches(protect: SessionMiddlewareOptions['protect'], rawPath: string): boolean {
  if (!protect) return false
  let pathname = rawPath
  try {
    // Compare the decoded path, with runs of slashes collapsed, so that
    // "/%61ccount" or "//account" do not slip past "/account".
    pathname = decodeURIComponent(rawPath)
  } catch {
    return true
  }
  pathname = pathname.replace(/\/{2,}/g, '/')
  if (typeof protect === 'function') return protect(pathname)
  return protect.some((p) => {
    if (p instanceof RegExp) return p.test(pathname)
    const prefix = p.endsWith('/') ? p.slice(0, -1) : p
    return pathname === prefix || pathname.startsWith(prefix + '/') || prefix === ''
  })
}

/**
 * legacyCookieMatcher returns whether a cookie name is a legacy cookie: one
 * of names, or matched by one of them as a pattern in sessiond's syntax (Go's
 * path.Match: `*` any run of characters, `?` one character, `[...]` a class,
 * `[^...]` its complement, `\\` escapes the next character). The session
 * cookie (sessionCookie) is never a legacy cookie, as in sessiond. A
 * malformed pattern matches only itself (sessiond refuses it at start).
 */
export function legacyCookieMatcher(names: readonly string[], sessionCookie = 'sid'): (name: string) => boolean {
  const exact = new Set<string>()
  const patterns: RegExp[] = []
  for (const n of names) {
    const re = /[*?[\\]/.test(n) ? globToRegExp(n) : null
    if (re) patterns.push(re)
    else exact.add(n)
  }
  return (name) => name !== sessionCookie && (exact.has(name) || patterns.some((re) => re.test(name)))
}

// globToRegExp translates a path.Match pattern into an anchored RegExp, or
// returns null for a malformed one (an unclosed class, a trailing escape).
function globToRegExp(pattern: string): RegExp | null {
  const special = /[.*+?^${}()|[\]\\/-]/g
  let out = '^'
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else if (c === '\\') {
      if (++i >= pattern.length) return null
      out += pattern[i]!.replace(special, '\\$&')
    } else if (c === '[') {
      let j = i + 1
      let cls = '['
      if (pattern[j] === '^') {
        cls += '^'
        j++
      }
      let closed = false
      let members = 0
      for (; j < pattern.length; j++) {
        const d = pattern[j]!
        if (d === ']' && members > 0) {
          closed = true
          break
        }
        members++
        if (d === '\\') {
          if (++j >= pattern.length) return null
          cls += '\\' + pattern[j]!
        } else if (d === '-') cls += '-'
        else cls += d.replace(special, '\\$&')
      }
      if (!closed) return null
      out += cls + ']'
      i = j
    } else out += c.replace(special, '\\$&')
  }
  return new RegExp(out + '$')
}
