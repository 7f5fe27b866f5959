import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Serves `files` by path on 127.0.0.1, answering range requests, and records what it was asked. */
export class WeightsServer {
  readonly requests: { path: string; range: string | undefined }[] = [];
  /** Requests of these paths get half the file, then the connection drops, once each. */
  readonly dropOnce = new Set<string>();
  private server: Server | undefined;

  constructor(private readonly files: Map<string, Buffer>) {}

  async start(): Promise<string> {
    this.server = createServer((request, response) => this.answer(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    const url = request.url ?? '';
    this.requests.push({ path: url, range: request.headers.range });
    const body = this.files.get(url);
    if (!body) {
      response.writeHead(404).end();
      return;
    }
    const from = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
    const part = body.subarray(from);
    response.writeHead(from > 0 ? 206 : 200, {
      'content-length': part.length,
      ...(from > 0 ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
    });
    if (this.dropOnce.delete(url)) {
      response.write(part.subarray(0, part.length >> 1), () => response.destroy());
      return;
    }
    response.end(part);
  }
}
