// Next 16's proxy.ts (formerly middleware.ts).
import type { NextRequest } from 'next/server.js'
import { sessionMiddleware, safeNextPath } from '@sessiond/next'

export async function proxy(request: NextRequest) {
  return sessionMiddleware(request, { protect: ['/account', /^\/admin(\/|$)/], loginUrl: '/login' })
}

export const config = { matcher: ['/((?!_next/static|_next/image|favicon.ico).*)'] }

export function afterLogin(next: string | null): string {
  return safeNextPath(next, '/')
}
