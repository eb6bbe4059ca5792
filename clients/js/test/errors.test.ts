// Each error kind from a real sessiond, and outages that must never read as
// a logout: a stopped server (network error) and a store that is down (503).
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  ConflictError,
  createSessionManager,
  FocusManager,
  InvalidCredentialsError,
  InvalidInputError,
  isSessionUnknown,
  NetworkError,
  NotFoundError,
  OnlineManager,
  ReauthRequiredError,
  SessiondError,
  SessionUnavailableError,
  ThrottledError,
  UnauthenticatedError,
  WrongPasswordError,
} from '@sessiond/client'
import {
  Jar,
  browserFetch,
  demo,
  haveTool,
  requireServices,
  startRedis,
  startSessiond,
  stopAll,
  waitFor,
  type Sessiond,
} from './harness.js'

let sd: Sessiond
beforeAll(async () => {
  // A short re-authentication window, so that reauth_required comes
  // without waiting minutes.
  sd = await startSessiond(['--reauth-window', '1s'])
})
afterAll(stopAll)

function manager(baseUrl = sd.url) {
  const counted = browserFetch(new Jar())
  const m = createSessionManager({
    baseUrl,
    fetch: counted.fetch,
    broadcast: false,
    focusManager: new FocusManager(),
    onlineManager: new OnlineManager(),
  })
  return { m, counted }
}

describe('typed errors from the server body', () => {
  test('401 unauthenticated', async () => {
    const { m } = manager()
    const err = await m.listSessions().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnauthenticatedError)
    expect(err).toMatchObject({ status: 401, code: 'unauthenticated' })
    expect((err as SessiondError).body).toMatchObject({ error: 'unauthenticated' })
    expect(isSessionUnknown(err)).toBe(false)
  })

  test('401 invalid_credentials, then 429 with retryAfter', async () => {
    // Throttling after one failure, on a server of its own: the other tests' failures do not count.
    const own = await startSessiond(['--throttle-account-attempts', '1'])
    const { m } = manager(own.url)
    const email = `nobody-${Date.now()}@example.com`
    const first = await m.createSession(email, 'wrong password').catch((e: unknown) => e)
    expect(first).toBeInstanceOf(InvalidCredentialsError)
    expect(first).toMatchObject({ status: 401, code: 'invalid_credentials' })
    const second = await m.createSession(email, 'wrong password').catch((e: unknown) => e)
    expect(second).toBeInstanceOf(ThrottledError)
    expect((second as ThrottledError).status).toBe(429)
    expect((second as ThrottledError).retryAfter).toBeGreaterThanOrEqual(1)
  })

  test('403 reauth_required and wrong_password, and reauth fixing the first', async () => {
    const { m } = manager()
    await m.createSession(demo.email, demo.password)
    const wrong = await m.reauth('not the password').catch((e: unknown) => e)
    expect(wrong).toBeInstanceOf(WrongPasswordError)
    expect(wrong).toMatchObject({ status: 403, code: 'wrong_password' })
    expect(m.getState().status).toBe('authenticated')
    let err: unknown
    await waitFor(async () => {
      err = await m.revokeOthers().catch((e: unknown) => e)
      return err instanceof ReauthRequiredError
    }, 'revoke-others to need a fresh authentication (window 1s)')
    expect(err).toMatchObject({ status: 403, code: 'reauth_required' })
    await m.reauth(demo.password)
    expect(typeof (await m.revokeOthers())).toBe('number')
  })

  test('409 conflict, 404 not found, 400 invalid input', async () => {
    const { m } = manager()
    const s = await m.createSession(demo.email, demo.password)
    const conflict = await m.updateData({ a: 1 }, { version: s.dataVersion + 100 }).catch((e: unknown) => e)
    expect(conflict).toBeInstanceOf(ConflictError)
    expect(conflict).toMatchObject({ status: 409 })
    const missing = await m.revokeSession('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(NotFoundError)
    const invalid = await m.events({ limit: 5000 }).catch((e: unknown) => e)
    expect(invalid).toBeInstanceOf(InvalidInputError)
    expect(invalid).toMatchObject({ status: 400, code: 'invalid_input' })
    expect(m.getState().status).toBe('authenticated')
  })
})

describe('an outage is never a logout', () => {
  test('a stopped sessiond: NetworkError, the session is kept, and it is back after a restart', async () => {
    const own = await startSessiond()
    const { m } = manager(own.url)
    const s = await m.createSession(demo.email, demo.password)
    await own.stop()
    m.clearCache()
    const err = await m.getSession().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NetworkError)
    expect(isSessionUnknown(err)).toBe(true)
    expect((err as Error).message).toMatch(/unknown, not ended/)
    expect(m.getState()).toMatchObject({ status: 'authenticated', error: err })
    expect(m.getState().session?.session.id).toBe(s.session.id)
    await own.restart()
    expect((await m.getSession())?.session.id).toBe(s.session.id)
    expect(m.getState().error).toBeNull()
    m.close()
  })

  test('a store that is down: 503 SessionUnavailableError with retryAfter, the session is kept', async (ctx) => {
    if (!haveTool('redis-server')) {
      if (requireServices) throw new Error('redis-server is not installed and SESSIOND_TEST_REQUIRE_SERVICES=1')
      ctx.skip()
    }
    const redis = await startRedis()
    // No cache: every GET asks the store.
    const own = await startSessiond(['--store', redis.url, '--cache-size', '0'])
    const { m } = manager(own.url)
    const s = await m.createSession(demo.email, demo.password)
    await redis.stop()
    m.clearCache()
    const started = Date.now()
    const err = await m.getSession().catch((e: unknown) => e)
    expect(err, `GET /api/auth/session-v2 on ${own.url} ${Date.now() - started} ms after stopping Redis:\n${own.log()}`).toBeInstanceOf(
      SessionUnavailableError,
    )
    expect(err).toMatchObject({ status: 503, code: 'unavailable' })
    expect((err as SessionUnavailableError).retryAfter).toBeGreaterThanOrEqual(1)
    expect(m.getState().status).toBe('authenticated')
    expect(m.getState().session?.session.id).toBe(s.session.id)
    expect(m.getState().error).toBe(err)
    m.close()
  })

  test('before any answer, an outage leaves the status unknown, not signed out', async () => {
    const { m } = manager('http://127.0.0.1:9')
    await expect(m.getSession()).rejects.toBeInstanceOf(NetworkError)
    expect(m.getState()).toMatchObject({ status: 'unknown', session: null })
  })
})
