// The design note's React snippet, as written, under a SessionProvider
// given the session read on the server.
import { SessionProvider, useSession, useSessions } from '@sessiond/react'
import type { Session } from '@sessiond/client'

function MyComponent() {
  const { user, isAuthenticated, loading, needsOnboarding, tenantId } = useSession()

  if (loading) return <div>Loading...</div>
  if (!isAuthenticated) return <div>Please login</div>

  return (
    <div>
      Welcome {user?.email}! {needsOnboarding ? 'onboarding' : tenantId}
    </div>
  )
}

function Devices() {
  const { sessions, revoke, revokeOthers, refresh, error } = useSessions()
  return (
    <ul>
      {sessions.map((d) => (
        <li key={d.id}>
          {d.device} {d.current ? '(this one)' : <button onClick={() => void revoke(d.id)}>end</button>}
        </li>
      ))}
      <button onClick={() => void revokeOthers().then(refresh)}>end the others</button>
      {error ? <p>{error.code}</p> : null}
    </ul>
  )
}

export function App({ session }: { session: Session | null }) {
  const { refresh, session: full, error } = useSession()
  void refresh
  void full?.data
  void error?.status
  return (
    <SessionProvider session={session} refetchOnWindowFocus={false}>
      <MyComponent />
      <Devices />
    </SessionProvider>
  )
}
