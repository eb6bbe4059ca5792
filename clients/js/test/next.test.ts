// @sessiond/next on the server against a real sessiond: App Router route
// handlers (a real Request), Pages Router API routes (Next's own API
// resolver on a real HTTP server), getServerSession (inside Next's request
// scope), what sessiond is told about the browser, and outages.
// Next's server sets up AsyncLocalStorage before it loads any route; so
// does this import, before @sessiond/next loads next/headers.
import 'next/dist/server/node-environment-baseline.js'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net'
import { createRequire } from 'node:module'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createSessionManager, SessionUnavailableError, type Session } from '@sessiond/client'
import { getServerSession, withServerSession, type SessionApiRequest } from '@sessiond/next'
import type { NextApiResponse } from 'next'
import { Jar, browserFetch, demo, freePort, startSessiond, stopAll, type Sessiond } from './harness.js'

const require = createRequire(import.meta.url)
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0'
const browserAddr = '203.0.113.7'

let sd: Sessiond
let cookie: string
let login: Session
const closers: Array<() => Promise<void>> = []

beforeAll(async () => {
  // The tests stand where the Next server stands, on 127.0.0.1: sessiond
  // believes their X-Forwarded-For only because of --trusted-proxies.
  sd = await startSessiond(['--trusted-proxies', '127.0.0.1/32'])
  const jar = new Jar()
  const m = createSessionManager({ baseUrl: sd.url, fetch: withAddress(browserFetch(jar, UA).fetch, browserAddr), broadcast: false })
  login = await m.createSession(demo.email, demo.password)
  cookie = `sid=${jar.cookies.get('sid')}`
  process.env.SESSIOND_URL = sd.url
})
afterAll(async () => {
  for (const c of closers.splice(0)) await c()
  await stopAll()
})

function withAddress(f: typeof fetch, addr: string): typeof fetch {
  return (input, init = {}) => {
    const headers = new Headers(init.headers)
    headers.set('X-Forwarded-For', addr)
    return f(input, { ...init, headers })
  }
}

// The route handler, as written.
export const GET = withServerSession(async (req) => {
  if (!req.session) return Response.json({ error: 'Unauthorized' }, { status: 401 })
  return Response.json({ tenantId: req.session.user.tenantId })
})

function browserRequest(headers: Record<string, string>): Request {
  return new Request('http://app.example/api/tenant', {
    headers: { 'user-agent': UA, 'x-forwarded-for': browserAddr, ...headers },
  })
}

async function currentFlags(): Promise<string[]> {
  const res = await fetch(`${sd.url}/api/auth/session-v2`, { headers: { cookie, 'user-agent': UA, 'x-forwarded-for': browserAddr } })
  return ((await res.json()) as { session: { flags: string[] } }).session.flags
}

describe('withServerSession, App Router', () => {
  test('the issue snippet: 200 with the tenant for a session, 401 without', async () => {
    const ok = await GET(browserRequest({ cookie: `theme=dark; ${cookie}` }), undefined)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ tenantId: 'demo' })
    const none = await GET(browserRequest({}), undefined)
    expect(none.status).toBe(401)
    expect(await none.json()).toEqual({ error: 'Unauthorized' })
    const junk = await GET(browserRequest({ cookie: 'sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }), undefined)
    expect(junk.status).toBe(401)
  })

  test("sessiond is told the browser's agent and address: no anomaly is flagged", async () => {
    const seen = await GET(browserRequest({ cookie }), undefined)
    expect(seen.status).toBe(200)
    expect(await currentFlags()).toEqual([])
  })

  test('identity headers of the request are never believed', async () => {
    let session: unknown = 'not called'
    const handler = withServerSession(async (req) => {
      session = req.session
      return new Response(null, { status: 204 })
    })
    await handler(browserRequest({ 'x-user-id': login.user.id, 'x-user-email': demo.email, 'x-tenant-id': 'demo' }), {})
    expect(session).toBeNull()
  })

  test('the handler gets a NextRequest and its context', async () => {
    const handler = withServerSession(async (req, ctx: { params: Promise<{ id: string }> }) =>
      Response.json({ path: req.nextUrl.pathname, id: (await ctx.params).id, email: req.session?.user.email }),
    )
    const res = await handler(browserRequest({ cookie }), { params: Promise.resolve({ id: '42' }) })
    expect(await res.json()).toEqual({ path: '/api/tenant', id: '42', email: demo.email })
  })

  test('sessiond stopped: 503 with Retry-After, and the handler is not called with a null session', async () => {
    const own = await startSessiond()
    let called = false
    const handler = withServerSession(
      async () => {
        called = true
        return new Response('handler')
      },
      { sessiondUrl: own.url },
    )
    await own.stop()
    const res = await handler(browserRequest({ cookie }), undefined)
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(await res.json()).toMatchObject({ error: 'unavailable' })
    expect(called).toBe(false)
  })

  test('sessiond hanging: the bounded timeout gives 503 too', async () => {
    const sockets: Array<{ destroy: () => void }> = []
    const hang: TcpServer = createTcpServer((socket) => void sockets.push(socket))
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r))
    closers.push(
      () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy()
          hang.close(() => r())
        }),
    )
    const port = (hang.address() as { port: number }).port
    const handler = withServerSession(async () => new Response('handler'), { sessiondUrl: `http://127.0.0.1:${port}`, timeoutMs: 200 })
    const started = Date.now()
    const res = await handler(browserRequest({ cookie }), undefined)
    expect(res.status).toBe(503)
    expect(Date.now() - started).toBeLessThan(3000)
  })
})

describe('withServerSession, Pages Router', () => {
  // A Pages Router API route, served by Next's own API resolver (which adds
  // res.status and res.json) on a real HTTP server.
  const route = withServerSession(async (req: SessionApiRequest, res: NextApiResponse) => {
    if (!req.session) return res.status(401).json({ error: 'Unauthorized' })
    res.json({ tenantId: req.session.user.tenantId })
  })

  async function serve(handler: typeof route): Promise<string> {
    const { apiResolver } = require('next/dist/server/api-utils/node/api-resolver.js') as {
      apiResolver: (req: IncomingMessage, res: ServerResponse, query: object, mod: object, ctx: object, propagateError: boolean) => Promise<void>
    }
    const srv: Server = createServer((req, res) => {
      void apiResolver(req, res, {}, { default: handler }, { previewModeId: 'x', previewModeEncryptionKey: 'x', previewModeSigningKey: 'x' }, false)
    })
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    closers.push(
      () =>
        new Promise((r) => {
          srv.close(() => r())
          srv.closeAllConnections()
        }),
    )
    return `http://127.0.0.1:${(srv.address() as { port: number }).port}/api/tenant`
  }

  test('200 with the tenant for a session, 401 without; the peer address is appended', async () => {
    const url = await serve(route)
    const ok = await fetch(url, { headers: { cookie, 'user-agent': UA, 'x-forwarded-for': browserAddr } })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ tenantId: 'demo' })
    const none = await fetch(url, { headers: { 'user-agent': UA } })
    expect(none.status).toBe(401)
    expect(await none.json()).toEqual({ error: 'Unauthorized' })
  })

  test('sessiond stopped: 503, never a 401', async () => {
    const own = await startSessiond()
    const stopped = withServerSession(
      async (req: SessionApiRequest, res: NextApiResponse) => {
        res.status(req.session ? 200 : 401).json({})
      },
      { sessiondUrl: own.url },
    )
    const url = await serve(stopped)
    await own.stop()
    const res = await fetch(url, { headers: { cookie, 'user-agent': UA } })
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
  })
})

describe('getServerSession', () => {
  // next/headers reads the request from Next's request scope; the test
  // opens that scope as Next does for a route handler: a work store (here
  // only the fields cookies() and headers() read) and a request store made
  // by Next's createRequestStoreForAPI.
  async function inRequestScope<T>(headers: Record<string, string>, fn: () => Promise<T>): Promise<T> {
    type Storage = { run: <R>(store: unknown, fn: () => R) => R }
    const { workUnitAsyncStorage } = require('next/dist/server/app-render/work-unit-async-storage.external.js') as {
      workUnitAsyncStorage: Storage
    }
    const { workAsyncStorage } = require('next/dist/server/app-render/work-async-storage.external.js') as { workAsyncStorage: Storage }
    const { createRequestStoreForAPI } = require('next/dist/server/async-storage/request-store.js') as {
      createRequestStoreForAPI: (req: { headers: Record<string, string> }, url: { pathname: string; search: string }, ...rest: unknown[]) => unknown
    }
    const store = createRequestStoreForAPI({ headers }, { pathname: '/', search: '' }, undefined, undefined, undefined)
    const work = { route: '/api/test', forceStatic: false, dynamicShouldError: false, isStaticGeneration: false }
    return workAsyncStorage.run(work, () => workUnitAsyncStorage.run(store, fn))
  }

  test('the session of the request, null without one, and SessionUnavailableError in an outage', async () => {
    const s = await inRequestScope({ cookie: `a=b; ${cookie}`, 'user-agent': UA, 'x-forwarded-for': browserAddr }, () => getServerSession())
    expect(s?.user).toMatchObject({ email: demo.email, tenantId: 'demo', attributes: {} })
    expect(s?.session.id).toBe(login.session.id)
    expect(await inRequestScope({ 'user-agent': UA }, () => getServerSession())).toBeNull()
    const port = await freePort()
    const err = await inRequestScope({ cookie, 'user-agent': UA }, () => getServerSession({ sessiondUrl: `http://127.0.0.1:${port}` })).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(SessionUnavailableError)
    expect(err).toMatchObject({ status: 503, code: 'unavailable' })
  })
})
