import { pageSession } from '../server-session'
import Unavailable from '../unavailable'

// Onboarding: where the dashboard sends users whose onboarding is not done
// (the state migrated from the old cookies included).
export default async function Onboarding() {
  const session = await pageSession('/onboarding')
  if (session === 'unavailable') return <Unavailable />
  const { user } = session
  return (
    <main>
      <h1>Finish setting up {user.tenantId}</h1>
      <p>
        Signed in as <strong data-testid="email">{user.email}</strong>.
      </p>
      <p>
        {user.needsOnboarding ? (
          <>
            Next step: <strong data-testid="onboarding-step">{user.onboardingStep}</strong>
          </>
        ) : (
          <>
            Onboarding is done. <a href="/">Go to the dashboard</a>
          </>
        )}
      </p>
    </main>
  )
}
