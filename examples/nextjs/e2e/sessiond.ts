import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { directURL, sessiondURL } from './env'

// Sessiond is one real sessiond process on SESSIOND_URL's port with a SQLite
// file of its own. stop and start keep the file and the port, as an
// operator's restart would.
export class Sessiond {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'sessiond-e2e-'))
  readonly db = path.join(this.dir, 'sessiond.db')
  private proc: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()
  // log holds the process's output over every start, for failure messages.
  log = ''

  constructor(
    private readonly bin: string,
    private readonly args: string[],
  ) {}

  async start(): Promise<void> {
    const port = new URL(sessiondURL).port
    const args = ['serve', '--listen', `127.0.0.1:${port}`, '--store', `sqlite:${this.db}`, ...this.args]
    const started = Date.now()
    const proc = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc = proc
    let exitCode: number | null | undefined
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        exitCode = code ?? (signal ? -1 : null)
        this.log += `[sessiond exited: code ${code}, signal ${signal}]\n`
        resolve()
      }),
    )
    let out = ''
    const collect = (b: Buffer) => {
      out += b.toString()
      this.log += b.toString()
    }
    proc.stdout!.on('data', collect)
    proc.stderr!.on('data', collect)
    while (!/\bmsg="?listening\b/.test(out)) {
      if (exitCode !== undefined) throw new Error(`sessiond ${args.join(' ')} exited before listening:\n${this.log}`)
      if (Date.now() - started > 20_000) throw new Error(`sessiond did not listen within 20 s:\n${this.log}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    // Through the app too: both the rewrite and the server-side helpers
    // reach the new process (their pooled connections to the old one are
    // gone) before a test goes on.
    await waitFor(`sessiond on ${sessiondURL} through the app`, async () => {
      const [viaRewrite, viaHelper] = await Promise.all([
        fetch(`${directURL}/api/auth/session-v2`).then((r) => r.status),
        fetch(`${directURL}/api/tenant`).then((r) => r.status),
      ])
      return viaRewrite === 401 && viaHelper === 401 ? true : `rewrite ${viaRewrite}, /api/tenant ${viaHelper}`
    })
  }

  // stop ends the process as an operator would (SIGTERM), or kills it after
  // five seconds.
  async stop(): Promise<void> {
    const proc = this.proc
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(timer)
    this.proc = null
  }

  async dispose(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

// waitFor polls check until it returns true, for at most timeout ms; check
// returns true or a description of what it saw, which the error reports.
export async function waitFor(what: string, check: () => Promise<true | string>, timeout = 15_000): Promise<void> {
  const started = Date.now()
  let last = ''
  for (;;) {
    try {
      const r = await check()
      if (r === true) return
      last = r
    } catch (e) {
      last = String(e)
    }
    if (Date.now() - started > timeout) throw new Error(`waiting for ${what}: still ${last} after ${timeout} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
