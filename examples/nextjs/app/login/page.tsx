import { safeNextPath } from '@sessiond/next'
import LoginForm from './login-form'

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ next?: string | string[] }> }) {
  const { next } = await searchParams
  return (
    <main>
      <h1>Sign in</h1>
      {/* Only a path on this site is followed: "//evil.example" is not. */}
      <LoginForm next={safeNextPath(typeof next === 'string' ? next : null)} />
    </main>
  )
}
