// Unavailable is what a page shows while sessiond does not answer: the
// visitor is not signed out, and their session will work again.
export default function Unavailable() {
  return (
    <main>
      <h1>Temporarily unavailable</h1>
      <p className="notice" data-testid="unavailable">
        The session service is unavailable. You are still signed in; try again in a moment.
      </p>
    </main>
  )
}
