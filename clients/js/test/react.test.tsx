// @vitest-environment jsdom
// The hooks under React 19 StrictMode (effects run twice) in jsdom, against
// a real sessiond: first render with a server session, loading, another
// tab's logout, the device list, an outage.
import { StrictMode } from 'react'
import { act, cleanup, render, screen, waitFor as rtlWaitFor } from '@testing-library/react'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { createSessionManager, FocusManager, OnlineManager, type SessionManager } from '@sessiond/client'
import { SessionProvider, useSession, useSessions } from '@sessiond/react'
import { Jar, browserFetch, demo, startSessiond, stopAll, type Counted, type Sessiond } from './harness.js'

let sd: Sessiond
beforeAll(async () => {
  sd = await startSessiond()
})
afterAll(stopAll)
afterEach(cleanup)

const managers: SessionManager[] = []
afterEach(() => {
  for (const m of managers.splice(0)) m.close()
})

function tab(jar: Jar, baseUrl = sd.url): { m: SessionManager; counted: Counted; focus: FocusManager } {
  const counted = browserFetch(jar)
  const focus = new FocusManager()
  const m = createSessionManager({ baseUrl, fetch: counted.fetch, focusManager: focus, onlineManager: new OnlineManager() })
  managers.push(m)
  return { m, counted, focus }
}

// The design note's component, as written.
function MyComponent() {
  const { user, isAuthenticated, loading, needsOnboarding, tenantId, error } = useSession()
  if (loading) return <div>Loading...</div>
  if (!isAuthenticated) return <div>Please login</div>
  return (
    <div>
      Welcome {user!.email}! tenant {tenantId} {needsOnboarding ? 'onboarding' : 'onboarded'}
      {error ? ` (${error.code})` : ''}
    </div>
  )
}

function Devices() {
  const { sessions, loading, revoke, revokeOthers } = useSessions()
  if (loading) return <p>devices loading</p>
  return (
    <ul>
      {sessions.map((d) => (
        <li key={d.id}>
          {d.current ? 'this device' : 'other device'} {d.id}
          {!d.current && <button onClick={() => void revoke(d.id)}>end {d.id}</button>}
        </li>
      ))}
      <li>{sessions.length} devices</li>
      <li>
        <button onClick={() => void revokeOthers().catch(() => {})}>end the others</button>
      </li>
    </ul>
  )
}

function renderStrict(ui: React.ReactNode) {
  return render(<StrictMode>{ui}</StrictMode>)
}

describe('useSession', () => {
  test('without an initial session: loading, then one request under StrictMode, then the answer', async () => {
    const jar = new Jar()
    const { m, counted } = tab(jar)
    renderStrict(
      <SessionProvider manager={m}>
        <MyComponent />
      </SessionProvider>,
    )
    expect(screen.getByText('Loading...')).toBeTruthy()
    await screen.findByText('Please login')
    expect(counted.count('GET /api/auth/session-v2')).toBe(1)
  })

  test('with the session from the server the first render is the user, with no request', async () => {
    const jar = new Jar()
    const login = tab(jar)
    const s = await login.m.createSession(demo.email, demo.password)
    const { m, counted } = tab(jar)
    renderStrict(
      <SessionProvider manager={m} session={s}>
        <MyComponent />
      </SessionProvider>,
    )
    expect(screen.getByText(/Welcome test@example.com! tenant demo onboarded/)).toBeTruthy()
    await act(async () => {})
    expect(counted.requests.filter((r) => r === 'GET /api/auth/session-v2')).toEqual([])
  })

  test('a logout in another tab re-renders this one', async () => {
    const jar = new Jar()
    const other = tab(jar)
    await other.m.createSession(demo.email, demo.password)
    const { m } = tab(jar)
    renderStrict(
      <SessionProvider manager={m}>
        <MyComponent />
      </SessionProvider>,
    )
    await screen.findByText(/Welcome test@example.com/)
    await act(() => other.m.logout())
    await screen.findByText('Please login')
  })

  test('a login in another tab re-renders this one', async () => {
    const jar = new Jar()
    const { m } = tab(jar)
    renderStrict(
      <SessionProvider manager={m} session={null}>
        <MyComponent />
      </SessionProvider>,
    )
    expect(screen.getByText('Please login')).toBeTruthy()
    const other = tab(jar)
    await act(() => other.m.createSession(demo.email, demo.password).then(() => {}))
    await screen.findByText(/Welcome test@example.com/)
  })

  test('a revocation from another device re-renders this one (the stream)', async () => {
    const jar = new Jar()
    const { m, counted } = tab(jar)
    const s = await m.createSession(demo.email, demo.password)
    renderStrict(
      <SessionProvider manager={m} session={s}>
        <MyComponent />
      </SessionProvider>,
    )
    const phone = createSessionManager({ baseUrl: sd.url, fetch: browserFetch(new Jar()).fetch, broadcast: false })
    managers.push(phone)
    await phone.createSession(demo.email, demo.password)
    // The stream is open once the manager holds a subscriber and a session;
    // revoke only then, or the revocation would be seen by a later fetch.
    await rtlWaitFor(() => expect(counted.answered).toContain('GET /api/auth/session-v2/stream 200'))
    // StrictMode subscribed twice: still one stream.
    expect(counted.count('GET /api/auth/session-v2/stream')).toBe(1)
    await act(() => phone.revokeSession(s.session.id))
    await screen.findByText('Please login')
  })

  test('a server session that differs from the one known here makes the client ask again', async () => {
    const jar = new Jar()
    const { m, counted } = tab(jar)
    await m.createSession(demo.email, demo.password)
    await m.logout()
    const gets = counted.count('GET /api/auth/session-v2')
    // A login that m does not hear of, as one made by a Server Action.
    const other = createSessionManager({ baseUrl: sd.url, fetch: browserFetch(jar).fetch, broadcast: false })
    managers.push(other)
    const s = await other.createSession(demo.email, demo.password)
    renderStrict(
      <SessionProvider manager={m} session={s}>
        <MyComponent />
      </SessionProvider>,
    )
    await screen.findByText(/Welcome test@example.com/)
    await rtlWaitFor(() => expect(counted.count('GET /api/auth/session-v2')).toBeGreaterThan(gets))
    expect(m.getState().session?.session.id).toBe(s.session.id)
  })

  test('focus revalidation can be turned off by the provider', async () => {
    const jar = new Jar()
    const login = tab(jar)
    const s = await login.m.createSession(demo.email, demo.password)
    const { m, counted, focus } = tab(jar)
    renderStrict(
      <SessionProvider manager={m} session={s} refetchOnWindowFocus={false}>
        <MyComponent />
      </SessionProvider>,
    )
    act(() => {
      focus.setFocused(false)
      focus.setFocused(true)
    })
    expect(counted.count('GET /api/auth/session-v2')).toBe(0)
  })

  test('an outage keeps the user on screen and reports the error; render never throws', async () => {
    const own = await startSessiond()
    const jar = new Jar()
    const { m } = tab(jar, own.url)
    const s = await m.createSession(demo.email, demo.password)
    renderStrict(
      <SessionProvider manager={m} session={s}>
        <MyComponent />
      </SessionProvider>,
    )
    await own.stop()
    const { result } = { result: await act(() => m.getSession({ force: true }).catch((e: unknown) => e)) }
    expect(result).toBeInstanceOf(Error)
    await screen.findByText(/Welcome test@example.com! tenant demo onboarded \(network_error\)/)
  })
})

describe('useSessions', () => {
  test('lists the devices and revokes one; the list follows', async () => {
    const phoneJar = new Jar()
    const phone = createSessionManager({ baseUrl: sd.url, fetch: browserFetch(phoneJar).fetch, broadcast: false })
    managers.push(phone)
    const p = await phone.createSession(demo.email, demo.password)
    const jar = new Jar()
    const { m } = tab(jar)
    await m.createSession(demo.email, demo.password)
    renderStrict(
      <SessionProvider manager={m}>
        <Devices />
      </SessionProvider>,
    )
    await screen.findByText(`other device ${p.session.id}`)
    const n = Number((await screen.findByText(/\d+ devices/)).textContent!.split(' ')[0])
    act(() => screen.getByText(`end ${p.session.id}`).click())
    await rtlWaitFor(() => expect(screen.queryByText(`other device ${p.session.id}`)).toBeNull())
    await screen.findByText(`${n - 1} devices`)
    expect(await phone.getSession({ force: true })).toBeNull()
  })
})
