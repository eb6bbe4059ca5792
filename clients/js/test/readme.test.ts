// The README's "From React and Next.js" section: every snippet marked
// <!-- js-snippet --> type-checks against the built packages, with the
// bundler resolution of a Next.js application.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, test } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

test('every snippet of the README section type-checks', async () => {
  const readme = readFileSync(join(root, '../../README.md'), 'utf8')
  const start = readme.indexOf('\n## From React and Next.js\n')
  expect(start, 'README has no "From React and Next.js" section').toBeGreaterThan(0)
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end)
  const blocks = section
    .split('<!-- js-snippet -->')
    .slice(1)
    .map((b) => /^\s*```tsx?\n([\s\S]*?)```/.exec(b)?.[1])
  expect(blocks.length).toBeGreaterThanOrEqual(6)
  // A directory inside consumer-check, so that its node_modules resolve.
  const dir = mkdtempSync(join(root, 'consumer-check', '.readme-'))
  try {
    blocks.forEach((code, i) => {
      expect(code, `snippet ${i + 1} is not a \`\`\`ts or \`\`\`tsx block`).toBeTypeOf('string')
      writeFileSync(join(dir, `snippet${i + 1}.tsx`), code!)
    })
    // "files", not "include": globs skip a directory whose name starts with a dot.
    const files = blocks.map((_, i) => `snippet${i + 1}.tsx`)
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.bundler.json', files, include: [] }))
    const tsc = join(root, 'node_modules', '.bin', 'tsc')
    const out = await promisify(execFile)(tsc, ['--noEmit', '-p', dir], { cwd: root }).then(
      () => '',
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}` || String(err),
    )
    expect(out, `tsc over the README snippets:\n${out}`).toBe('')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
