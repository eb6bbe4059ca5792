'use client'

import sessionManager from '@sessiond/client'
import { useSession } from '@sessiond/react'
import { useRouter } from 'next/navigation'
import { useEffect, useState } from 'react'
import { isUnavailable } from './errors'
import { useHydrated } from './use-hydrated'

export default function Dashboard() {
  const { user, isAuthenticated, loading, needsOnboarding, tenantId, error, refresh } = useSession()
  const router = useRouter()
  const [busy, setBusy] = useState(false)
  const hydrated = useHydrated()

  useEffect(() => {
    if (needsOnboarding) router.replace('/onboarding')
  }, [needsOnboarding, router])

  const unavailable = isUnavailable(error)
  if (loading) return <main>Loading…</main>
  if (!isAuthenticated || !user) {
    return (
      <main>
        {unavailable ? (
          <p className="notice" data-testid="unavailable">
            The session service is unavailable. Try again in a moment.
          </p>
        ) : (
          <p data-testid="signed-out">
            You are signed out. <a href="/login">Sign in</a>
          </p>
        )}
      </main>
    )
  }
  return (
    <main>
      {unavailable && (
        <p className="notice" data-testid="unavailable">
          The session service is unavailable. You are still signed in; try again in a moment.
        </p>
      )}
      <h1>Welcome {user.email}</h1>
      <p>
        Tenant: <strong data-testid="tenant">{tenantId}</strong>
      </p>
      <p>
        <a href="/account/sessions">Your devices</a>
      </p>
      <button className="secondary" disabled={!hydrated} onClick={() => refresh()}>
        Refresh
      </button>{' '}
      <button
        disabled={!hydrated || busy}
        onClick={async () => {
          setBusy(true)
          try {
            await sessionManager.logout()
          } finally {
            setBusy(false)
          }
        }}
      >
        Sign out
      </button>
    </main>
  )
}
