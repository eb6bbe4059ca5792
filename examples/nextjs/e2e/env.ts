// The addresses of one test run. The Go test (cmd/sessiond/nextjs_test.go)
// picks free ports and sets these; by hand, the defaults match next.config.ts.
// SESSIOND_URL must be the one the app was built with: next build bakes
// the rewrites in.
export const sessiondURL = process.env.SESSIOND_URL ?? 'http://127.0.0.1:8080'
export const appPort = Number(process.env.APP_PORT ?? 3000)

// The browser visits the app as www.app.test (Chromium maps *.app.test to
// this machine), so that legacy cookies can live on the parent domain
// app.test as they did on the old site. Node's own requests use the address.
export const appHost = 'www.app.test'
export const parentDomain = 'app.test'
export const appURL = `http://${appHost}:${appPort}`
export const directURL = `http://127.0.0.1:${appPort}`

export const demo = { email: 'test@example.com', password: 'password', tenant: 'demo' }
