// Test harness: real sessiond processes (SESSIOND_BIN), a cookie jar that
// plays the browser's part in Node, and a fetch that counts requests.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** bin is the sessiond binary the tests run. */
export function bin(): string {
  const b = process.env.SESSIOND_BIN
  if (!b || !existsSync(b)) {
    throw new Error(
      `SESSIOND_BIN is ${b ? `"${b}", which does not exist` : 'not set'}: build it with "go build -o /tmp/sessiond ./cmd/sessiond" and set SESSIOND_BIN`,
    )
  }
  return b
}

/** freePort returns a loopback port nothing listens on. */
export async function freePort(): Promise<number> {
  const srv: Server = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const addr = srv.address()
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  if (addr === null || typeof addr === 'string') throw new Error('no port')
  return addr.port
}

export interface Sessiond {
  url: string
  port: number
  dir: string
  /** log returns what the process wrote to stderr so far (for failure messages). */
  log: () => string
  stop: () => Promise<void>
  /** restart starts the process again on the same port and store. */
  restart: () => Promise<void>
}

const running = new Set<Sessiond>()

/**
 * startSessiond runs `sessiond serve --demo` on a free loopback port with a
 * SQLite store of its own (or args' --store), and resolves once it listens.
 */
export async function startSessiond(args: string[] = [], opts: { port?: number; dir?: string } = {}): Promise<Sessiond> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sessiond-js-'))
  const port = opts.port ?? (await freePort())
  const full = ['serve', '--demo', '--listen', `127.0.0.1:${port}`, '--cookie-secure=false', '--log-format', 'json']
  if (!args.includes('--store')) full.push('--store', `sqlite:${join(dir, 'sessiond.db')}`)
  full.push(...args)
  let stderr = ''
  let child: ChildProcess | null = null
  const launch = async () => {
    const started = Date.now()
    const from = stderr.length
    const c = spawn(bin(), full, { stdio: ['ignore', 'ignore', 'pipe'] })
    child = c
    c.stderr?.setEncoding('utf8')
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sessiond ${full.join(' ')} did not listen within 20 s:\n${stderr}`)), 20000)
      c.stderr?.on('data', (d: string) => {
        stderr += d
        if (stderr.includes('"msg":"listening"', from)) {
          clearTimeout(timer)
          resolve()
        }
      })
      c.on('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`sessiond exited with ${code} before listening (after ${Date.now() - started} ms):\n${stderr}`))
      })
    })
  }
  await launch()
  const s: Sessiond = {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    log: () => stderr,
    stop: async () => {
      const c = child
      child = null
      if (!c || c.exitCode !== null) return
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve())
        c.kill('SIGTERM')
      })
    },
    restart: async () => {
      await s.stop()
      await launch()
    },
  }
  running.add(s)
  return s
}

/** stopAll stops every sessiond the tests started and removes their directories. */
export async function stopAll(): Promise<void> {
  const all = [...running]
  running.clear()
  await Promise.all(all.map((s) => s.stop()))
  for (const s of all) rmSync(s.dir, { recursive: true, force: true })
}

/** Jar keeps cookies per host like a browser does (enough for host-only cookies on Path=/). */
export class Jar {
  readonly cookies = new Map<string, string>()

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  store(setCookies: string[]): void {
    for (const sc of setCookies) {
      const [pair, ...attrs] = sc.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1).trim()
      const expired = attrs.some((a) => {
        const [k, v] = a.trim().split('=')
        if (k!.toLowerCase() === 'max-age') return Number(v) <= 0
        if (k!.toLowerCase() === 'expires') return Date.parse(v ?? '') < Date.now()
        return false
      })
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
}

export interface Counted {
  fetch: typeof fetch
  /** requests lists "METHOD /path" of every request, in order. */
  requests: string[]
  /** answered lists "METHOD /path STATUS" of every answered request, in order. */
  answered: string[]
  count: (methodPath: string) => number
}

/**
 * browserFetch is a fetch with a cookie jar (the browser's part in Node) that
 * records every request; give several managers one jar to act as tabs of
 * one browser.
 */
export function browserFetch(jar: Jar, userAgent = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0'): Counted {
  const requests: string[] = []
  const answered: string[] = []
  const f = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input.toString() : input.url)
    const method = (init.method ?? 'GET').toUpperCase()
    requests.push(`${method} ${url.pathname}`)
    const headers = new Headers(init.headers)
    const cookie = jar.header()
    if (cookie) headers.set('Cookie', cookie)
    headers.set('User-Agent', userAgent)
    const res = await fetch(url, { ...init, headers, redirect: 'manual' })
    jar.store(res.headers.getSetCookie())
    answered.push(`${method} ${url.pathname} ${res.status}`)
    return res
  }
  return {
    fetch: f as typeof fetch,
    requests,
    answered,
    count: (mp) => requests.filter((r) => r === mp).length,
  }
}

/** waitFor polls cond until it holds or timeoutMs passes, then fails with what. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10000): Promise<void> {
  const start = Date.now()
  for (;;) {
    if (await cond()) return
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const demo = { email: 'test@example.com', password: 'password' }

/**
 * tool returns whether a program is installed; without it the test skips,
 * unless SESSIOND_TEST_REQUIRE_SERVICES=1 (CI), where the caller must fail.
 */
export function haveTool(name: string): boolean {
  const r = spawnSync(name, ['--version'], { stdio: 'ignore' })
  return r.error === undefined
}

export const requireServices = process.env.SESSIOND_TEST_REQUIRE_SERVICES === '1'

export interface Redis {
  url: string
  port: number
  stop: () => Promise<void>
}

/** startRedis runs a redis-server of the test's own on a free port, without persistence. */
export async function startRedis(): Promise<Redis> {
  const port = await freePort()
  const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  c.stdout?.setEncoding('utf8')
  c.stdout?.on('data', (d: string) => (out += d))
  await waitFor(async () => {
    if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode}:\n${out}`)
    return out.includes('Ready to accept connections')
  }, `redis-server on port ${port} to accept connections`, 10000)
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    stop: async () => {
      if (c.exitCode !== null) return
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve())
        c.kill('SIGKILL')
      })
    },
  }
}
