import { getServerSession, SessionUnavailableError } from '@sessiond/next'
import { redirect } from 'next/navigation'

export type PageSession = NonNullable<Awaited<ReturnType<typeof getServerSession>>>

// pageSession is the check a protected page makes itself, whatever proxy.ts
// did before it (a proxy can be bypassed: CVE-2025-29927): the session of
// the request's sid cookie, a redirect to the login page without one, or
// 'unavailable' when sessiond does not answer (never taken for a logout).
export async function pageSession(path: string): Promise<PageSession | 'unavailable'> {
  let session
  try {
    session = await getServerSession()
  } catch (e) {
    if (e instanceof SessionUnavailableError) return 'unavailable'
    throw e
  }
  if (!session) redirect(`/login?next=${encodeURIComponent(path)}`)
  return session
}
