// A Server Component and a Server Action.
import { getServerSession, SessionUnavailableError } from '@sessiond/next'
import { SessionProvider } from '@sessiond/react'

export default async function Layout({ children }: { children: React.ReactNode }) {
  const session = await getServerSession()
  return <SessionProvider session={session}>{children}</SessionProvider>
}

export async function saveTheme(theme: string): Promise<string> {
  'use server'
  try {
    const session = await getServerSession({ timeoutMs: 1500 })
    if (!session) return 'signed out'
    return `${session.user.id}: ${theme}`
  } catch (err) {
    if (err instanceof SessionUnavailableError) return 'try again'
    throw err
  }
}
