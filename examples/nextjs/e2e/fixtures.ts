import { test as base, expect, type BrowserContext, type Page } from '@playwright/test'
import { copyFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { appURL, demo, parentDomain } from './env'
import { startLegacyBackend, type LegacyBackend } from './legacy-backend'
import { Sessiond } from './sessiond'

type WorkerFixtures = { legacy: LegacyBackend }
type TestFixtures = { sessiondArgs: string[]; sessiond: Sessiond }

// test gives every test a sessiond of its own (a fresh SQLite file, on the
// port the app was built for), so that no test sees another's sessions,
// login counters or migrations; the old backend and the app are shared.
export const test = base.extend<TestFixtures, WorkerFixtures>({
  legacy: [
    async ({}, use) => {
      const legacy = await startLegacyBackend()
      await use(legacy)
      await legacy.close()
    },
    { scope: 'worker' },
  ],
  sessiondArgs: [[], { option: true }],
  sessiond: [
    async ({ legacy, sessiondArgs }, use, testInfo) => {
      const bin = process.env.SESSIOND_BIN
      if (!bin) throw new Error('SESSIOND_BIN is not set (the global setup builds it)')
      const s = new Sessiond(bin, [
        '--demo',
        '--cookie-secure=false',
        // The Next server is the proxy in front of sessiond: its address is
        // the only one whose X-Forwarded-For is believed.
        '--trusted-proxies',
        '127.0.0.1/32,::1/128',
        // Chromium sends no Sec-Fetch-Site to a plain-HTTP site other than
        // localhost, and Next's rewrite changes the Host header: without
        // this, sessiond's cross-origin protection refuses the app's own
        // logins (over HTTPS, Sec-Fetch-Site: same-origin suffices).
        '--allowed-origins',
        appURL,
        '--legacy-validate-url',
        legacy.url,
        '--legacy-cookie-domain',
        parentDomain,
        '--log-format',
        'text',
        ...sessiondArgs,
      ])
      legacy.calls.length = 0
      try {
        await s.start()
        await use(s)
      } finally {
        await s.dispose()
        if (testInfo.status !== testInfo.expectedStatus) {
          await testInfo.attach('sessiond.log', { body: s.log })
          console.log(`sessiond's log (${testInfo.title}):\n${s.log}`)
        }
      }
    },
    { auto: true },
  ],
})

export { expect }

// browserFetch makes a request from inside the page, as the app's own
// scripts do: same origin, the browser's cookies and user agent.
export async function browserFetch(page: Page, path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}) {
  return page.evaluate(
    async ({ path, init }) => {
      const headers: Record<string, string> = { ...init.headers }
      if (init.json !== undefined) headers['Content-Type'] = 'application/json'
      const r = await fetch(path, {
        method: init.method ?? 'GET',
        headers,
        body: init.json === undefined ? undefined : JSON.stringify(init.json),
        redirect: 'manual',
      })
      const text = await r.text()
      let json: unknown = null
      try {
        json = JSON.parse(text)
      } catch {}
      return { status: r.status, text, json: json as any }
    },
    { path, init },
  )
}

// signIn logs in through the API from inside the page (on the login page
// unless it is on the app already), for tests whose subject is not the form.
export async function signIn(page: Page, email = demo.email, password = demo.password) {
  if (!page.url().startsWith(appURL)) await page.goto('/login')
  const r = await browserFetch(page, '/api/auth/session-v2', { method: 'POST', json: { email, password } })
  expect(r.status, `login of ${email} through the app: ${r.text}`).toBe(200)
  return r.json as { session: { id: string; authenticated_at: string } }
}

// authCookies lists the cookies the browser holds for the app, as name@domain.
export async function cookieNames(context: BrowserContext) {
  return (await context.cookies(appURL)).map((c) => `${c.name}@${c.domain}`).sort()
}

// screenshot saves a small PNG of the page for the README; it replaces the
// committed one in docs/screenshots only with UPDATE_SCREENSHOTS=1, so that
// a test run leaves the checkout as it was.
export async function screenshot(page: Page, name: string) {
  const out = test.info().outputPath(`${name}.png`)
  await page.screenshot({ path: out, animations: 'disabled', caret: 'hide' })
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    const dir = path.join(path.dirname(test.info().config.configFile!), 'docs', 'screenshots')
    mkdirSync(dir, { recursive: true })
    copyFileSync(out, path.join(dir, `${name}.png`))
  }
}
