// Server rendering imports the packages in Node, where there is no window:
// importing must touch nothing of the browser, and the server render must
// use the session it is given without storing it in the shared singleton
// (which every request of the server shares).
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, test } from 'vitest'

test('every entry point imports and renders in plain Node', async () => {
  const script = fileURLToPath(new URL('./fixtures/ssr.mjs', import.meta.url))
  const { stdout } = await promisify(execFile)(process.execPath, [script], { cwd: fileURLToPath(new URL('..', import.meta.url)) })
  const out = JSON.parse(stdout) as Record<string, unknown>
  expect(out.withSession).toContain('Welcome ann@example.com of acme, onboarding')
  expect(out.signedOut).toContain('Please login')
  expect(out.unknown).toContain('Loading...')
  expect(out.singleton).toBe('loading')
  expect(out.nextExports).toEqual(expect.arrayContaining(['withServerSession', 'getServerSession', 'sessionMiddleware', 'SessionUnavailableError']))
})
