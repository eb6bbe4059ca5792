// Package releasetest holds no code of its own: its test builds the
// release binary twice with the Makefile, from two clones, and checks that
// the bytes are the same. It is a package of its own because a first
// -trimpath build compiles every dependency again (minutes on two cores),
// which must not eat into another package's ten-minute test budget.
package releasetest
