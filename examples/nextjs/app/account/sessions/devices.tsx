'use client'

import sessionManager from '@sessiond/client'
import { useSession, useSessions } from '@sessiond/react'
import { useState, type FormEvent } from 'react'
import { errorMessage, isReauthRequired, isUnavailable } from '../../errors'
import { useHydrated } from '../../use-hydrated'

// Devices lists the user's signed-in browsers and ends them. Ending all the
// others and changing the password need a recent password check: when
// sessiond answers reauth_required, the page asks for the password, calls
// reauth, and tries again.
export default function Devices() {
  const { user, isAuthenticated, error: sessionError } = useSession()
  const { sessions, loading, error, revoke, revokeOthers, refresh } = useSessions()
  const [message, setMessage] = useState('')
  const [failure, setFailure] = useState('')
  const [askPassword, setAskPassword] = useState(false)
  const [password, setPassword] = useState('')
  const hydrated = useHydrated()

  if (!isAuthenticated) {
    return (
      <main>
        {isUnavailable(sessionError) ? (
          <p className="notice" data-testid="unavailable">
            The session service is unavailable. Try again in a moment.
          </p>
        ) : (
          <p data-testid="signed-out">
            You are signed out. <a href="/login?next=%2Faccount%2Fsessions">Sign in</a>
          </p>
        )}
      </main>
    )
  }

  async function endOthers() {
    setFailure('')
    setMessage('')
    try {
      const n = await revokeOthers()
      setMessage(typeof n === 'number' ? `Signed out ${n} other device${n === 1 ? '' : 's'}.` : 'Signed out the other devices.')
    } catch (e) {
      if (isReauthRequired(e)) setAskPassword(true)
      else setFailure(errorMessage(e))
    }
  }

  async function confirm(e: FormEvent) {
    e.preventDefault()
    setFailure('')
    try {
      await sessionManager.reauth(password)
    } catch (err) {
      setFailure(errorMessage(err))
      return
    }
    setAskPassword(false)
    setPassword('')
    await endOthers()
  }

  return (
    <main>
      <h1>Your devices</h1>
      <p className="muted">Signed in as {user?.email}. Every browser signed in to your account:</p>
      {error != null && <p className="error">{errorMessage(error)}</p>}
      {loading && sessions.length === 0 ? (
        <p>Loading…</p>
      ) : (
        <table data-testid="devices">
          <thead>
            <tr>
              <th>Device</th>
              <th>Address</th>
              <th>Last active</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sessions.map((s) => (
              <tr key={s.id} data-session-id={s.id}>
                <td>
                  {s.device} {s.current && <span className="badge">this device</span>}
                </td>
                <td>{s.ipAddress}</td>
                <td>{formatTime(s.lastActivity)}</td>
                <td>
                  {!s.current && (
                    <button
                      className="danger"
                      onClick={async () => {
                        setFailure('')
                        try {
                          await revoke(s.id)
                        } catch (err) {
                          setFailure(errorMessage(err))
                        }
                      }}
                    >
                      Sign out
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <button className="danger" disabled={!hydrated} onClick={endOthers}>
        Sign out all other devices
      </button>{' '}
      <button className="secondary" disabled={!hydrated} onClick={() => refresh()}>
        Refresh
      </button>
      {askPassword && (
        <form onSubmit={confirm} aria-label="Confirm your password">
          <label htmlFor="reauth-password">Confirm your password to continue</label>
          <input id="reauth-password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          <button type="submit">Confirm</button>
        </form>
      )}
      {message && (
        <p className="ok" role="status" data-testid="devices-message">
          {message}
        </p>
      )}
      {failure && (
        <p className="error" role="alert" data-testid="devices-error">
          {failure}
        </p>
      )}
      <ChangePassword onChanged={refresh} />
    </main>
  )
}

function ChangePassword({ onChanged }: { onChanged: () => unknown }) {
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null)
  const hydrated = useHydrated()

  async function submit(e: FormEvent) {
    e.preventDefault()
    setResult(null)
    try {
      try {
        await sessionManager.changePassword(current, next)
      } catch (err) {
        if (!isReauthRequired(err)) throw err
        // The current password is the password check the server asks for.
        await sessionManager.reauth(current)
        await sessionManager.changePassword(current, next)
      }
      setCurrent('')
      setNext('')
      setResult({ ok: true, text: 'Password changed. Your other devices were signed out.' })
      onChanged()
    } catch (err) {
      setResult({ ok: false, text: errorMessage(err) })
    }
  }

  return (
    <form onSubmit={submit} aria-label="Change password">
      <h2>Change password</h2>
      <label htmlFor="current-password">Current password</label>
      <input id="current-password" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
      <label htmlFor="new-password">New password</label>
      <input id="new-password" type="password" autoComplete="new-password" minLength={8} value={next} onChange={(e) => setNext(e.target.value)} required />
      <button type="submit" disabled={!hydrated}>
        Change password
      </button>
      {result && (
        <p className={result.ok ? 'ok' : 'error'} role={result.ok ? 'status' : 'alert'} data-testid="password-result">
          {result.text}
        </p>
      )}
    </form>
  )
}

function formatTime(t: string | Date | undefined): string {
  if (!t) return ''
  const d = new Date(t)
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC'
}
