import { defineConfig } from 'vitest/config'

// The tests import the built packages (dist/), as an application would:
// run "npm run build" first. Each test file runs in a process of its own
// (pool "forks"), so BroadcastChannel messages never cross files.
export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 20000,
    hookTimeout: 30000,
    reporters: ['default'],
  },
})
