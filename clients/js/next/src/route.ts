// withServerSession for App Router route handlers and Pages Router API
// routes, and getServerSession for Server Components and Server Actions.

import type { NextApiRequest, NextApiResponse } from 'next'
import { cookies, headers } from 'next/headers.js'
import { NextRequest } from 'next/server.js'
import { SessionUnavailableError, type Session } from '@sessiond/client'
import { cookieNameOf, validateSession, type ServerOptions } from './validate.js'

/** SessionRouteOptions configure withServerSession. */
export interface SessionRouteOptions extends ServerOptions {
  /**
   * clientAddress returns the browser's address chain to send sessiond as
   * X-Forwarded-For. Default: the request's X-Forwarded-For (Next sets it
   * to the peer's address when absent), with the peer's address appended
   * where it is known (Pages Router).
   */
  clientAddress?: (req: Request | NextApiRequest) => string | null
}

/** SessionRequest is the App Router request with the session: the Session, or null when signed out. */
export type SessionRequest = NextRequest & { session: Session | null }

/** SessionApiRequest is the Pages Router request with the session. */
export type SessionApiRequest = NextApiRequest & { session: Session | null }

/** AppRouteHandler is an App Router route handler that reads req.session. */
export type AppRouteHandler<Ctx = unknown> = (req: SessionRequest, ctx: Ctx) => Response | Promise<Response>

/** PagesApiHandler is a Pages Router API route that reads req.session. */
export type PagesApiHandler = (req: SessionApiRequest, res: NextApiResponse) => unknown

/**
 * withServerSession validates the request's session with sessiond and puts
 * it on `req.session` (the Session, or null) before calling handler. An
 * outage of sessiond answers 503 `unavailable` with Retry-After and never
 * calls handler with a null session.
 *
 *   export const GET = withServerSession(async (req) => {
 *     if (!req.session) return Response.json({ error: 'Unauthorized' }, { status: 401 })
 *     return Response.json({ tenantId: req.session.user.tenantId })
 *   })
 *
 * For Pages Router API routes annotate the parameters:
 * `withServerSession(async (req: SessionApiRequest, res: NextApiResponse) => …)`.
 */
export function withServerSession<Ctx = unknown>(
  handler: AppRouteHandler<Ctx>,
  options?: SessionRouteOptions,
): (req: Request, ctx: Ctx) => Promise<Response>
export function withServerSession(
  handler: PagesApiHandler,
  options?: SessionRouteOptions,
): (req: NextApiRequest, res: NextApiResponse) => Promise<void>
export function withServerSession(
  handler: AppRouteHandler<unknown> | PagesApiHandler,
  options: SessionRouteOptions = {},
): (req: never, second: never) => Promise<unknown> {
  return async (req: Request | NextApiRequest, second: unknown): Promise<unknown> => {
    if (isApiResponse(second)) {
      const apiReq = req as SessionApiRequest
      let session: Session | null
      try {
        session = await validateSession(
          {
            cookie: headerOf(apiReq.headers.cookie),
            userAgent: headerOf(apiReq.headers['user-agent']),
            forwardedFor: options.clientAddress ? options.clientAddress(apiReq) : pagesAddress(apiReq),
          },
          options,
        )
      } catch (err) {
        if (!(err instanceof SessionUnavailableError)) throw err
        second.setHeader('Retry-After', String(err.retryAfter ?? 1))
        second.status(503).json({ error: 'unavailable', message: 'the session service is unavailable; try again' })
        return
      }
      apiReq.session = session
      await (handler as PagesApiHandler)(apiReq, second)
      return
    }
    const request = req instanceof NextRequest ? req : new NextRequest(req as Request)
    let session: Session | null
    try {
      session = await validateSession(
        {
          cookie: request.headers.get('cookie'),
          userAgent: request.headers.get('user-agent'),
          forwardedFor: options.clientAddress ? options.clientAddress(request) : request.headers.get('x-forwarded-for'),
        },
        options,
      )
    } catch (err) {
      if (!(err instanceof SessionUnavailableError)) throw err
      return unavailableResponse(err)
    }
    const sessionRequest = request as SessionRequest
    sessionRequest.session = session
    return (handler as AppRouteHandler<unknown>)(sessionRequest, second)
  }
}

/**
 * getServerSession returns the session of the current request in Server
 * Components, Server Actions and route handlers (through next/headers), or
 * null when signed out. A sessiond outage throws SessionUnavailableError.
 */
export async function getServerSession(options: ServerOptions = {}): Promise<Session | null> {
  const [c, h] = await Promise.all([cookies(), headers()])
  const name = cookieNameOf(options)
  const cookie = c
    .getAll()
    .filter((x) => x.name === name)
    .map((x) => `${x.name}=${x.value}`)
    .join('; ')
  return validateSession(
    { cookie: cookie || null, userAgent: h.get('user-agent'), forwardedFor: h.get('x-forwarded-for') },
    options,
  )
}

/** unavailableResponse is the 503 a route answers while sessiond cannot tell who is signed in. */
export function unavailableResponse(err: SessionUnavailableError): Response {
  return Response.json(
    { error: 'unavailable', message: 'the session service is unavailable; try again' },
    { status: 503, headers: { 'Retry-After': String(err.retryAfter ?? 1), 'Cache-Control': 'no-store' } },
  )
}

function isApiResponse(v: unknown): v is NextApiResponse {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as NextApiResponse).setHeader === 'function' &&
    typeof (v as NextApiResponse).status === 'function'
  )
}

function headerOf(v: string | string[] | undefined): string | null {
  if (v === undefined) return null
  return Array.isArray(v) ? v.join(', ') : v
}

// pagesAddress is the request's X-Forwarded-For with the peer's address
// appended: sessiond takes the right-most address that is not a trusted
// proxy, so a client's own X-Forwarded-For cannot pass for its address.
function pagesAddress(req: NextApiRequest): string | null {
  const chain = headerOf(req.headers['x-forwarded-for'])
  const peer = req.socket?.remoteAddress ?? null
  if (!peer) return chain
  const last = chain?.split(',').pop()?.trim()
  if (last === peer) return chain
  return chain ? `${chain}, ${peer}` : peer
}
