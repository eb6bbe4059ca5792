/**
 * safeNextPath returns value when it is a path on this site that a login
 * page may send the browser back to, and fallback otherwise: it must start
 * with one "/", and not "//" or "/\" (another host to browsers), carry no
 * control characters (CR/LF would split headers), no backslash and no
 * scheme. Use it on the login page too, before following `next`.
 */
export function safeNextPath(value: string | null | undefined, fallback = '/'): string {
  if (typeof value !== 'string' || value === '' || value.length > 2048) return fallback
  if (!value.startsWith('/') || value.startsWith('//')) return fallback
  if (value.includes('\\')) return fallback
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return fallback
  let decoded = value
  try {
    decoded = decodeURIComponent(value)
  } catch {
    return fallback
  }
  // Percent-encoded variants of the same tricks ("/%2F/evil", "/%5Cevil").
  // eslint-disable-next-line no-control-regex
  if (decoded.startsWith('//') || decoded.includes('\\') || /[\u0000-\u001f\u007f]/.test(decoded)) return fallback
  try {
    const u = new URL(value, 'http://x.invalid')
    if (u.origin !== 'http://x.invalid') return fallback
  } catch {
    return fallback
  }
  return value
}
