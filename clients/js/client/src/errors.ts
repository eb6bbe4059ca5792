// One error class per kind of failure, each carrying the HTTP status, the
// server's error code and the parsed body, so that callers branch with
// `instanceof` or on `code`, never on message text.

/** ErrorBody is the JSON body of every sessiond error: `{error, message}`. */
export interface ErrorBody {
  error: string
  message: string
}

/**
 * SessiondError is the base of every error the packages throw for an answer
 * of sessiond (or the lack of one). `status` is the HTTP status (0 when no
 * answer arrived), `code` the server's `error` field, `body` the parsed body
 * (null when it was not JSON).
 */
export class SessiondError extends Error {
  readonly status: number
  readonly code: string
  readonly body: unknown
  readonly response: Response | undefined

  constructor(message: string, init: { status: number; code: string; body?: unknown; response?: Response; cause?: unknown }) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = new.target.name
    this.status = init.status
    this.code = init.code
    this.body = init.body ?? null
    this.response = init.response
  }
}

/** UnauthenticatedError: 401 `unauthenticated`, no valid session. */
export class UnauthenticatedError extends SessiondError {}

/** InvalidCredentialsError: 401 `invalid_credentials` at login. */
export class InvalidCredentialsError extends SessiondError {}

/** ReauthRequiredError: 403 `reauth_required`; `reauth(password)` fixes it. */
export class ReauthRequiredError extends SessiondError {}

/** WrongPasswordError: 403 `wrong_password` at reauth or password change; not a logout. */
export class WrongPasswordError extends SessiondError {}

/** InvalidInputError: 400 (`invalid_input`, `malformed_json`). */
export class InvalidInputError extends SessiondError {}

/** NotFoundError: 404, e.g. revoking a session id that is not the caller's. */
export class NotFoundError extends SessiondError {}

/** ConflictError: 409 (`conflict` on a stale data version, `session_limit_reached`). */
export class ConflictError extends SessiondError {}

/** ThrottledError: 429; `retryAfter` is the Retry-After header in seconds (null without one). */
export class ThrottledError extends SessiondError {
  readonly retryAfter: number | null
  constructor(message: string, init: ConstructorParameters<typeof SessiondError>[1] & { retryAfter: number | null }) {
    super(message, init)
    this.retryAfter = init.retryAfter
  }
}

/**
 * SessionUnavailableError: sessiond answered 503 (`unavailable`: its store
 * did not answer; `busy`: every password-hashing slot is taken) or a gateway
 * in front of it answered 502 or 504. The session is unknown, never ended:
 * the manager keeps the last session it knew.
 */
export class SessionUnavailableError extends SessiondError {
  readonly retryAfter: number | null
  constructor(message: string, init: ConstructorParameters<typeof SessiondError>[1] & { retryAfter?: number | null }) {
    super(message, init)
    this.retryAfter = init.retryAfter ?? null
  }
}

/** NetworkError: no answer at all (fetch rejected: refused, reset, timed out). The session is unknown. */
export class NetworkError extends SessiondError {}

/**
 * isSessionUnknown reports whether an error leaves the session unknown
 * rather than ended: an outage, a network failure or a server error. Only
 * UnauthenticatedError means "logged out".
 */
export function isSessionUnknown(err: unknown): boolean {
  return err instanceof SessionUnavailableError || err instanceof NetworkError || (err instanceof SessiondError && err.status >= 500)
}

/** parseRetryAfter reads a Retry-After header (seconds or an HTTP date) as seconds. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === '') return null
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v)
  const at = Date.parse(v)
  if (Number.isNaN(at)) return null
  return Math.max(0, Math.ceil((at - now) / 1000))
}

/**
 * errorFromResponse builds the typed error for a non-2xx answer of sessiond,
 * reading its `{error, message}` body.
 */
export async function errorFromResponse(res: Response): Promise<SessiondError> {
  let body: unknown = null
  try {
    body = JSON.parse(await res.text())
  } catch {
    body = null
  }
  const b = isErrorBody(body) ? body : null
  const code = b?.error ?? defaultCode(res.status)
  const message = `sessiond answered ${res.status} ${code}${b?.message ? `: ${b.message}` : ''}`
  const init = { status: res.status, code, body, response: res }
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'))
  switch (res.status) {
    case 400:
      return new InvalidInputError(message, init)
    case 401:
      return code === 'invalid_credentials' ? new InvalidCredentialsError(message, init) : new UnauthenticatedError(message, init)
    case 403:
      if (code === 'reauth_required') return new ReauthRequiredError(message, init)
      if (code === 'wrong_password') return new WrongPasswordError(message, init)
      return new SessiondError(message, init)
    case 404:
      return new NotFoundError(message, init)
    case 409:
      return new ConflictError(message, init)
    case 429:
      return new ThrottledError(message, { ...init, retryAfter })
    case 502:
    case 503:
    case 504:
      return new SessionUnavailableError(`${message} (the session is unknown, not ended)`, { ...init, retryAfter })
    default:
      return new SessiondError(message, init)
  }
}

/** networkError wraps a rejected fetch. */
export function networkError(cause: unknown, what: string): NetworkError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  return new NetworkError(`${what}: no answer from sessiond (${reason}); the session is unknown, not ended`, {
    status: 0,
    code: 'network_error',
    cause,
  })
}

function isErrorBody(v: unknown): v is ErrorBody {
  return typeof v === 'object' && v !== null && typeof (v as ErrorBody).error === 'string'
}

function defaultCode(status: number): string {
  switch (status) {
    case 401:
      return 'unauthenticated'
    case 429:
      return 'too_many_requests'
    case 502:
    case 503:
    case 504:
      return 'unavailable'
    default:
      return `http_${status}`
  }
}
