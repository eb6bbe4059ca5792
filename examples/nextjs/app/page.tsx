import { SessionProvider } from '@sessiond/react'
import { redirect } from 'next/navigation'
import Dashboard from './dashboard'
import { pageSession } from './server-session'
import Unavailable from './unavailable'

// The dashboard: the server checks the session (first paint has the user),
// the client part follows it live (logout in another tab, revocation from
// another device, an outage).
export default async function Home() {
  const session = await pageSession('/')
  if (session === 'unavailable') return <Unavailable />
  if (session.user.needsOnboarding) redirect('/onboarding')
  return (
    <SessionProvider session={session}>
      <Dashboard />
    </SessionProvider>
  )
}
