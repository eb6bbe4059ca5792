'use client'
// @sessiond/react: SessionProvider, useSession and useSessions over a
// @sessiond/client SessionManager.
//
//   const { user, isAuthenticated, loading, needsOnboarding, tenantId } = useSession()

import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from 'react'
import defaultManager, {
  SessiondError,
  type DeviceSession,
  type Session,
  type SessionManager,
  type SessionState,
  type User,
} from '@sessiond/client'

interface ProviderValue {
  manager: SessionManager
  initial: Session | null | undefined
  refetchOnWindowFocus: boolean
}

const SessionContext = createContext<ProviderValue | null>(null)

/** SessionProviderProps: every prop is optional. */
export interface SessionProviderProps {
  children?: ReactNode
  /** The manager to use. Default: the same-origin singleton of @sessiond/client. */
  manager?: SessionManager
  /**
   * The session the server already read (getServerSession() of
   * @sessiond/next), or null for a signed-out visitor, so that the first
   * render is not "loading". Undefined: not known, fetch it.
   */
  session?: Session | null
  /** Revalidate when the tab becomes visible again. Default true (turn it off on mobile if it costs too much). */
  refetchOnWindowFocus?: boolean
  /** Revalidate every this many seconds while mounted (0: never). Default 0. */
  refetchInterval?: number
}

/**
 * SessionProvider gives its subtree a manager and, optionally, the session
 * read on the server. Without a provider the hooks use the singleton.
 */
export function SessionProvider(props: SessionProviderProps): ReactNode {
  const { manager = defaultManager, session, refetchOnWindowFocus = true, refetchInterval = 0, children } = props
  const value = useMemo<ProviderValue>(
    () => ({ manager, initial: session, refetchOnWindowFocus }),
    [manager, session, refetchOnWindowFocus],
  )
  useEffect(() => {
    if (!refetchInterval || refetchInterval <= 0) return undefined
    const t = setInterval(() => {
      manager.getSession({ force: true }).catch(noop)
    }, refetchInterval * 1000)
    return () => clearInterval(t)
  }, [manager, refetchInterval])
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
}

/** UseSessionResult is what useSession returns. */
export interface UseSessionResult {
  /** The signed-in user, or null. */
  user: User | null
  isAuthenticated: boolean
  /** True until the first answer (never true when the provider was given a session). */
  loading: boolean
  needsOnboarding: boolean
  /** The user's tenant, or null when signed out. */
  tenantId: string | null
  /** The whole session (user, session details, data), or null. */
  session: Session | null
  /** The last error; an outage keeps `session` (an outage is never a logout). */
  error: SessiondError | null
  /** refresh asks the server again; it never rejects (a failure lands in `error`). */
  refresh: () => Promise<Session | null>
}

const loadingState: SessionState = { status: 'loading', session: null, error: null, endedReason: null, devicesVersion: 0 }

function stateOf(session: Session | null): SessionState {
  return {
    status: session ? 'authenticated' : 'unauthenticated',
    session,
    error: null,
    endedReason: null,
    devicesVersion: 0,
  }
}

// useManagerState subscribes to the manager. On the server, and while
// hydrating, it shows the provider's initial session (never the manager's
// state: on a server the singleton is shared by every request).
function useManagerState(): { manager: SessionManager; state: SessionState } {
  const ctx = useContext(SessionContext)
  const manager = ctx?.manager ?? defaultManager
  const initial = ctx?.initial
  const focus = ctx?.refetchOnWindowFocus ?? true
  const initialState = useMemo(() => (initial === undefined ? loadingState : stateOf(initial)), [initial])
  const subscribe = useCallback((onChange: () => void) => manager.subscribe(onChange, { revalidateOnFocus: focus }), [manager, focus])
  const getSnapshot = useCallback(() => {
    const s = manager.getState()
    return s.status === 'loading' && initial !== undefined ? initialState : s
  }, [manager, initial, initialState])
  const getServerSnapshot = useCallback(() => initialState, [initialState])
  const state = useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot)
  useEffect(() => {
    if (initial !== undefined) {
      const known = manager.getState()
      if (known.status === 'loading') {
        manager.hydrate(initial)
      } else if ((known.session?.session.id ?? null) !== (initial?.session.id ?? null)) {
        // The server rendered another session than the one known here (a
        // login or logout in a Server Action): ask again.
        manager.getSession({ force: true }).catch(noop)
        return
      }
    }
    manager.getSession().catch(noop)
  }, [manager, initial])
  return { manager, state }
}

/**
 * useSession returns the session of the nearest SessionProvider (or of the
 * singleton). It never throws during render; it re-renders when the session
 * changes here, in another tab, or is revoked elsewhere.
 */
export function useSession(): UseSessionResult {
  const { manager, state } = useManagerState()
  const refresh = useCallback(() => manager.getSession({ force: true }).catch(() => manager.getState().session), [manager])
  return useMemo(() => {
    const s = state.session
    return {
      user: s?.user ?? null,
      isAuthenticated: s !== null,
      loading: state.status === 'loading',
      needsOnboarding: s?.user.needsOnboarding ?? false,
      tenantId: s?.user.tenantId ?? null,
      session: s,
      error: state.error,
      refresh,
    }
  }, [state, refresh])
}

/** UseSessionsResult is what useSessions returns. */
export interface UseSessionsResult {
  /** The caller's live sessions, most recently active first (empty when signed out). */
  sessions: DeviceSession[]
  loading: boolean
  error: SessiondError | null
  /** revoke ends one session (the current one: a logout). It rejects with the typed error (e.g. NotFoundError). */
  revoke: (id: string) => Promise<void>
  /** revokeOthers ends every other session; it rejects with ReauthRequiredError when a fresh password check is needed. */
  revokeOthers: () => Promise<number>
  /** refresh reloads the list; it never rejects. */
  refresh: () => Promise<void>
}

/**
 * useSessions lists the caller's devices and reloads the list whenever it
 * may have changed (a revocation here or in another tab, a new login).
 */
export function useSessions(): UseSessionsResult {
  const { manager, state } = useManagerState()
  const [list, setList] = useState<{ sessions: DeviceSession[]; loading: boolean; error: SessiondError | null }>({
    sessions: [],
    loading: true,
    error: null,
  })
  const sessionId = state.session?.session.id ?? null
  const authenticated = state.status === 'authenticated'
  const known = state.status !== 'loading'

  const load = useCallback(async (isCurrent: () => boolean = () => true) => {
    try {
      const sessions = await manager.listSessions()
      if (isCurrent()) setList({ sessions, loading: false, error: null })
    } catch (err) {
      if (isCurrent()) setList((prev) => ({ ...prev, loading: false, error: err instanceof SessiondError ? err : null }))
    }
  }, [manager])

  useEffect(() => {
    if (!known) return undefined
    if (!authenticated) {
      setList({ sessions: [], loading: false, error: null })
      return undefined
    }
    let current = true
    void load(() => current)
    return () => {
      current = false
    }
  }, [load, known, authenticated, sessionId, state.devicesVersion])

  const revoke = useCallback((id: string) => manager.revokeSession(id), [manager])
  const revokeOthers = useCallback(() => manager.revokeOthers(), [manager])
  const refresh = useCallback(() => load(), [load])
  return useMemo(() => ({ ...list, revoke, revokeOthers, refresh }), [list, revoke, revokeOthers, refresh])
}

export type { Session, User, DeviceSession, SessionManager } from '@sessiond/client'

function noop(): void {}
