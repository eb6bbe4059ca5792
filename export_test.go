package sessiond

import "time"

// SetShareFor sets how long the Managers created next share work
// (flight.go), for tests whose requests must all join one read however
// slowly a loaded machine starts them; it returns the function that puts
// the old value back.
func SetShareFor(d time.Duration) (restore func()) {
	old := shareFor
	shareFor = d
	return func() { shareFor = old }
}
