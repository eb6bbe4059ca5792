import {
  InvalidCredentialsError,
  isSessionUnknown,
  ReauthRequiredError,
  ThrottledError,
  UnauthenticatedError,
  WrongPasswordError,
} from '@sessiond/client'

// The kinds of failure the pages tell apart, by the client's error classes.
// "Unavailable" covers a 503 of sessiond, no answer, and the 500 that Next
// itself answers when its rewrite cannot reach sessiond: the session is
// unknown then, never ended.
export const isUnavailable = isSessionUnknown

export function isReauthRequired(e: unknown): boolean {
  return e instanceof ReauthRequiredError
}

export function loginErrorMessage(e: unknown): string {
  if (e instanceof InvalidCredentialsError) return 'Wrong email or password.'
  if (e instanceof ThrottledError) {
    const s = e.retryAfter ?? 1
    return `Too many attempts. Try again in ${s} second${s === 1 ? '' : 's'}.`
  }
  return errorMessage(e)
}

export function errorMessage(e: unknown): string {
  if (isUnavailable(e)) return 'The session service is unavailable. Try again in a moment.'
  if (e instanceof WrongPasswordError) return 'That password is not right.'
  if (e instanceof UnauthenticatedError) return 'You are signed out.'
  return e instanceof Error ? e.message : String(e)
}
