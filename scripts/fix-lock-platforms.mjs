// Adds package-lock.json entries for the per-platform optional packages of native dependencies that
// the registry reachable from our build machines does not serve (only linux-x64 builds are there).
// Without them `npm ci` fails with "Missing: <pkg>@ from lock file". npm ci skips entries whose
// os/cpu/libc do not match the machine, so these entries are never fetched here.
// Run after any `npm install` that rewrites the lock: `npm run lock:platforms`.
import { readFileSync, writeFileSync } from 'node:fs'

const PLATFORMS = {
  'darwin-arm64': { os: ['darwin'], cpu: ['arm64'] },
  'darwin-x64': { os: ['darwin'], cpu: ['x64'] },
  'linux-arm64-gnu': { os: ['linux'], cpu: ['arm64'], libc: ['glibc'] },
  'linux-arm64-musl': { os: ['linux'], cpu: ['arm64'], libc: ['musl'] },
  'linux-x64-gnu': { os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
  'linux-x64-musl': { os: ['linux'], cpu: ['x64'], libc: ['musl'] },
  'win32-x64-msvc': { os: ['win32'], cpu: ['x64'] }
}
const NATIVE_PARENTS = ['@chainsafe/libp2p-quic']

const lockPath = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(lockPath, 'utf8'))
let added = 0
for (const parent of NATIVE_PARENTS) {
  const entry = lock.packages[`node_modules/${parent}`]
  if (entry == null) continue
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`
    if (lock.packages[key] != null) continue
    const suffix = name.slice(parent.length + 1)
    const platform = PLATFORMS[suffix]
    if (platform == null) throw new Error(`unknown platform suffix ${suffix} for ${name}`)
    lock.packages[key] = { version, license: entry.license, optional: true, ...platform }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)))
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n')
console.log(`fix-lock-platforms: added ${added} platform entries`)
