import { request as apiRequest } from '@playwright/test'
import { appURL, demo, directURL, parentDomain } from './env'
import { browserFetch, cookieNames, expect, screenshot, signIn, test } from './fixtures'

// 1. The design note's curl test, against the app's port: the rewrites
// carry /api/auth/* to sessiond.
test('1. the design note curl test through the rewrites: DELETE 204, login 200 with sid, session 200', async () => {
  const api = await apiRequest.newContext({ baseURL: directURL })
  try {
    const out = await api.delete('/api/auth/session-v2')
    expect(out.status(), 'DELETE /api/auth/session-v2 without a session').toBe(204)

    const login = await api.post('/api/auth/session-v2', { data: { email: demo.email, password: demo.password } })
    expect(login.status(), `POST /api/auth/session-v2: ${await login.text()}`).toBe(200)
    const setCookie = login.headersArray().filter((h) => h.name.toLowerCase() === 'set-cookie')
    expect(setCookie.map((h) => h.value).join('\n')).toMatch(/^sid=[A-Za-z0-9_-]{36};.*HttpOnly/im)

    const session = await api.get('/api/auth/session-v2')
    expect(session.status(), 'GET /api/auth/session-v2 with the cookie').toBe(200)
    const body = await session.json()
    expect(body.authenticated).toBe(true)
    expect(body.user.email).toBe(demo.email)

    expect((await api.delete('/api/auth/session-v2')).status(), 'logout').toBe(204)
    expect((await api.get('/api/auth/session-v2')).status(), 'the session after logout').toBe(401)
  } finally {
    await api.dispose()
  }
})

// 2. Login through the form.
test('2. login through the form: the dashboard shows the email and sid is the only cookie', async ({ page, context }) => {
  await page.goto('/')
  await expect(page, 'a visitor without a session is sent to the login page').toHaveURL(`${appURL}/login?next=%2F`)
  await page.getByLabel('Email').fill(demo.email)
  await page.getByLabel('Password').fill(demo.password)
  await screenshot(page, 'login')
  await page.getByRole('button', { name: 'Sign in' }).click()

  await expect(page.getByRole('heading', { name: `Welcome ${demo.email}` })).toBeVisible()
  await expect(page).toHaveURL(`${appURL}/`)
  await expect(page.getByTestId('tenant')).toHaveText(demo.tenant)
  const cookies = await context.cookies(appURL)
  expect(cookies.map((c) => c.name)).toEqual(['sid'])
  expect(cookies[0].httpOnly, 'sid is HttpOnly').toBe(true)
  expect(cookies[0].value).toHaveLength(36)
  await screenshot(page, 'dashboard')
})

test('login errors: wrong password, throttling with the wait, and a safe next parameter', async ({ page }) => {
  await page.goto('/login')
  await page.getByLabel('Email').fill(demo.email)
  // sessiond throttles an account after 5 failures (--throttle-account-attempts).
  for (let i = 1; i <= 5; i++) {
    await page.getByLabel('Password').fill(`wrong-${i}`)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect(page.getByTestId('login-error'), `failure ${i}`).toHaveText('Wrong email or password.')
    await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled()
  }
  // Past them, a failure is refused with the wait. The back-off after the
  // fifth failure is 1 s and doubles with each further one, so on a busy
  // machine whose clicks come more than a second apart the refusal comes a
  // failure or two later: keep failing (at most five more) until it does.
  let status = 0
  for (let i = 6; i <= 10 && status !== 429; i++) {
    await page.getByLabel('Password').fill(`wrong-${i}`)
    await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled()
    const [r] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${appURL}/api/auth/session-v2` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ])
    status = r.status()
    expect([401, 429], `failure ${i}: the login answered ${status}`).toContain(status)
  }
  expect(status, 'no 429 within ten failures').toBe(429)
  await expect(page.getByTestId('login-error')).toHaveText(/^Too many attempts\. Try again in \d+ seconds?\.$/)

  // Only a path on this site is followed after the login.
  await page.goto('/login?next=%2F%2Fevil.example%2F')
  await page.getByLabel('Email').fill(demo.email)
  await page.getByLabel('Password').fill(demo.password)
  // The right password is refused (429, not counted) until the back-off
  // has passed, then lets in.
  const signInButton = page.getByRole('button', { name: 'Sign in' })
  await expect
    .poll(
      async () => {
        await expect(signInButton).toBeEnabled()
        const [r] = await Promise.all([
          page.waitForResponse((r) => r.url() === `${appURL}/api/auth/session-v2` && r.request().method() === 'POST'),
          signInButton.click(),
        ])
        return r.status()
      },
      { message: 'the login once the back-off has passed', timeout: 30_000, intervals: [250] },
    )
    .toBe(200)
  await expect(page).toHaveURL(`${appURL}/`)
  await expect(page.getByRole('heading', { name: `Welcome ${demo.email}` })).toBeVisible()

  await page.goto('/login?next=%2Faccount%3Ftab%3D1')
  await page.getByLabel('Email').fill(demo.email)
  await page.getByLabel('Password').fill(demo.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page).toHaveURL(`${appURL}/account?tab=1`)
  await expect(page.getByTestId('email')).toHaveText(demo.email)
})

// 3. The design note's migration test, with the old cookies on the host and
// on the parent domain as the old site set them.
test('3. legacy cookies on the host and the parent domain become one sid on the first visit', async ({ browser, legacy }) => {
  for (const who of [
    { cookie: 'old-session-of-maria', email: 'maria@old.example', tenant: 'acme', onboarding: null },
    { cookie: 'old-session-of-olga', email: 'olga@old.example', tenant: 'globex', onboarding: 'business-info' },
  ]) {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto('/login')
    await page.evaluate(
      ({ value, domain }) => {
        document.cookie = `dott_auth_session=${value}; path=/`
        document.cookie = 'session_token=legacy-backend-token; path=/'
        document.cookie = `onboarding_status=${encodeURIComponent('{"step":"business-info"}')}; path=/; domain=${domain}`
        document.cookie = `businessInfoCompleted=false; path=/; domain=${domain}`
        document.cookie = `onboardingStep=business-info; path=/; domain=${domain}`
        document.cookie = `dott_auth_session=${value}; path=/; domain=${domain}`
      },
      { value: who.cookie, domain: parentDomain },
    )
    // document.cookie reaches the browser's cookie store a moment later:
    // wait for it, or the visit below could go without the cookies.
    await expect.poll(() => cookieNames(context), 'the legacy cookies before the visit').toEqual([
      `businessInfoCompleted@.${parentDomain}`,
      `dott_auth_session@.${parentDomain}`,
      `dott_auth_session@www.${parentDomain}`,
      `onboardingStep@.${parentDomain}`,
      `onboarding_status@.${parentDomain}`,
      `session_token@www.${parentDomain}`,
    ])
    const calls = legacy.calls.length

    await page.goto('/')
    if (who.onboarding) {
      await expect(page, 'onboarding state carried over: the dashboard sends to onboarding').toHaveURL(`${appURL}/onboarding`)
      await expect(page.getByTestId('onboarding-step')).toHaveText(who.onboarding)
      await expect(page.getByTestId('email')).toHaveText(who.email)
    } else {
      await expect(page.getByRole('heading', { name: `Welcome ${who.email}` })).toBeVisible()
      await expect(page.getByTestId('tenant')).toHaveText(who.tenant)
    }
    expect(await cookieNames(context), `${who.email}: the cookies after one visit`).toEqual([`sid@www.${parentDomain}`])
    expect(legacy.calls.length - calls, 'calls to the old backend').toBe(1)
    expect(legacy.calls.at(-1)).toContain(`dott_auth_session=${who.cookie}`)
    await context.close()
  }
})

// 4. Revocation from another device reaches an open page without a reload.
test('4. revoking a session from another device signs its page out within a second, without a reload', async ({ browser }) => {
  const first = await browser.newContext()
  const second = await browser.newContext()
  const a = await first.newPage()
  const b = await second.newPage()
  const { session: firstSession } = await signIn(a)
  await signIn(b)
  await a.goto('/')
  await expect(a.getByRole('heading', { name: `Welcome ${demo.email}` })).toBeVisible()
  await a.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true))

  await b.goto('/account/sessions')
  const rows = b.getByTestId('devices').locator('tbody tr')
  await expect(rows).toHaveCount(2)
  await expect(b.locator('tbody tr', { hasText: 'this device' })).toHaveCount(1)
  const firstRow = b.locator(`tr[data-session-id="${firstSession.id}"]`)
  await expect(firstRow).toContainText('Chrome')
  await expect(firstRow).toContainText('127.0.0.1')
  await screenshot(b, 'devices')

  await firstRow.getByRole('button', { name: 'Sign out' }).click()
  const revoked = Date.now()
  await expect(a.getByTestId('signed-out'), 'the first page, 1 s after the revocation').toBeVisible({ timeout: 1000 })
  const took = Date.now() - revoked
  expect(await a.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), 'the page was not reloaded').toBe(true)
  expect((await browserFetch(a, '/api/auth/session-v2')).status, `the first device's next API call (${took} ms after)`).toBe(401)
  await expect(rows).toHaveCount(1)
  await first.close()
  await second.close()
})

test.describe('with a reauth window of 2 s', () => {
  test.use({ sessiondArgs: ['--reauth-window', '2s'] })

  test('signing out all other devices asks for the password, then changing the password works', async ({ browser, page, context }) => {
    const other = await browser.newContext()
    const otherPage = await other.newPage()
    await signIn(otherPage)
    const { session } = await signIn(page)
    await page.goto('/account/sessions')
    await expect(page.getByTestId('devices').locator('tbody tr')).toHaveCount(2)

    // Wait until the login's password check is older than the window (the
    // server's clock is this machine's).
    const authenticatedAt = Date.parse(session.authenticated_at)
    expect(authenticatedAt, `authenticated_at of ${JSON.stringify(session)}`).not.toBeNaN()
    await expect.poll(() => Date.now(), { timeout: 5000, intervals: [50] }).toBeGreaterThan(authenticatedAt + 2100)

    await page.getByRole('button', { name: 'Sign out all other devices' }).click()
    await page.getByLabel('Confirm your password to continue').fill(demo.password)
    await page.getByRole('button', { name: 'Confirm' }).click()
    await expect(page.getByTestId('devices-message')).toHaveText('Signed out 1 other device.')
    await expect(page.getByTestId('devices').locator('tbody tr')).toHaveCount(1)
    expect((await browserFetch(otherPage, '/api/auth/session-v2')).status, 'the other device').toBe(401)

    await page.getByLabel('Current password').fill(demo.password)
    await page.getByLabel('New password').fill('a new password 42')
    await page.getByRole('button', { name: 'Change password' }).click()
    await expect(page.getByTestId('password-result')).toHaveText('Password changed. Your other devices were signed out.')
    expect((await browserFetch(page, '/api/auth/session-v2')).status, 'this device after the change').toBe(200)

    const fresh = await apiRequest.newContext({ baseURL: directURL })
    expect((await fresh.post('/api/auth/session-v2', { data: { email: demo.email, password: demo.password } })).status(), 'the old password').toBe(401)
    expect((await fresh.post('/api/auth/session-v2', { data: { email: demo.email, password: 'a new password 42' } })).status(), 'the new password').toBe(200)
    await fresh.dispose()
    await other.close()
  })
})

// 5. Two tabs of one browser.
test('5. logout in one tab signs the other tab out', async ({ context }) => {
  const one = await context.newPage()
  const two = await context.newPage()
  await signIn(one)
  await one.goto('/')
  await two.goto('/')
  await expect(two.getByRole('heading', { name: `Welcome ${demo.email}` })).toBeVisible()
  await one.getByRole('button', { name: 'Sign out' }).click()
  await expect(one.getByTestId('signed-out')).toBeVisible()
  await expect(two.getByTestId('signed-out'), 'the other tab').toBeVisible()
  // The other tab may be told (by the stream, then the channel) before the
  // logout's answer, which expires the cookie, reaches the browser.
  await expect.poll(() => cookieNames(context), 'the cookies after the logout').toEqual([])
})

// 6. An outage of sessiond is not a logout.
test('6. with sessiond stopped pages say unavailable and nobody is logged out; after a restart the session works', async ({
  page,
  context,
  sessiond,
}) => {
  await signIn(page)
  await page.goto('/')
  await expect(page.getByRole('heading', { name: `Welcome ${demo.email}` })).toBeVisible()
  const sid = (await context.cookies(appURL)).find((c) => c.name === 'sid')?.value

  await sessiond.stop()
  await page.getByRole('button', { name: 'Refresh' }).click()
  await expect(page.getByTestId('unavailable'), 'the open dashboard').toBeVisible()
  await expect(page.getByRole('heading', { name: `Welcome ${demo.email}` }), 'still signed in').toBeVisible()

  // A page load: proxy.ts cannot tell whether the visitor is signed in, and
  // says so (503) instead of sending them to the login page.
  for (const path of ['/', '/account/sessions']) {
    const r = await page.goto(path)
    expect(r?.status(), `${path} with sessiond stopped`).toBe(503)
    await expect(page, `${path} is not sent to the login page`).toHaveURL(`${appURL}${path}`)
    await expect(page.locator('body')).toContainText('unavailable')
  }
  expect((await browserFetch(page, '/api/tenant')).status, '/api/tenant').toBe(503)

  const login = await context.newPage()
  await login.goto('/login')
  await login.getByLabel('Email').fill(demo.email)
  await login.getByLabel('Password').fill(demo.password)
  await login.getByRole('button', { name: 'Sign in' }).click()
  await expect(login.getByTestId('login-error')).toHaveText('The session service is unavailable. Try again in a moment.')
  expect((await context.cookies(appURL)).find((c) => c.name === 'sid')?.value, 'the sid cookie through the outage').toBe(sid)

  await sessiond.start()
  await page.goto('/')
  await expect(page.getByRole('heading', { name: `Welcome ${demo.email}` }), 'the same session after the restart').toBeVisible()
  expect((await context.cookies(appURL)).find((c) => c.name === 'sid')?.value).toBe(sid)
  expect((await browserFetch(page, '/api/tenant')).json).toEqual({ tenantId: demo.tenant })
})

// 7. The server helpers, and identity headers a browser makes up.
test('7. withServerSession and getServerSession: 401 and a redirect without a session, the user with one; spoofed identity headers change nothing', async ({
  page,
}) => {
  const spoofed = { 'X-User-Id': 'admin-1', 'X-User-Email': 'admin@example.com', 'X-Tenant-Id': 'other-tenant' }
  // Every request the browser makes carries the made-up identity.
  await page.setExtraHTTPHeaders(spoofed)
  await page.goto('/account')
  await expect(page, '/account without a session').toHaveURL(`${appURL}/login?next=%2Faccount`)
  const tenant = await browserFetch(page, '/api/tenant')
  expect(tenant.status, '/api/tenant without a session').toBe(401)
  expect(tenant.json).toEqual({ error: 'Unauthorized' })

  // The page checks the session itself, whatever the proxy did
  // (CVE-2025-29927 skipped middleware for a request with this header).
  const anon = await apiRequest.newContext({ baseURL: directURL, extraHTTPHeaders: spoofed })
  for (const subrequest of [undefined, 'proxy:proxy:proxy:proxy:proxy', 'middleware:middleware:middleware:middleware:middleware']) {
    const r = await anon.get('/account', { maxRedirects: 0, headers: subrequest ? { 'x-middleware-subrequest': subrequest } : {} })
    expect([303, 307], `/account without a session, x-middleware-subrequest: ${subrequest}: ${r.status()}`).toContain(r.status())
    expect(r.headers()['location']).toMatch(/^(http:\/\/[^/]+)?\/login\?next=%2Faccount$/)
    expect(await r.text()).not.toContain('admin@example.com')
  }
  await anon.dispose()

  await signIn(page)
  expect((await browserFetch(page, '/api/tenant', { headers: spoofed })).json, '/api/tenant with a session').toEqual({ tenantId: demo.tenant })
  // The first paint (the HTML the server sends) carries the user.
  const html = (await browserFetch(page, '/account', { headers: spoofed })).text
  expect(html).toContain(demo.email)
  expect(html).not.toContain('admin@example.com')
  await page.goto('/account')
  await expect(page.getByTestId('email')).toHaveText(demo.email)
  await expect(page.getByTestId('tenant')).toHaveText(demo.tenant)
})
