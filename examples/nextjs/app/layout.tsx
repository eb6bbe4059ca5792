import type { Metadata } from 'next'
import type { ReactNode } from 'react'
import Providers from './providers'
import './globals.css'

export const metadata: Metadata = {
  title: 'sessiond on Next.js',
  description: 'A Next.js application whose sessions live in sessiond',
}

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header>
          <a href="/" className="brand">
            Acme
          </a>
          <nav>
            <a href="/">Dashboard</a>
            <a href="/account">Account</a>
            <a href="/account/sessions">Devices</a>
          </nav>
        </header>
        <Providers>{children}</Providers>
      </body>
    </html>
  )
}
