/*
 * The operator's HTTP endpoints: /metrics (Prometheus text), /healthz (the process is alive and
 * serving) and /readyz (200 only while the node has an authorized peer and is not stopping).
 */
import { createServer, type Server } from 'node:http'
import type { Registry } from 'prom-client'
import { closeServer, listenOn } from './http-listen.js'

export interface HttpDeps {
  registry: Registry
  isReady: () => boolean
  readyDetail: () => Record<string, unknown>
}

export class HttpServer {
  private server: Server | undefined

  constructor (private readonly deps: HttpDeps) {}

  async listen (host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]
      if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD' }).end(); return }
      if (path === '/healthz') { res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'); return }
      if (path === '/readyz') {
        const ready = this.deps.isReady()
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready, ...this.deps.readyDetail() }) + '\n')
        return
      }
      if (path === '/metrics') {
        this.deps.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': this.deps.registry.contentType }).end(text)
        }, (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`)
        })
        return
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n')
    })
    this.server = server
    return await listenOn(server, host, port)
  }

  async close (): Promise<void> {
    const server = this.server
    if (server == null) return
    this.server = undefined
    await closeServer(server)
  }
}
