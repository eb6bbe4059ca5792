import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sessiondURL } from './env'

// globalSetup checks that the app was built for this SESSIOND_URL and, when
// SESSIOND_BIN is not given (a run by hand), builds sessiond.
export default function globalSetup() {
  const manifest = path.join(import.meta.dirname, '..', '.next', 'routes-manifest.json')
  if (!existsSync(manifest)) throw new Error(`no build: run SESSIOND_URL=${sessiondURL} npx next build first`)
  const built = readFileSync(manifest, 'utf8')
  if (!built.includes(`${sessiondURL}/api/auth/`))
    throw new Error(`the build's rewrites do not point at SESSIOND_URL=${sessiondURL}: rebuild with it (next build bakes rewrites in)`)
  if (!process.env.SESSIOND_BIN) {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'sessiond-bin-')), 'sessiond')
    execFileSync('go', ['build', '-o', out, './cmd/sessiond'], { cwd: path.join(import.meta.dirname, '..', '..', '..'), stdio: 'inherit' })
    process.env.SESSIOND_BIN = out
  }
}
