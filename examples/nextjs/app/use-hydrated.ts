'use client'

import { useEffect, useState } from 'react'

// useHydrated is false in the server's HTML and until React has taken over
// the page. Buttons that need the page's scripts stay disabled until then:
// a click before would be lost, and a login form would be submitted by the
// browser itself, the password in the URL.
export function useHydrated(): boolean {
  const [hydrated, setHydrated] = useState(false)
  useEffect(() => setHydrated(true), [])
  return hydrated
}
