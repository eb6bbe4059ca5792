// Package jstest holds no code of its own: its tests run the JavaScript
// packages' tests (clients/js) and the Next.js example's end-to-end tests in
// Chromium (examples/nextjs) against a sessiond built from this tree. They
// live apart from cmd/sessiond's so that each package stays well within go
// test's ten-minute limit and the two can run side by side.
package jstest
