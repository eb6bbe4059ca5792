// @sessiond/client: the browser (and server) client of sessiond.
//
//   import sessionManager from '@sessiond/client'
//   await sessionManager.getSession()        // cached
//   await sessionManager.createSession(email, password)
//   await sessionManager.logout()
//   sessionManager.clearCache()

import { createSessionManager } from './manager.js'

export {
  SessionManager,
  createSessionManager,
  channelName,
  paths,
  type CreateSessionOptions,
  type SessionManagerOptions,
  type SessionState,
  type SessionStatus,
  type SubscribeOptions,
  type UpdateDataOptions,
} from './manager.js'
export {
  SessiondError,
  UnauthenticatedError,
  InvalidCredentialsError,
  ReauthRequiredError,
  WrongPasswordError,
  InvalidInputError,
  NotFoundError,
  ConflictError,
  ThrottledError,
  SessionUnavailableError,
  NetworkError,
  isSessionUnknown,
  errorFromResponse,
  parseRetryAfter,
  type ErrorBody,
} from './errors.js'
export { FocusManager, OnlineManager, focusManager, onlineManager, type EventSetup } from './focus.js'
export { EventStreamParser, type StreamEvent } from './sse.js'
export {
  toSession,
  toDeviceSession,
  toAuditEvent,
  type Session,
  type User,
  type SessionDetails,
  type DeviceSession,
  type AuditEvent,
} from './types.js'

/**
 * sessionManager is the manager for sessiond on the page's own origin.
 * Creating it touches nothing of the browser, so server code may import it.
 */
const sessionManager = createSessionManager()
export { sessionManager }
export default sessionManager
