// The session as the packages expose it: camelCase, with defaults for
// fields the server may add later. The server's JSON is snake_case; the
// functions at the end of this file are the one place that converts it.

/** User is the signed-in user, as the server's records say (never as the browser says). */
export interface User {
  id: string
  email: string
  tenantId: string
  needsOnboarding: boolean
  onboardingStep: string
  /** Attributes the application authorizes on; `{}` when the server sends none. */
  attributes: Record<string, unknown>
}

/** SessionDetails describes the session itself. Times are RFC 3339 strings. */
export interface SessionDetails {
  /** The public handle of the session (a UUID), never a credential. */
  id: string
  createdAt: string
  lastActivity: string
  expiresAt: string
  idleExpiresAt: string
  authenticatedAt: string
  ipAddress: string
  userAgent: string
  /** A label taken from the user agent ("Firefox on Linux"). */
  device: string
  /** Anomaly flags such as `agent_changed`, `network_changed`. */
  flags: string[]
}

/** Session is the answer of `GET /api/auth/session-v2` for a signed-in user. */
export interface Session {
  authenticated: boolean
  user: User
  session: SessionDetails
  /** The session's application data (a JSON object, at most 8 KiB). */
  data: Record<string, unknown>
  /** The version of `data`, for conditional updates. */
  dataVersion: number
}

/** DeviceSession is one entry of the device list (`GET /api/auth/sessions`). */
export interface DeviceSession {
  id: string
  device: string
  ipAddress: string
  userAgent: string
  createdAt: string
  lastActivity: string
  expiresAt: string
  flags: string[]
  /** True for the session making the request. */
  current: boolean
}

/** AuditEvent is one entry of the caller's audit trail (`GET /api/auth/events`). */
export interface AuditEvent {
  id: string
  /** login, login_failed, logout, session_revoked, new_device, anomaly, reauth, password_changed… */
  type: string
  userId: string
  /** The public id of the session concerned. */
  sessionId: string
  ipAddress: string
  userAgent: string
  at: string
  detail: Record<string, string>
}

type Json = Record<string, unknown>

/**
 * toSession converts the server's snake_case session answer. It is exported
 * for @sessiond/next and for applications that read the API themselves.
 */
export function toSession(raw: unknown): Session {
  const r = obj(raw)
  const u = obj(r.user)
  const s = obj(r.session)
  return {
    authenticated: r.authenticated === true,
    user: {
      id: str(u.id),
      email: str(u.email),
      tenantId: str(u.tenant_id),
      needsOnboarding: u.needs_onboarding === true,
      onboardingStep: str(u.onboarding_step),
      attributes: isObj(u.attributes) ? u.attributes : {},
    },
    session: {
      id: str(s.id),
      createdAt: str(s.created_at),
      lastActivity: str(s.last_activity),
      expiresAt: str(s.expires_at),
      idleExpiresAt: str(s.idle_expires_at),
      authenticatedAt: str(s.authenticated_at),
      ipAddress: str(s.ip_address),
      userAgent: str(s.user_agent),
      device: str(s.device),
      flags: strs(s.flags),
    },
    data: isObj(r.data) ? r.data : {},
    dataVersion: typeof r.data_version === 'number' ? r.data_version : 0,
  }
}

/** toDeviceSession converts one entry of the server's device list. */
export function toDeviceSession(raw: unknown): DeviceSession {
  const d = obj(raw)
  return {
    id: str(d.id),
    device: str(d.device),
    ipAddress: str(d.ip_address),
    userAgent: str(d.user_agent),
    createdAt: str(d.created_at),
    lastActivity: str(d.last_activity),
    expiresAt: str(d.expires_at),
    flags: strs(d.flags),
    current: d.current === true,
  }
}

/** toAuditEvent converts one entry of the server's audit trail. */
export function toAuditEvent(raw: unknown): AuditEvent {
  const e = obj(raw)
  const detail: Record<string, string> = {}
  for (const [k, v] of Object.entries(obj(e.detail))) detail[k] = str(v)
  return {
    id: str(e.id),
    type: str(e.type),
    userId: str(e.user_id),
    sessionId: str(e.session_id),
    ipAddress: str(e.ip_address),
    userAgent: str(e.user_agent),
    at: str(e.at),
    detail,
  }
}

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function obj(v: unknown): Json {
  return isObj(v) ? v : {}
}

function str(v: unknown): string {
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return ''
}

function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.map(str) : []
}
