// Adds package-lock.json entries for per-platform optional packages (native builds of
// @chainsafe/libp2p-quic, rollup, ...) that the registry reachable from our build machines does not
// serve: only the linux-x64 builds are there, so `npm install` leaves the others out of the lock
// and `npm ci` then fails with "Missing: <pkg>@ from lock file". npm ci skips entries whose
// os/cpu/libc do not match the machine, so these entries are never fetched here.
// Run after any `npm install` that rewrites the lock: `npm run lock:platforms`.
import { readFileSync, writeFileSync } from 'node:fs'

const OS = ['darwin', 'linux', 'win32', 'freebsd', 'openbsd', 'netbsd', 'android', 'sunos', 'aix', 'openharmony']
const CPU = ['x64', 'arm64', 'arm', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el', 'wasm32']
const LIBC = { gnu: 'glibc', gnueabihf: 'glibc', musl: 'musl', musleabihf: 'musl' }

/** Platform fields from a package name such as @rollup/rollup-linux-arm-musleabihf; undefined if none. */
function platformOf (name) {
  const tokens = name.split('/').pop().split('-')
  const os = tokens.find((t) => OS.includes(t))
  const cpu = tokens.find((t) => CPU.includes(t))
  if (os == null && cpu == null) return undefined
  const out = {}
  if (os != null) out.os = [os]
  if (cpu != null) out.cpu = [cpu]
  const libc = tokens.map((t) => LIBC[t]).find((l) => l != null)
  if (libc != null && os === 'linux') out.libc = [libc]
  return out
}

const lockPath = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(lockPath, 'utf8'))
let added = 0
for (const [key, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    // npm resolves an optional dependency next to its parent or hoisted to the top
    const nested = `${key}/node_modules/${name}`
    const top = `node_modules/${name}`
    if (lock.packages[nested] != null || lock.packages[top] != null) continue
    const platform = platformOf(name)
    if (platform == null) continue
    lock.packages[top] = { version, optional: true, ...platform }
    added++
  }
}
const sorted = Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)))
lock.packages = Object.fromEntries(sorted)
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n')
console.log(`fix-lock-platforms: added ${added} platform entries`)
