import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import sessionManager, {
  createSessionManager,
  FocusManager,
  OnlineManager,
  InvalidCredentialsError,
  type Session,
} from '@sessiond/client'
import { Jar, browserFetch, demo, startSessiond, stopAll, type Sessiond } from './harness.js'

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
