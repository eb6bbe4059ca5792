import { SessionProvider } from '@sessiond/react'
import { pageSession } from '../../server-session'
import Unavailable from '../../unavailable'
import Devices from './devices'

export default async function SessionsPage() {
  const session = await pageSession('/account/sessions')
  if (session === 'unavailable') return <Unavailable />
  return (
    <SessionProvider session={session}>
      <Devices />
    </SessionProvider>
  )
}
