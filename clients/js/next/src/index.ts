// @sessiond/next: sessiond for Next.js on the server: route handlers
// (App and Pages Router), Server Components and Server Actions, proxy.ts.

export {
  withServerSession,
  getServerSession,
  unavailableResponse,
  type SessionRequest,
  type SessionApiRequest,
  type AppRouteHandler,
  type PagesApiHandler,
  type SessionRouteOptions,
} from './route.js'
export { sessionMiddleware, defaultLegacyCookies, legacyCookieMatcher, type SessionMiddlewareOptions } from './proxy.js'
export { safeNextPath } from './redirect.js'
export { validateSession, sessionCookies, type ServerOptions, type ForwardedRequest } from './validate.js'
export {
  SessionUnavailableError,
  SessiondError,
  isSessionUnknown,
  type Session,
  type User,
  type SessionDetails,
} from '@sessiond/client'
