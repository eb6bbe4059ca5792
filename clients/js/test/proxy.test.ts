// sessionMiddleware (Next 16's proxy.ts) against a real sessiond and a
// stand-in for the old backend that validates legacy cookies.
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { NextRequest, NextResponse } from 'next/server.js'
import { createSessionManager } from '@sessiond/client'
import { legacyCookieMatcher, safeNextPath, sessionMiddleware } from '@sessiond/next'
import { Jar, browserFetch, demo, startSessiond, stopAll, type Sessiond } from './harness.js'

const UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15'
const browserAddr = '198.51.100.23'

let sd: Sessiond
let legacy: Server
const legacyCalls: string[] = []

beforeAll(async () => {
  // The old backend: GET with the legacy cookies; session_token=good-N is a
  // valid legacy session of user legacy-N.
  legacy = createServer((req, res) => {
    legacyCalls.push(req.headers.cookie ?? '')
    if (/(?:^|;\s*)session_token=broken/.test(req.headers.cookie ?? '')) {
      res.writeHead(500).end('the old backend is failing')
      return
    }
    const m = /(?:^|;\s*)session_token=good-(\d+)/.exec(req.headers.cookie ?? '')
    if (!m) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"invalid"}')
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(
      JSON.stringify({
        user_id: `legacy-${m[1]}`,
        email: `legacy-${m[1]}@example.com`,
        tenant_id: 'acme',
        needs_onboarding: true,
        onboarding_step: 'business-info',
      }),
    )
  })
  await new Promise<void>((r) => legacy.listen(0, '127.0.0.1', r))
  const port = (legacy.address() as { port: number }).port
  sd = await startSessiond(['--legacy-validate-url', `http://127.0.0.1:${port}/validate`, '--trusted-proxies', '127.0.0.1/32'])
  process.env.SESSIOND_URL = sd.url
})
afterAll(async () => {
  await new Promise<void>((r) => {
    legacy.close(() => r())
    legacy.closeAllConnections()
  })
  await stopAll()
})

function request(url: string, cookie: string, method = 'GET'): NextRequest {
  return new NextRequest(url, { method, headers: { cookie, 'user-agent': UA, 'x-forwarded-for': browserAddr } })
}

function cookiesOf(res: Response): Map<string, string> {
  const jar = new Jar()
  jar.store(res.headers.getSetCookie())
  return jar.cookies
}

const passes = (res: Response) => res.headers.get('x-middleware-next') === '1'

describe('legacy cookie migration', () => {
  test('legacy cookies and no sid: one migration, a 303 to the same URL with sid and the legacy cookies expired', async () => {
    const before = legacyCalls.length
    const res = await sessionMiddleware(request('http://app.example/dashboard?tab=2', 'session_token=good-1; onboardingStep=2; theme=dark'))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('http://app.example/dashboard?tab=2')
    const set = res.headers.getSetCookie()
    expect(set.some((c) => /^sid=[A-Za-z0-9_-]{36};/.test(c)), set.join('\n')).toBe(true)
    expect(set.some((c) => /^session_token=;.*Max-Age=0/i.test(c)), set.join('\n')).toBe(true)
    expect(set.some((c) => /^onboardingStep=;.*Max-Age=0/i.test(c)), set.join('\n')).toBe(true)
    expect(legacyCalls.length - before).toBe(1)

    // The browser follows the redirect with only sid: the request goes on.
    const sid = cookiesOf(res).get('sid')!
    const after = await sessionMiddleware(request('http://app.example/dashboard?tab=2', `sid=${sid}; theme=dark`))
    expect(passes(after)).toBe(true)

    // The session is the legacy user's, made with the browser's address and agent.
    const jar = new Jar()
    jar.cookies.set('sid', sid)
    const mine = createSessionManager({ baseUrl: sd.url, fetch: withAddr(browserFetch(jar, UA).fetch), broadcast: false })
    const s = await mine.getSession()
    expect(s?.user).toMatchObject({ id: 'legacy-1', tenantId: 'acme', needsOnboarding: true, onboardingStep: 'business-info' })
    expect(s?.session.ipAddress).toBe(browserAddr)
    expect(s?.session.userAgent).toBe(UA)
    expect(s?.session.flags).toEqual([])
    mine.close()
  })

  test('a POST is redirected with 307, so that the browser sends its body again', async () => {
    const res = await sessionMiddleware(request('http://app.example/api/form', 'session_token=good-2', 'POST'))
    expect(res.status).toBe(307)
    expect(cookiesOf(res).get('sid')).toMatch(/^[A-Za-z0-9_-]{36}$/)
  })

  test('a valid sid with legacy cookies left over: no migration', async () => {
    const jar = new Jar()
    const m = createSessionManager({ baseUrl: sd.url, fetch: browserFetch(jar, UA).fetch, broadcast: false })
    await m.createSession(demo.email, demo.password)
    const before = legacyCalls.length
    const res = await sessionMiddleware(request('http://app.example/', `sid=${jar.cookies.get('sid')}; session_token=good-3`))
    expect(passes(res)).toBe(true)
    expect(legacyCalls.length).toBe(before)
    m.close()
  })

  test('an invalid legacy session mints no sid; its cookies are expired with a redirect back', async () => {
    const res = await sessionMiddleware(request('http://app.example/', 'session_token=forged'))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('http://app.example/')
    const set = res.headers.getSetCookie()
    expect(set.some((c) => c.startsWith('sid=')), set.join('\n')).toBe(false)
    expect(set.some((c) => /^session_token=;.*Max-Age=0/i.test(c)), set.join('\n')).toBe(true)
  })

  test('sessiond down: the request goes on with its legacy cookies untouched', async () => {
    const own = await startSessiond()
    await own.stop()
    const res = await sessionMiddleware(request('http://app.example/', 'session_token=good-4'), { sessiondUrl: own.url })
    expect(passes(res)).toBe(true)
    expect(res.headers.getSetCookie()).toEqual([])
  })
})

describe('the old backend failing', () => {
  test('the request goes on with its legacy cookies; a protected path answers 503, not the login page', async () => {
    const open = await sessionMiddleware(request('http://app.example/', 'session_token=broken'))
    expect(passes(open)).toBe(true)
    expect(open.headers.getSetCookie()).toEqual([])
    const guarded = await sessionMiddleware(request('http://app.example/account', 'session_token=broken'), { protect: ['/account'] })
    expect(guarded.status).toBe(503)
    expect(guarded.headers.get('location')).toBeNull()
  })
})

describe('protected paths', () => {
  const options = { protect: ['/account', /^\/admin(\/|$)/], loginUrl: '/login' }

  test('no session: 303 to the login page with a relative next', async () => {
    const res = await sessionMiddleware(request('http://app.example/account/settings?tab=1', 'theme=dark'), options)
    expect(res.status).toBe(303)
    const loc = new URL(res.headers.get('location')!)
    expect(loc.pathname).toBe('/login')
    expect(loc.searchParams.get('next')).toBe('/account/settings?tab=1')
    const admin = await sessionMiddleware(request('http://app.example/admin', ''), options)
    expect(new URL(admin.headers.get('location')!).searchParams.get('next')).toBe('/admin')
  })

  test('paths outside the list, and look-alikes of it, are not protected', async () => {
    for (const path of ['/', '/accounts', '/account-help', '/administrator']) {
      expect(passes(await sessionMiddleware(request(`http://app.example${path}`, ''), options)), path).toBe(true)
    }
  })

  test('encoded and doubled slashes do not slip past, and never become an open redirect', async () => {
    for (const path of ['/%61ccount', '//account', '/account/%0d%0aSet-Cookie:%20x=1', '/ACCOUNT/../account']) {
      const res = await sessionMiddleware(request(`http://app.example${path}`, ''), options)
      expect(res.status, path).toBe(303)
      const loc = new URL(res.headers.get('location')!)
      expect(loc.origin).toBe('http://app.example')
      expect(loc.pathname).toBe('/login')
      const next = loc.searchParams.get('next')
      if (next !== null) expect(safeNextPath(next, 'UNSAFE'), `${path} -> ${next}`).toBe(next)
    }
  })

  test('a valid session passes', async () => {
    const jar = new Jar()
    const m = createSessionManager({ baseUrl: sd.url, fetch: browserFetch(jar, UA).fetch, broadcast: false })
    await m.createSession(demo.email, demo.password)
    const res = await sessionMiddleware(request('http://app.example/account', `sid=${jar.cookies.get('sid')}`), options)
    expect(passes(res)).toBe(true)
    m.close()
  })

  test('sessiond down on a protected path: 503, never the login page', async () => {
    const own = await startSessiond()
    await own.stop()
    const res = await sessionMiddleware(request('http://app.example/account', 'sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), {
      ...options,
      sessiondUrl: own.url,
    })
    expect(res.status).toBe(503)
    expect(res.headers.get('location')).toBeNull()
  })
})

describe('protecting everything', () => {
  test('"/" protects every path but the login page itself: no redirect loop', async () => {
    const options = { protect: ['/'], loginUrl: '/login' }
    const home = await sessionMiddleware(request('http://app.example/', ''), options)
    expect(home.status).toBe(303)
    expect(new URL(home.headers.get('location')!).pathname).toBe('/login')
    const deep = await sessionMiddleware(request('http://app.example/a/b', ''), options)
    expect(deep.status).toBe(303)
    const login = await sessionMiddleware(request('http://app.example/login?next=%2Fa', ''), options)
    expect(passes(login)).toBe(true)
  })

  test('onUnavailable answers a protected path while sessiond cannot say', async () => {
    const guarded = await sessionMiddleware(request('http://app.example/account', 'session_token=broken'), {
      protect: ['/account'],
      onUnavailable: () => new NextResponse('our own outage page', { status: 503 }),
    })
    expect(guarded.status).toBe(503)
    expect(await guarded.text()).toBe('our own outage page')
  })
})

describe('safeNextPath', () => {
  test.each([
    ['/account', '/account'],
    ['/account?tab=1#x', '/account?tab=1#x'],
    ['//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['\\\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['/ok\r\nSet-Cookie: x=1', '/'],
    ['/%2F/evil.example', '/'],
    ['/%5Cevil.example', '/'],
    ['/%0d%0aLocation:%20//evil', '/'],
    ['', '/'],
    ['account', '/'],
  ])('%j -> %j', (input, want) => {
    expect(safeNextPath(input)).toBe(want)
  })
})

function withAddr(f: typeof fetch): typeof fetch {
  return (input, init = {}) => {
    const headers = new Headers(init.headers)
    headers.set('X-Forwarded-For', browserAddr)
    return f(input, { ...init, headers })
  }
}

describe('legacy cookie names as patterns (sessiond --legacy-cookies)', () => {
  test('legacyCookieMatcher reads sessiond\'s path.Match syntax and never takes the session cookie', () => {
    const m = legacyCookieMatcher(['dott_*', 'session_token', 'step?', 'flag[0-9]', 'x[^a]y', 'lit\\*', 'bad['])
    for (const name of ['dott_auth_session', 'dott_', 'session_token', 'step1', 'flag7', 'xby', 'lit*', 'bad[']) {
      expect(m(name), name).toBe(true)
    }
    for (const name of ['dot_auth', 'session_tokens', 'step12', 'flagx', 'xay', 'litx', 'bad', 'sid', 'theme']) {
      expect(m(name), name).toBe(false)
    }
    expect(legacyCookieMatcher(['s*'])('sid')).toBe(false)
    expect(legacyCookieMatcher(['s*'], '__Host-sid')('sid')).toBe(true)
  })

  test('a pattern migrates a cookie it matches, as sessiond does', async () => {
    const before = legacyCalls.length
    const res = await sessionMiddleware(request('http://app.example/dashboard', 'session_token=good-5; theme=dark'), {
      legacyCookies: ['session_*', 'onboarding*'],
    })
    expect(res.status).toBe(303)
    expect(cookiesOf(res).get('sid')).toMatch(/^[A-Za-z0-9_-]{36}$/)
    expect(legacyCalls.length - before).toBe(1)
    const none = await sessionMiddleware(request('http://app.example/dashboard', 'session_token=good-6'), { legacyCookies: ['dott_*'] })
    expect(passes(none)).toBe(true)
  })
})
