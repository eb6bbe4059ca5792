import { defineConfig } from '@playwright/test'
import { appHost, appPort, directURL, sessiondURL } from './e2e/env'

// The end-to-end tests drive Debian's Chromium (never a downloaded browser)
// against `next start` on a build made beforehand, a real sessiond per test
// (e2e/fixtures.ts) and a stand-in old backend. cmd/sessiond/nextjs_test.go
// runs them from `go test`.
export default defineConfig({
  testDir: './e2e',
  globalSetup: './e2e/global-setup.ts',
  // One worker: two cores, and every test restarts sessiond on the one port
  // the build's rewrites point at.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  // Generous for a busy two-core machine; what must be fast (a revocation
  // reaching an open page within 1 s) says so where it is checked.
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    baseURL: `http://${appHost}:${appPort}`,
    viewport: { width: 900, height: 600 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        // www.app.test and its parent app.test are this machine, so that
        // legacy cookies can sit on a parent domain as on the old site.
        '--host-resolver-rules=MAP *.app.test 127.0.0.1, MAP app.test 127.0.0.1',
      ],
    },
  },
  webServer: {
    command: `npx next start -H 127.0.0.1 -p ${appPort}`,
    url: `${directURL}/login`,
    env: { SESSIOND_URL: sessiondURL },
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
})
