import {
  SessiondError,
  SessionUnavailableError,
  UnauthenticatedError,
  errorFromResponse,
  networkError,
  parseRetryAfter,
} from './errors.js'
import { FocusManager, OnlineManager, focusManager as sharedFocus, onlineManager as sharedOnline } from './focus.js'
import { EventStreamParser, type StreamEvent } from './sse.js'
import { toAuditEvent, toDeviceSession, toSession, type AuditEvent, type DeviceSession, type Session } from './types.js'

/** The API paths of sessiond. */
export const paths = {
  session: '/api/auth/session-v2',
  stream: '/api/auth/session-v2/stream',
  migrate: '/api/auth/migrate-session',
  sessions: '/api/auth/sessions',
  revokeOthers: '/api/auth/sessions/revoke-others',
  reauth: '/api/auth/reauth',
  password: '/api/auth/password',
  events: '/api/auth/events',
} as const

/** The BroadcastChannel name through which the managers of one browser agree. */
export const channelName = 'sessiond'

/**
 * SessionStatus: `loading` before the first answer, `authenticated` or
 * `unauthenticated` after one, `unknown` when the first attempt failed with
 * an outage or a network error (nothing is known yet).
 */
export type SessionStatus = 'loading' | 'authenticated' | 'unauthenticated' | 'unknown'

/**
 * SessionState is what subscribers see. The object is replaced on every
 * change and kept otherwise, so it can back React's useSyncExternalStore.
 */
export interface SessionState {
  status: SessionStatus
  /** The last session known: kept through outages (an outage is never a logout). */
  session: Session | null
  /** The error of the last attempt, cleared by the next answer. */
  error: SessiondError | null
  /** Why the session ended when the stream said so: "revoked" or "expired". */
  endedReason: string | null
  /** Incremented whenever the device list may have changed (here or in another tab). */
  devicesVersion: number
}

/** SessionManagerOptions configures createSessionManager; every field is optional. */
export interface SessionManagerOptions {
  /** Origin (and path prefix) of sessiond, e.g. "https://auth.example.com". Default "": the page's own origin. */
  baseUrl?: string
  /** The fetch to use. Default: the global fetch, looked up at each call. */
  fetch?: typeof fetch
  /** How long an answer of getSession() is reused, in ms. Default 5000. */
  cacheTtlMs?: number
  /** Fetch credentials mode. Default "same-origin" without baseUrl, "include" with one (CORS with cookies). */
  credentials?: RequestCredentials
  /** Revalidate when the page becomes visible again (subscribers may opt out). Default true. */
  revalidateOnFocus?: boolean
  /** Revalidate when the browser comes back online. Default true. */
  revalidateOnReconnect?: boolean
  /**
   * Live revocation through GET /api/auth/session-v2/stream while there are
   * subscribers and a session: "auto" reads it with fetch (EventSource only
   * where response bodies cannot be streamed), "eventsource" or "fetch"
   * force one, false turns it off. Default "auto".
   */
  stream?: 'auto' | 'eventsource' | 'fetch' | false
  /** Reconnection back-off of the stream in ms. Default { min: 1000, max: 30000 }. */
  streamRetryMs?: { min: number; max: number }
  /** Synchronise tabs through BroadcastChannel. Default true where it exists. */
  broadcast?: boolean
  focusManager?: FocusManager
  onlineManager?: OnlineManager
  /** The EventSource constructor for stream "eventsource"/"auto". Default the global one. */
  EventSource?: typeof EventSource
}

/** SubscribeOptions tune one subscription. */
export interface SubscribeOptions {
  /** Revalidate on focus for this subscriber. Default: the manager's revalidateOnFocus. */
  revalidateOnFocus?: boolean
}

/**
 * CreateSessionOptions: `endOldestSession`, when sessiond refuses logins at
 * the per-user cap (`--at-limit refuse`), ends the user's least recently
 * used session to make room instead of throwing ConflictError
 * (`session_limit_reached`), so a user who lost the device holding it is not
 * locked out. sessiond acts on it only once the password is proved.
 */
export interface CreateSessionOptions {
  endOldestSession?: boolean
}

/** UpdateDataOptions: `version` makes the update conditional (409 ConflictError otherwise). */
export interface UpdateDataOptions {
  version?: number
}

type Listener = (state: SessionState) => void

type BroadcastMessage = {
  source: 'sessiond'
  baseUrl: string
  kind: 'login' | 'logout' | 'changed' | 'devices'
  reason?: string
}

const initialState: SessionState = {
  status: 'loading',
  session: null,
  error: null,
  endedReason: null,
  devicesVersion: 0,
}

/**
 * SessionManager talks to sessiond for one origin: it caches the session,
 * shares concurrent requests, revalidates on focus and reconnect, keeps the
 * tabs of one browser in agreement and ends the session when the server's
 * stream says it was revoked. Nothing it does at construction touches the
 * browser: listeners, channels and streams start with the first use.
 */
export class SessionManager {
  readonly baseUrl: string
  readonly cacheTtlMs: number
  #fetch: typeof fetch
  #customFetch: boolean
  #credentials: RequestCredentials
  #revalidateOnFocus: boolean
  #revalidateOnReconnect: boolean
  #streamMode: 'auto' | 'eventsource' | 'fetch' | false
  #retry: { min: number; max: number }
  #broadcastOn: boolean
  #focus: FocusManager
  #online: OnlineManager
  #EventSource: typeof EventSource | undefined

  #state: SessionState = initialState
  #fetchedAt = 0
  #inflight: Promise<Session | null> | null = null
  /** Incremented by every change this manager makes, so that an older answer never overwrites a newer one. */
  #gen = 0
  /** Incremented by clearCache: an answer to a request sent before it is used but not cached. */
  #epoch = 0
  #listeners = new Map<Listener, SubscribeOptions>()
  #channel: BroadcastChannel | null = null
  #unsubFocus: (() => void) | null = null
  #unsubOnline: (() => void) | null = null
  #stream: StreamHandle | null = null
  #streamAttempts = 0
  #streamUnsupported = false
  #idleTimer: ReturnType<typeof setTimeout> | null = null
  #closed = false

  constructor(options: SessionManagerOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '')
    this.cacheTtlMs = options.cacheTtlMs ?? 5000
    this.#customFetch = options.fetch !== undefined
    const given = options.fetch
    this.#fetch = given ?? ((input, init) => globalThis.fetch(input, init))
    this.#credentials = options.credentials ?? (this.baseUrl === '' ? 'same-origin' : 'include')
    this.#revalidateOnFocus = options.revalidateOnFocus ?? true
    this.#revalidateOnReconnect = options.revalidateOnReconnect ?? true
    this.#streamMode = options.stream ?? 'auto'
    this.#retry = options.streamRetryMs ?? { min: 1000, max: 30000 }
    this.#broadcastOn = options.broadcast ?? true
    this.#focus = options.focusManager ?? sharedFocus
    this.#online = options.onlineManager ?? sharedOnline
    this.#EventSource = options.EventSource
  }

  // ---- state and subscriptions

  /** getState returns the current state; the same object until it changes. */
  getState = (): SessionState => this.#state

  /**
   * subscribe calls listener with the new state on every change and returns
   * the unsubscribe function. While there are subscribers the manager
   * revalidates on focus and reconnect and holds the revocation stream.
   */
  subscribe = (listener: Listener, options: SubscribeOptions = {}): (() => void) => {
    this.#listeners.set(listener, options)
    this.#openChannel()
    this.#sync()
    return () => {
      this.#listeners.delete(listener)
      this.#sync()
    }
  }

  /**
   * hydrate takes a session the server already read (server rendering) as
   * the first answer, fresh for cacheTtlMs. It does nothing once the manager
   * has an answer of its own.
   */
  hydrate(session: Session | null): void {
    if (this.#state.status !== 'loading') return
    this.#fetchedAt = Date.now()
    this.#apply(session, false)
  }

  // ---- the session

  /**
   * getSession returns the session (null when signed out), from the cache
   * when the last answer is younger than cacheTtlMs; concurrent calls share
   * one request. An outage (503, a network error) throws
   * SessionUnavailableError or NetworkError and keeps the last known
   * session in getState(): it is never read as a logout.
   */
  async getSession(options: { force?: boolean } = {}): Promise<Session | null> {
    this.#openChannel()
    if (!options.force && this.#isFresh()) return this.#state.session
    return this.#fetchSession(true)
  }

  /** clearCache forgets when the session was last fetched: the next getSession() asks the server. */
  clearCache(): void {
    this.#fetchedAt = 0
    this.#epoch++
    this.#inflight = null
  }

  /**
   * createSession logs in: POST /api/auth/session-v2. It throws
   * InvalidCredentialsError or ThrottledError on refusal, ConflictError
   * (`session_limit_reached`) at a cap that refuses unless
   * `{ endOldestSession: true }` asks to end the least recently used session.
   */
  async createSession(email: string, password: string, options: CreateSessionOptions = {}): Promise<Session> {
    const body: { email: string; password: string; end_oldest_session?: boolean } = { email, password }
    if (options.endOldestSession) body.end_oldest_session = true
    const res = await this.#request('POST', paths.session, body)
    const s = toSession(await readJSON(res))
    this.#changed(s, 'login')
    return s
  }

  /**
   * logout ends the session: DELETE /api/auth/session-v2. On a 503 the
   * cookie is gone but the server record may live on: the state becomes
   * signed out and the SessionUnavailableError is thrown so the caller knows.
   */
  async logout(): Promise<void> {
    try {
      await this.#request('DELETE', paths.session)
    } catch (err) {
      if (err instanceof SessionUnavailableError) this.#changed(null, 'logout')
      throw err
    }
    this.#changed(null, 'logout')
  }

  /** migrate turns legacy cookies into a session now: POST /api/auth/migrate-session. */
  async migrate(): Promise<Session> {
    const res = await this.#request('POST', paths.migrate)
    const s = toSession(await readJSON(res))
    this.#changed(s, 'login')
    return s
  }

  /**
   * updateData applies a JSON merge patch to the session's data (null
   * deletes a key); with `version` only at that version (ConflictError otherwise).
   */
  async updateData(patch: Record<string, unknown>, options: UpdateDataOptions = {}): Promise<Session> {
    const body: { data: Record<string, unknown>; version?: number } = { data: patch }
    if (options.version !== undefined) body.version = options.version
    const res = await this.#request('PATCH', paths.session, body)
    const s = toSession(await readJSON(res))
    this.#changed(s, 'changed')
    return s
  }

  // ---- devices

  /** listSessions returns the caller's live sessions, most recently active first. */
  async listSessions(): Promise<DeviceSession[]> {
    const res = await this.#request('GET', paths.sessions)
    const body = (await readJSON(res)) as { sessions?: unknown } | null
    return Array.isArray(body?.sessions) ? body.sessions.map(toDeviceSession) : []
  }

  /** revokeSession ends one of the caller's sessions; ending the current one is a logout. */
  async revokeSession(id: string): Promise<void> {
    await this.#request('DELETE', `${paths.sessions}/${encodeURIComponent(id)}`)
    if (this.#state.session?.session.id === id) this.#changed(null, 'logout')
    else this.#devicesChanged(true)
  }

  /** revokeOthers ends every other session of the caller and returns how many; it may throw ReauthRequiredError. */
  async revokeOthers(): Promise<number> {
    const res = await this.#request('POST', paths.revokeOthers)
    const body = (await readJSON(res)) as { revoked?: unknown } | null
    this.#devicesChanged(true)
    return typeof body?.revoked === 'number' ? body.revoked : 0
  }

  /** reauth checks the password again (a fresh authentication, a new token). It may throw WrongPasswordError. */
  async reauth(password: string): Promise<Session> {
    const res = await this.#request('POST', paths.reauth, { password })
    const s = toSession(await readJSON(res))
    this.#changed(s, 'changed')
    return s
  }

  /** changePassword changes the password; the token rotates and the user's other sessions end. */
  async changePassword(current: string, next: string): Promise<Session> {
    const res = await this.#request('POST', paths.password, { current_password: current, new_password: next })
    const s = toSession(await readJSON(res))
    this.#changed(s, 'changed')
    this.#devicesChanged(true)
    return s
  }

  /** events returns the caller's audit trail, newest first (limit 1 to 1000; the server's default is 100). */
  async events(options: { limit?: number } = {}): Promise<AuditEvent[]> {
    const q = options.limit === undefined ? '' : `?limit=${encodeURIComponent(String(options.limit))}`
    const res = await this.#request('GET', paths.events + q)
    const body = (await readJSON(res)) as { events?: unknown } | null
    return Array.isArray(body?.events) ? body.events.map(toAuditEvent) : []
  }

  /** close stops the stream, the channel and the listeners; the manager still answers calls. */
  close(): void {
    this.#closed = true
    this.#listeners.clear()
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    this.#detach()
    this.#channel?.close()
    this.#channel = null
  }

  // ---- internals: requests

  async #request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    const init: RequestInit = { method, headers, credentials: this.#credentials }
    // Every request that may carry JSON says so: sessiond answers 415 to a
    // body without it.
    if (method !== 'GET' && method !== 'HEAD') headers['Content-Type'] = 'application/json'
    if (body !== undefined) init.body = JSON.stringify(body)
    let res: Response
    try {
      res = await this.#fetch(this.baseUrl + path, init)
    } catch (err) {
      throw networkError(err, `${method} ${path}`)
    }
    if (res.ok) return res
    const err = await errorFromResponse(res)
    // Any 401 unauthenticated says the session is over, whatever asked.
    if (err instanceof UnauthenticatedError && !(method === 'GET' && path === paths.session) && this.#state.session) {
      this.#changed(null, 'logout')
    }
    throw err
  }

  #isFresh(): boolean {
    return this.#state.status !== 'loading' && this.#state.error === null && Date.now() - this.#fetchedAt < this.cacheTtlMs
  }

  #fetchSession(announce: boolean): Promise<Session | null> {
    if (this.#inflight) return this.#inflight
    const gen = this.#gen
    const epoch = this.#epoch
    const p = (async (): Promise<Session | null> => {
      let s: Session | null
      try {
        const res = await this.#request('GET', paths.session)
        s = toSession(await readJSON(res))
      } catch (err) {
        if (!(err instanceof UnauthenticatedError)) {
          if (gen === this.#gen && err instanceof SessiondError) this.#fail(err)
          throw err
        }
        s = null
      }
      if (gen !== this.#gen) return this.#state.session // a newer change won
      this.#fetchedAt = epoch === this.#epoch ? Date.now() : 0
      this.#apply(s, announce)
      return s
    })()
    this.#inflight = p
    const clear = () => {
      if (this.#inflight === p) this.#inflight = null
    }
    p.then(clear, clear)
    return p
  }

  // #changed records a change made by this manager (or learned from the
  // stream) and tells the other tabs.
  #changed(s: Session | null, kind: BroadcastMessage['kind'], reason?: string): void {
    this.#gen++
    this.#inflight = null
    this.#fetchedAt = Date.now()
    this.#apply(s, false, reason)
    this.#post(kind, reason)
  }

  // #apply sets the session; with announce, a change of identity found by
  // a fetch (a login or logout made elsewhere) is told to the other tabs.
  #apply(s: Session | null, announce: boolean, reason?: string): void {
    const prev = this.#state
    const next: SessionState = {
      status: s ? 'authenticated' : 'unauthenticated',
      session: s,
      error: null,
      endedReason: s ? null : (reason ?? (prev.status === 'unauthenticated' ? prev.endedReason : null)),
      devicesVersion: prev.devicesVersion,
    }
    if (sameState(prev, next)) return
    this.#state = next
    if (announce && prev.status !== 'loading' && prev.status !== 'unknown') {
      const was = prev.session?.session.id ?? null
      const now = s?.session.id ?? null
      if (was !== now) this.#post(now ? 'login' : 'logout')
    }
    this.#emit()
  }

  #fail(err: SessiondError): void {
    const prev = this.#state
    this.#state = { ...prev, status: prev.status === 'loading' ? 'unknown' : prev.status, error: err }
    this.#emit()
  }

  #devicesChanged(announce: boolean): void {
    this.#state = { ...this.#state, devicesVersion: this.#state.devicesVersion + 1 }
    if (announce) this.#post('devices')
    this.#emit()
  }

  #emit(): void {
    this.#sync()
    const state = this.#state
    for (const l of [...this.#listeners.keys()]) {
      try {
        l(state)
      } catch (err) {
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }

  // ---- internals: tabs

  #openChannel(): void {
    if (this.#channel || this.#closed || !this.#broadcastOn || typeof BroadcastChannel === 'undefined') return
    const ch = new BroadcastChannel(channelName)
    // In Node (server rendering, tests) an open channel must not keep the process alive.
    ;(ch as unknown as { unref?: () => void }).unref?.()
    ch.onmessage = (ev: MessageEvent) => this.#receive(ev.data)
    this.#channel = ch
  }

  #post(kind: BroadcastMessage['kind'], reason?: string): void {
    this.#openChannel()
    const msg: BroadcastMessage = { source: 'sessiond', baseUrl: this.baseUrl, kind }
    if (reason !== undefined) msg.reason = reason
    try {
      this.#channel?.postMessage(msg)
    } catch {
      // A closed channel (the page is going away) loses nothing that matters.
    }
  }

  #receive(data: unknown): void {
    const m = data as Partial<BroadcastMessage> | null
    if (!m || m.source !== 'sessiond' || m.baseUrl !== this.baseUrl) return
    switch (m.kind) {
      case 'logout':
        // The cookie is shared by the tabs: another tab's logout is ours.
        this.#gen++
        this.#inflight = null
        this.#fetchedAt = Date.now()
        this.#apply(null, false, m.reason)
        break
      case 'login':
      case 'changed':
        this.#gen++
        this.#inflight = null
        this.#fetchedAt = 0
        if (this.#listeners.size > 0 || this.#state.status !== 'loading') this.#fetchSession(false).catch(noop)
        break
      case 'devices':
        this.#devicesChanged(false)
        break
    }
  }

  // ---- internals: focus, reconnect and the stream follow the subscribers

  #sync(): void {
    const active = this.#listeners.size > 0 && !this.#closed
    if (active) {
      if (this.#idleTimer) {
        clearTimeout(this.#idleTimer)
        this.#idleTimer = null
      }
      this.#attach()
    } else if (!this.#idleTimer && (this.#unsubFocus || this.#stream)) {
      // React StrictMode unsubscribes and subscribes again at once: detach a
      // moment later so that it does not reopen the stream.
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = null
        if (this.#listeners.size === 0 || this.#closed) this.#detach()
      }, 0)
    }
    const wantStream = active && this.#streamMode !== false && !this.#streamUnsupported && this.#state.status === 'authenticated'
    if (wantStream && !this.#stream) this.#openStream()
    if (!wantStream && this.#stream && (active || this.#state.status !== 'authenticated')) this.#closeStream()
  }

  #attach(): void {
    if (!this.#unsubFocus) {
      this.#unsubFocus = this.#focus.subscribe((focused) => {
        if (!focused) return
        const wants = [...this.#listeners.values()].some((o) => o.revalidateOnFocus ?? this.#revalidateOnFocus)
        if (wants) this.#fetchSession(true).catch(noop)
      })
    }
    if (!this.#unsubOnline) {
      this.#unsubOnline = this.#online.subscribe((online) => {
        if (!online) return
        if (this.#revalidateOnReconnect) this.#fetchSession(true).catch(noop)
        if (this.#stream?.waiting) this.#restartStream()
      })
    }
  }

  #detach(): void {
    this.#unsubFocus?.()
    this.#unsubFocus = null
    this.#unsubOnline?.()
    this.#unsubOnline = null
    this.#closeStream()
  }

  #openStream(): void {
    const handle: StreamHandle = { ctrl: new AbortController(), timer: null, waiting: false, es: null, final: false }
    this.#stream = handle
    // "auto" reads the stream with fetch wherever a response body can be
    // streamed: unlike EventSource it sees the status of a refused stream
    // (401, 429 with Retry-After, 404 on an older sessiond).
    const useES =
      this.#streamMode === 'eventsource' ||
      (this.#streamMode === 'auto' &&
        !this.#customFetch &&
        typeof ReadableStream === 'undefined' &&
        (this.#EventSource ?? globalThis.EventSource) !== undefined)
    if (useES) this.#runEventSource(handle)
    else void this.#runFetchStream(handle)
  }

  #closeStream(): void {
    const h = this.#stream
    if (!h) return
    this.#stream = null
    h.ctrl.abort()
    h.es?.close()
    if (h.timer) clearTimeout(h.timer)
  }

  #restartStream(): void {
    this.#closeStream()
    this.#sync()
  }

  // #retryStream reconnects after a back-off (or the server's Retry-After).
  #retryStream(h: StreamHandle, retryAfterSec: number | null): void {
    if (this.#stream !== h) return
    h.es?.close()
    h.es = null
    const n = this.#streamAttempts++
    const base = Math.min(this.#retry.max, this.#retry.min * 2 ** Math.min(n, 16))
    const delay = retryAfterSec !== null ? Math.max(retryAfterSec * 1000, base) : base / 2 + Math.random() * (base / 2)
    h.waiting = true
    h.timer = setTimeout(() => {
      if (this.#stream !== h) return
      this.#stream = null
      this.#sync()
    }, delay)
  }

  async #runFetchStream(h: StreamHandle): Promise<void> {
    let res: Response
    try {
      res = await this.#fetch(this.baseUrl + paths.stream, {
        method: 'GET',
        headers: { Accept: 'text/event-stream' },
        credentials: this.#credentials,
        signal: h.ctrl.signal,
      })
    } catch {
      if (!h.ctrl.signal.aborted) this.#retryStream(h, null)
      return
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(noop)
      this.#streamRefused(h, res.status, parseRetryAfter(res.headers.get('Retry-After')))
      return
    }
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    const parser = new EventStreamParser((ev) => this.#onStreamEvent(h, ev))
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done || h.final || this.#stream !== h) break
        parser.push(decoder.decode(value, { stream: true }))
        if (h.final) break
      }
    } catch {
      // The connection dropped: reconnect below.
    }
    reader.cancel().catch(noop)
    if (!h.final && this.#stream === h && !h.ctrl.signal.aborted) this.#retryStream(h, null)
  }

  #runEventSource(h: StreamHandle): void {
    const ES = this.#EventSource ?? globalThis.EventSource
    const es = new ES(this.baseUrl + paths.stream, { withCredentials: this.#credentials === 'include' })
    h.es = es
    for (const type of ['ready', 'changed', 'revoked', 'expired', 'unknown']) {
      es.addEventListener(type, (ev) => this.#onStreamEvent(h, { event: type, data: (ev as MessageEvent).data, id: '' }))
    }
    es.onerror = () => {
      if (h.final || this.#stream !== h) return
      // EventSource hides the status of a refused stream: ask for the
      // session, which tells a logout from an outage, then retry.
      es.close()
      this.#fetchSession(true)
        .then((s) => (s ? this.#retryStream(h, null) : undefined))
        .catch(() => this.#retryStream(h, null))
    }
  }

  #streamRefused(h: StreamHandle, status: number, retryAfter: number | null): void {
    if (this.#stream !== h) return
    if (status === 401) {
      // The cookie no longer names a session: confirm with the session
      // endpoint, whose answer ends the session (and this stream) or not.
      this.#fetchSession(true)
        .then((s) => (s ? this.#retryStream(h, retryAfter) : undefined))
        .catch(() => this.#retryStream(h, retryAfter))
      return
    }
    if (status === 404 || status === 405) {
      // A sessiond without the stream: live revocation is off for this manager.
      this.#streamUnsupported = true
      this.#closeStream()
      return
    }
    this.#retryStream(h, retryAfter)
  }

  #onStreamEvent(h: StreamHandle, ev: StreamEvent): void {
    if (this.#stream !== h) return
    switch (ev.event) {
      case 'ready':
        if (this.#streamAttempts > 0) {
          // Events may have been missed while the stream was down.
          this.#streamAttempts = 0
          this.#fetchSession(true).catch(noop)
        }
        break
      case 'changed':
        this.#gen++
        this.#inflight = null
        this.#fetchSession(true).catch(noop)
        break
      case 'revoked':
      case 'expired': {
        h.final = true
        this.#closeStream()
        this.#changed(null, 'logout', reasonOf(ev.data) ?? ev.event)
        break
      }
      case 'unknown':
        // A store or change-feed outage: the session is unknown, not ended.
        h.final = true
        this.#retryStream(h, null)
        break
    }
  }
}

interface StreamHandle {
  ctrl: AbortController
  timer: ReturnType<typeof setTimeout> | null
  waiting: boolean
  es: EventSource | null
  final: boolean
}

/** createSessionManager returns a manager for sessiond at another origin (or with other options). */
export function createSessionManager(options: SessionManagerOptions = {}): SessionManager {
  return new SessionManager(options)
}

function reasonOf(data: string): string | undefined {
  try {
    const v = JSON.parse(data) as { reason?: unknown }
    return typeof v.reason === 'string' ? v.reason : undefined
  } catch {
    return undefined
  }
}

function sameState(a: SessionState, b: SessionState): boolean {
  return (
    a.status === b.status &&
    a.error === b.error &&
    a.endedReason === b.endedReason &&
    a.devicesVersion === b.devicesVersion &&
    JSON.stringify(a.session) === JSON.stringify(b.session)
  )
}

async function readJSON(res: Response): Promise<unknown> {
  const text = await res.text()
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new SessiondError(`sessiond answered ${res.status} with a body that is not JSON`, {
      status: res.status,
      code: 'invalid_answer',
      body: text,
      response: res,
      cause,
    })
  }
}

function noop(): void {}
