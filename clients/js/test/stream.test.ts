// Live revocation: the manager holds GET /api/auth/session-v2/stream of a
// real sessiond while it has subscribers and a session, and ends the
// session the moment the server says so, in every tab, without polling.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createSessionManager, FocusManager, OnlineManager, type SessionManagerOptions, type SessionState } from '@sessiond/client'
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
  type Counted,
  type Sessiond,
} from './harness.js'

const adminToken = 'test-admin-token-0123456789abcdef0123456789'
let sd: Sessiond

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sessiond-js-'))
  const tokenFile = join(dir, 'admin-token')
  writeFileSync(tokenFile, adminToken + '\n')
  sd = await startSessiond(['--admin-token-file', tokenFile], { dir })
})
afterAll(stopAll)

function device(baseUrl: string, jar = new Jar(), extra: SessionManagerOptions = {}) {
  const counted = browserFetch(jar)
  const m = createSessionManager({
    baseUrl,
    fetch: counted.fetch,
    focusManager: new FocusManager(),
    onlineManager: new OnlineManager(),
    streamRetryMs: { min: 50, max: 400 },
    ...extra,
  })
  return { m, counted, jar }
}

const streams = (c: Counted) => c.answered.filter((r) => r.startsWith('GET /api/auth/session-v2/stream '))

describe('the revocation stream', () => {
  test('a revocation on another device ends the session here and in the other tab, without polling', async () => {
    const laptopJar = new Jar()
    const laptop = device(sd.url, laptopJar)
    const laptopTab2 = device(sd.url, laptopJar)
    const phone = device(sd.url, new Jar(), { broadcast: false })
    const s = await laptop.m.createSession(demo.email, demo.password)
    await phone.m.createSession(demo.email, demo.password)

    const seen: SessionState[] = []
    const unsubscribe = laptop.m.subscribe((st) => seen.push(st))
    const unsubscribe2 = laptopTab2.m.subscribe(() => {})
    await laptopTab2.m.getSession()
    await waitFor(() => streams(laptop.counted).includes('GET /api/auth/session-v2/stream 200'), 'the laptop to hold a stream')
    const getsBefore = laptop.counted.count('GET /api/auth/session-v2')

    const started = Date.now()
    await phone.m.revokeSession(s.session.id)
    await waitFor(() => laptop.m.getState().status === 'unauthenticated', 'the laptop to see its revocation')
    const took = Date.now() - started
    expect(laptop.m.getState().endedReason).toBe('revoked')
    expect(laptop.counted.count('GET /api/auth/session-v2'), `the laptop asked for its session; ${took} ms`).toBe(getsBefore)
    await waitFor(() => laptopTab2.m.getState().status === 'unauthenticated', "the laptop's other tab to follow")
    expect(seen.at(-1)?.status).toBe('unauthenticated')
    unsubscribe()
    unsubscribe2()
    for (const d of [laptop, laptopTab2, phone]) d.m.close()
  })

  test('a change of the session elsewhere (the admin API) is read again', async () => {
    const laptop = device(sd.url)
    const s = await laptop.m.createSession(demo.email, demo.password)
    const unsubscribe = laptop.m.subscribe(() => {})
    await waitFor(() => streams(laptop.counted).includes('GET /api/auth/session-v2/stream 200'), 'a stream')
    const res = await fetch(`${sd.url}/admin/v1/sessions/${s.session.id}/data`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: { plan: 'pro' } }),
    })
    expect(res.status, await res.text()).toBe(200)
    await waitFor(() => laptop.m.getState().session?.data.plan === 'pro', 'the new data to reach the laptop')
    expect(laptop.m.getState().status).toBe('authenticated')
    unsubscribe()
    laptop.m.close()
  })

  test('no stream without subscribers or without a session; it closes with the last subscriber', async () => {
    const d = device(sd.url)
    const unsubscribe = d.m.subscribe(() => {})
    await d.m.getSession()
    expect(streams(d.counted)).toEqual([])
    await d.m.createSession(demo.email, demo.password)
    await waitFor(() => streams(d.counted).length === 1, 'a stream once signed in')
    unsubscribe()
    await d.m.logout()
    const again = d.m.subscribe(() => {})
    expect(d.counted.requests.filter((r) => r === 'GET /api/auth/session-v2/stream')).toHaveLength(1)
    again()
    d.m.close()
  })

  test('sessiond restarting: the stream reconnects and the session holds', async () => {
    const own = await startSessiond()
    const d = device(own.url)
    const s = await d.m.createSession(demo.email, demo.password)
    const unsubscribe = d.m.subscribe(() => {})
    await waitFor(() => streams(d.counted).length === 1, 'a stream')
    await own.restart()
    await waitFor(() => streams(d.counted).filter((r) => r.endsWith(' 200')).length >= 2, `a second stream after the restart of ${own.url}`, 10000)
    expect(d.m.getState().status).toBe('authenticated')
    expect(d.m.getState().session?.session.id).toBe(s.session.id)
    unsubscribe()
    d.m.close()
  })

  test('the session reaching its idle deadline: expired', async () => {
    const own = await startSessiond(['--idle-timeout', '2s', '--touch-interval', '1s'])
    const d = device(own.url)
    await d.m.createSession(demo.email, demo.password)
    const unsubscribe = d.m.subscribe(() => {})
    await waitFor(() => d.m.getState().status === 'unauthenticated', 'the idle deadline to end the session', 10000)
    expect(d.m.getState().endedReason).toBe('expired')
    unsubscribe()
    d.m.close()
  })

  test('a store outage (unknown) is not a logout: the session stays and the stream is asked for again', async (ctx) => {
    if (!haveTool('redis-server')) {
      if (requireServices) throw new Error('redis-server is not installed and SESSIOND_TEST_REQUIRE_SERVICES=1')
      ctx.skip()
    }
    const redis = await startRedis()
    const own = await startSessiond(['--store', redis.url])
    const d = device(own.url)
    const s = await d.m.createSession(demo.email, demo.password)
    const unsubscribe = d.m.subscribe(() => {})
    await waitFor(() => streams(d.counted).includes('GET /api/auth/session-v2/stream 200'), 'a stream')
    await redis.stop()
    await waitFor(() => d.counted.requests.filter((r) => r === 'GET /api/auth/session-v2/stream').length >= 3, `the stream to be asked for again on ${own.url}:\n${own.log()}`, 10000)
    expect(d.m.getState().status).toBe('authenticated')
    expect(d.m.getState().session?.session.id).toBe(s.session.id)
    unsubscribe()
    d.m.close()
  })
})
