import { pageSession } from '../server-session'
import Unavailable from '../unavailable'

// Account is a Server Component only: the HTML the server sends already
// carries the user, and a request without a session is redirected here,
// not just in proxy.ts.
export default async function Account() {
  const session = await pageSession('/account')
  if (session === 'unavailable') return <Unavailable />
  const { user, session: s } = session
  return (
    <main>
      <h1>Account</h1>
      <table>
        <tbody>
          <tr>
            <th>Email</th>
            <td data-testid="email">{user.email}</td>
          </tr>
          <tr>
            <th>User id</th>
            <td data-testid="user-id">{user.id}</td>
          </tr>
          <tr>
            <th>Tenant</th>
            <td data-testid="tenant">{user.tenantId}</td>
          </tr>
          <tr>
            <th>This device</th>
            <td>{s.device}</td>
          </tr>
        </tbody>
      </table>
      <p>
        <a href="/account/sessions">Devices and password</a>
      </p>
    </main>
  )
}
