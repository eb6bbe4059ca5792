import http from 'node:http'
import type { AddressInfo } from 'node:net'

// A stand-in for the old backend whose sessions lived in cookies. sessiond
// calls GET <--legacy-validate-url> with the request's legacy cookies and
// nothing else of it; this answers 200 with the user of a known
// dott_auth_session value, and 401 for any other.
export const legacyUsers: Record<string, LegacyUser> = {
  'old-session-of-maria': {
    user_id: 'maria-7',
    email: 'maria@old.example',
    tenant_id: 'acme',
    needs_onboarding: false,
    onboarding_step: 'done',
  },
  'old-session-of-olga': {
    user_id: 9,
    email: 'olga@old.example',
    tenant_id: 'globex',
    needs_onboarding: true,
    onboarding_step: 'business-info',
  },
}

export type LegacyUser = {
  user_id: string | number
  email: string
  tenant_id: string
  needs_onboarding: boolean
  onboarding_step: string
}

export type LegacyBackend = {
  url: string
  // calls holds the Cookie header of every validation request, in order.
  calls: string[]
  close(): Promise<void>
}

export async function startLegacyBackend(): Promise<LegacyBackend> {
  const calls: string[] = []
  const server = http.createServer((req, res) => {
    const cookie = req.headers.cookie ?? ''
    calls.push(cookie)
    const value = cookie
      .split(';')
      .map((c) => c.trim().split('='))
      .find(([name]) => name === 'dott_auth_session')?.[1]
    const user = value ? legacyUsers[decodeURIComponent(value)] : undefined
    if (req.method !== 'GET' || req.url !== '/internal/session' || !user) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"invalid session"}')
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(user))
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/internal/session`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
