import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import sessionManager, {
  createSessionManager,
  FocusManager,
  OnlineManager,
  InvalidCredentialsError,
  ConflictError,
  type Session,
} from '@sessiond/client'
import { Jar, browserFetch, demo, startSessiond, stopAll, waitFor, type Sessiond } from './harness.js'

let sd: Sessiond
beforeAll(async () => {
  sd = await startSessiond()
})
afterAll(stopAll)

function manager(jar = new Jar(), extra: Parameters<typeof createSessionManager>[0] = {}) {
  const counted = browserFetch(jar)
  const focus = new FocusManager()
  const online = new OnlineManager()
  const m = createSessionManager({ baseUrl: sd.url, fetch: counted.fetch, focusManager: focus, onlineManager: online, ...extra })
  return { m, counted, jar, focus, online }
}

describe('login and the cache', () => {
  test('createSession logs in; getSession answers the camelCase session', async () => {
    const { m, jar } = manager()
    expect(await m.getSession()).toBeNull()
    const s = await m.createSession(demo.email, demo.password)
    expect(jar.cookies.get('sid')).toMatch(/^[A-Za-z0-9_-]{36}$/)
    expect(s.user).toMatchObject({ email: demo.email, tenantId: 'demo', needsOnboarding: false, attributes: {} })
    m.clearCache()
    const again = (await m.getSession()) as Session
    expect(again.session.id).toBe(s.session.id)
    expect(again.session.device).toContain('Firefox')
    expect(again.dataVersion).toBe(0)
    m.close()
  })

  test('concurrent getSession calls share one request; the TTL cache answers later ones', async () => {
    const { m, counted } = manager(new Jar(), { cacheTtlMs: 60_000 })
    await m.createSession(demo.email, demo.password)
    m.clearCache()
    const all = await Promise.all(Array.from({ length: 10 }, () => m.getSession()))
    expect(new Set(all.map((s) => s?.session.id)).size).toBe(1)
    expect(counted.count('GET /api/auth/session-v2')).toBe(1)
    await m.getSession()
    await m.getSession()
    expect(counted.count('GET /api/auth/session-v2')).toBe(1)
    m.clearCache()
    await m.getSession()
    expect(counted.count('GET /api/auth/session-v2')).toBe(2)
    m.close()
  })

  test('a wrong password is InvalidCredentialsError', async () => {
    const { m } = manager()
    await expect(m.createSession(demo.email, 'wrong password')).rejects.toBeInstanceOf(InvalidCredentialsError)
  })

  test('the default export is a same-origin singleton that touched nothing at import', () => {
    expect(sessionManager.baseUrl).toBe('')
    expect(sessionManager.getState().status).toBe('loading')
  })
})

describe('revalidation', () => {
  test('the session is fetched again when the tab regains focus or the browser comes back online', async () => {
    const { m, counted, focus, online } = manager(new Jar(), { cacheTtlMs: 60_000 })
    await m.createSession(demo.email, demo.password)
    const unsubscribe = m.subscribe(() => {})
    const gets = () => counted.count('GET /api/auth/session-v2')
    expect(gets()).toBe(0)
    focus.setFocused(false)
    expect(gets()).toBe(0)
    focus.setFocused(true)
    await waitFor(() => counted.answered.includes('GET /api/auth/session-v2 200'), 'the answer to a GET after focus')
    online.setOnline(false)
    online.setOnline(true)
    await waitFor(() => gets() === 2, 'a GET after coming back online')
    unsubscribe()
    m.close()
  })

  test('a subscriber may opt out of focus revalidation', async () => {
    const { m, counted, focus } = manager(new Jar(), { cacheTtlMs: 60_000 })
    await m.createSession(demo.email, demo.password)
    const unsubscribe = m.subscribe(() => {}, { revalidateOnFocus: false })
    focus.setFocused(false)
    focus.setFocused(true)
    // Nothing to wait for: the request would have started synchronously.
    expect(counted.count('GET /api/auth/session-v2')).toBe(0)
    unsubscribe()
    m.close()
  })

  test('without subscribers focus changes ask nothing', async () => {
    const { m, counted, focus } = manager()
    await m.createSession(demo.email, demo.password)
    focus.setFocused(false)
    focus.setFocused(true)
    expect(counted.requests).toEqual(['POST /api/auth/session-v2'])
    m.close()
  })
})

describe('tabs of one browser agree (BroadcastChannel)', () => {
  test('a login, a data change, a logout and a revocation in one tab reach the other', async () => {
    const jar = new Jar()
    const a = manager(jar)
    const b = manager(jar)
    const seen: string[] = []
    const unsubscribe = b.m.subscribe((s) => seen.push(s.status))
    expect(await b.m.getSession()).toBeNull()

    const s = await a.m.createSession(demo.email, demo.password)
    await waitFor(() => b.m.getState().session?.session.id === s.session.id, 'tab B to see the login of tab A')

    await a.m.updateData({ theme: 'dark' })
    await waitFor(() => b.m.getState().session?.data.theme === 'dark', 'tab B to see the data change of tab A')

    await a.m.logout()
    await waitFor(() => b.m.getState().status === 'unauthenticated', 'tab B to see the logout of tab A')

    const s2 = await a.m.createSession(demo.email, demo.password)
    await waitFor(() => b.m.getState().session?.session.id === s2.session.id, 'tab B to see the second login')
    await a.m.revokeSession(s2.session.id)
    await waitFor(() => b.m.getState().status === 'unauthenticated', 'tab B to see the revocation of the current session')
    expect(seen).toContain('authenticated')
    unsubscribe()
    a.m.close()
    b.m.close()
  })

  test('a manager for another sessiond ignores the messages', async () => {
    const jar = new Jar()
    const a = manager(jar)
    const other = createSessionManager({ baseUrl: 'http://127.0.0.1:9', fetch: browserFetch(jar).fetch })
    const unsubscribe = other.subscribe(() => {})
    other.hydrate(null)
    await a.m.createSession(demo.email, demo.password)
    await a.m.logout()
    expect(other.getState().status).toBe('unauthenticated')
    expect(other.getState().error).toBeNull()
    unsubscribe()
    a.m.close()
    other.close()
  })
})

describe('devices', () => {
  test('listSessions, revokeSession, events and updateData with a version', async () => {
    // Two devices: two jars, and no BroadcastChannel between them (it joins the tabs of one browser).
    const phone = manager(new Jar(), { broadcast: false })
    const laptop = manager(new Jar(), { broadcast: false })
    const p = await phone.m.createSession(demo.email, demo.password)
    const l = await laptop.m.createSession(demo.email, demo.password)
    const list = await laptop.m.listSessions()
    expect(list.find((d) => d.current)?.id).toBe(l.session.id)
    expect(list.map((d) => d.id)).toContain(p.session.id)
    const before = laptop.m.getState().devicesVersion
    await laptop.m.revokeSession(p.session.id)
    expect(laptop.m.getState().devicesVersion).toBe(before + 1)
    phone.m.clearCache()
    expect(await phone.m.getSession()).toBeNull()
    const events = await laptop.m.events({ limit: 5 })
    expect(events.length).toBeGreaterThan(0)
    expect(events.map((e) => e.type)).toContain('session_revoked')
    const v = laptop.m.getState().session!.dataVersion
    const updated = await laptop.m.updateData({ plan: 'pro' }, { version: v })
    expect(updated.data).toMatchObject({ plan: 'pro' })
    expect(updated.dataVersion).toBe(v + 1)
    expect(await laptop.m.revokeOthers()).toBeGreaterThanOrEqual(0)
    const rotated = await laptop.m.reauth(demo.password)
    expect(rotated.user.email).toBe(demo.email)
    phone.m.close()
    laptop.m.close()
  })
})

describe('the per-user cap (--at-limit refuse)', () => {
  test('createSession with endOldestSession ends the least recently used session instead of a ConflictError', async () => {
    const capped = await startSessiond(['--max-sessions-per-user', '1', '--at-limit', 'refuse'])
    const device = () => {
      const jar = new Jar()
      return { jar, m: createSessionManager({ baseUrl: capped.url, fetch: browserFetch(jar).fetch, broadcast: false }) }
    }
    const lost = device()
    const found = device()
    const first = await lost.m.createSession(demo.email, demo.password)
    const refused = await found.m.createSession(demo.email, demo.password).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ConflictError)
    expect((refused as ConflictError).code).toBe('session_limit_reached')
    await expect(found.m.createSession(demo.email, 'wrong password', { endOldestSession: true })).rejects.toBeInstanceOf(InvalidCredentialsError)
    const s = await found.m.createSession(demo.email, demo.password, { endOldestSession: true })
    expect(s.session.id).not.toBe(first.session.id)
    lost.m.clearCache()
    expect(await lost.m.getSession()).toBeNull()
    found.m.clearCache()
    expect((await found.m.getSession())?.session.id).toBe(s.session.id)
    lost.m.close()
    found.m.close()
  })
})
