'use client'

import { SessionProvider } from '@sessiond/react'
import type { ReactNode } from 'react'

// Providers gives every page the session of the browser's sid cookie,
// fetched by @sessiond/client through the /api/auth rewrite. Pages that
// read the session on the server nest a provider seeded with it, so their
// first paint already has the user.
export default function Providers({ children }: { children: ReactNode }) {
  return <SessionProvider>{children}</SessionProvider>
}
