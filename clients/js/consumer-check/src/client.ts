// The design note's "Direct Session Management" snippet, as written.
import sessionManager from '@sessiond/client'
import {
  createSessionManager,
  isSessionUnknown,
  ReauthRequiredError,
  SessionUnavailableError,
  ThrottledError,
  type DeviceSession,
  type Session,
  type SessionState,
} from '@sessiond/client'

export async function designNote(email: string, password: string): Promise<void> {
  await sessionManager.getSession() // cached
  await sessionManager.createSession(email, password)
  await sessionManager.logout()
  sessionManager.clearCache()
}

export async function otherOrigin(): Promise<string | null> {
  const m = createSessionManager({ baseUrl: 'https://auth.example.com', cacheTtlMs: 2000 })
  const unsubscribe = m.subscribe((state: SessionState) => void state.session?.user.tenantId)
  try {
    const s: Session | null = await m.getSession()
    const devices: DeviceSession[] = await m.listSessions()
    const n: number = await m.revokeOthers().catch(async (err: unknown) => {
      if (err instanceof ReauthRequiredError) await m.reauth('password')
      return 0
    })
    const updated: Session = await m.updateData({ theme: 'dark' }, { version: s?.dataVersion ?? 0 })
    const events = await m.events({ limit: 10 })
    return `${devices.length} ${n} ${updated.dataVersion} ${events[0]?.type ?? ''}`
  } catch (err) {
    if (err instanceof ThrottledError) return `retry in ${err.retryAfter ?? '?'} s`
    if (err instanceof SessionUnavailableError || isSessionUnknown(err)) return m.getState().session?.user.email ?? null
    throw err
  } finally {
    unsubscribe()
  }
}
