// Server-side validation: one GET /api/auth/session-v2 to sessiond, carrying
// the browser's session cookie, user agent and address. Identity comes only
// from sessiond's answer, never from a header of the request.

import {
  SessionUnavailableError,
  errorFromResponse,
  isSessionUnknown,
  paths,
  toSession,
  type Session,
} from '@sessiond/client'

/** ServerOptions configure every server-side helper; every field is optional. */
export interface ServerOptions {
  /** Where sessiond listens, e.g. "http://127.0.0.1:8080". Default: process.env.SESSIOND_URL (required one way or the other). */
  sessiondUrl?: string
  /** How long to wait for sessiond, in ms. Default 3000; past it the session is unknown (SessionUnavailableError). */
  timeoutMs?: number
  /** The session cookie's name. Default: process.env.SESSIOND_COOKIE_NAME or "sid". */
  cookieName?: string
  /** The fetch to use. Default: the global fetch (Node's keeps connections alive). */
  fetch?: typeof fetch
}

/** ForwardedRequest is what sessiond is told about the browser's request. */
export interface ForwardedRequest {
  /** The browser's Cookie header (only the session cookie is forwarded). */
  cookie: string | null
  /** The browser's User-Agent (sessiond's anomaly policy compares it with the login's). */
  userAgent: string | null
  /** The client address chain, as X-Forwarded-For. */
  forwardedFor: string | null
}

/** resolveUrl returns sessiond's base URL from the options or SESSIOND_URL. */
export function resolveUrl(options: ServerOptions): string {
  const url = options.sessiondUrl ?? env('SESSIOND_URL')
  if (!url) throw new Error('@sessiond/next: set SESSIOND_URL (or the sessiondUrl option) to the address of sessiond')
  return url.replace(/\/+$/, '')
}

/** cookieNameOf returns the session cookie's name. */
export function cookieNameOf(options: ServerOptions): string {
  return options.cookieName ?? env('SESSIOND_COOKIE_NAME') ?? 'sid'
}

/**
 * validateSession asks sessiond for the session of a browser request: the
 * Session, null when there is none (401 or no session cookie), or a thrown
 * SessionUnavailableError when sessiond cannot tell (network error, timeout,
 * 5xx): an outage is never "signed out".
 */
export async function validateSession(req: ForwardedRequest, options: ServerOptions = {}): Promise<Session | null> {
  const base = resolveUrl(options)
  const cookie = sessionCookies(req.cookie, cookieNameOf(options))
  if (cookie === '') return null
  const timeoutMs = options.timeoutMs ?? 3000
  let res: Response
  try {
    res = await callSessiond(base, 'GET', paths.session, { ...req, cookie }, timeoutMs, options)
  } catch (cause) {
    throw unavailable(`sessiond at ${base} did not answer within ${timeoutMs} ms`, cause)
  }
  if (res.status === 200) {
    try {
      return toSession(await res.json())
    } catch (cause) {
      throw unavailable(`sessiond at ${base} sent a session that is not JSON`, cause)
    }
  }
  const err = await errorFromResponse(res)
  if (res.status === 401) return null
  if (err instanceof SessionUnavailableError) throw err
  if (isSessionUnknown(err)) throw unavailable(err.message, err, res)
  throw err
}

/**
 * callSessiond sends one request to sessiond (at base, see resolveUrl) on
 * behalf of a browser: its Cookie header, user agent and address chain
 * forwarded, no redirect followed, nothing cached, and no longer than
 * timeoutMs. It throws what fetch throws (a network error, the timeout).
 */
export function callSessiond(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  req: ForwardedRequest,
  timeoutMs: number,
  options: ServerOptions,
): Promise<Response> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    Cookie: req.cookie ?? '',
    // Always set: without it the runtime sends its own ("node"), which the
    // anomaly policy would take for another browser.
    'User-Agent': req.userAgent ?? '',
  }
  if (method === 'POST') headers['Content-Type'] = 'application/json'
  if (req.forwardedFor) headers['X-Forwarded-For'] = req.forwardedFor
  const doFetch = options.fetch ?? globalThis.fetch
  return doFetch(base + path, {
    method,
    headers,
    redirect: 'manual',
    cache: 'no-store',
    signal: AbortSignal.timeout(timeoutMs),
  })
}

/** sessionCookies keeps only the session cookie(s) of a Cookie header. */
export function sessionCookies(header: string | null, name: string): string {
  if (!header) return ''
  const out: string[] = []
  for (const part of header.split(';')) {
    const p = part.trim()
    const eq = p.indexOf('=')
    if (eq > 0 && p.slice(0, eq).trim() === name) out.push(p)
  }
  return out.join('; ')
}

/** cookieNames returns the names of the cookies of a Cookie header. */
export function cookieNames(header: string | null): Set<string> {
  const names = new Set<string>()
  if (!header) return names
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    const n = (eq < 0 ? part : part.slice(0, eq)).trim()
    if (n) names.add(n)
  }
  return names
}

export function unavailable(message: string, cause: unknown, response?: Response): SessionUnavailableError {
  const init: ConstructorParameters<typeof SessionUnavailableError>[1] = { status: 503, code: 'unavailable', cause }
  if (response) init.response = response
  return new SessionUnavailableError(`${message}: the session is unknown, not ended`, init)
}

function env(name: string): string | undefined {
  const v = typeof process === 'undefined' ? undefined : process.env[name]
  return v === '' ? undefined : v
}
