/*
 * Listening and closing for the daemon's HTTP servers (the /metrics listener and the inspection
 * listener), in one place.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Starts `server` on host:port and resolves with the bound port (port 0 picks a free one). */
export async function listenOn (server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  return (server.address() as AddressInfo).port
}

/** Closes `server` and every open connection to it. */
export async function closeServer (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
}
