import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { ParamError } from '../../core/errors.ts';

/**
 * `hierdiff serve`: the interactive explorer (web/, built by `npm run build:web` into dist/web) over
 * plain node:http. The built page sits beside the compiled CLI in the installed package
 * (dist/web beside dist/cli) and at <repo>/dist/web in a checkout: three folders up from
 * src/cli/commands or dist/cli/commands, then dist/web, in both cases.
 */
export const WEB_ROOT = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

/** Content types by file extension; anything else is served as application/octet-stream. */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.pdf': 'application/pdf',
};

/**
 * Headers that make the page cross-origin isolated (`crossOriginIsolated` in the page): its digits
 * view then runs onnxruntime-web on two WebAssembly threads (SharedArrayBuffer). The page loads
 * nothing from other origins, so requiring CORP of cross-origin resources costs it nothing.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** The content type of a file name by its extension (case-insensitive). */
export function mimeType(file: string): string {
  return MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file under `root` a request path names, or null when the path is not one this server hands out:
 * undecodable, holding a NUL or a backslash, or with a `..` segment (refused outright, not
 * normalised away), or resolving outside `root` anyway. `/` and folders map to their index.html.
 */
export function resolveRequestPath(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\\')) return null;
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return null;
  const base = resolve(root);
  const file = resolve(base, ...segments);
  if (file !== base && !file.startsWith(base + sep)) return null;
  if (path.endsWith('/') || file === base) return join(file, 'index.html');
  return file;
}

function send(res: ServerResponse, status: number, text: string, head: boolean): void {
  const body = `${status} ${text}\n`;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

/** The request handler: GET and HEAD of the files under `root`, nothing else. */
export function staticHandler(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'Method Not Allowed', head);
      return;
    }
    let file = resolveRequestPath(root, req.url ?? '/');
    if (file === null) {
      send(res, 400, 'Bad Request', head);
      return;
    }
    let stat = statSync(file, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      file = join(file, 'index.html');
      stat = statSync(file, { throwIfNoEntry: false });
    }
    if (!stat?.isFile()) {
      send(res, 404, 'Not Found', head);
      return;
    }
    // Revalidate every time: a rebuilt page shows up on reload, never a stale bundle.
    res.writeHead(200, {
      'Content-Type': mimeType(file),
      'Content-Length': stat.size,
      'Cache-Control': 'no-cache',
      'Last-Modified': stat.mtime.toUTCString(),
      'X-Content-Type-Options': 'nosniff',
      ...ISOLATION_HEADERS,
    });
    if (head) {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };
}

export interface ServeOptions {
  /** The built page (a folder with index.html). */
  readonly root: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface RunningServer {
  readonly server: Server;
  /** `http://HOST:PORT/` with the port actually bound. */
  readonly url: string;
  close(): Promise<void>;
}

/** `http://host:port/`, with an IPv6 address in brackets. */
export function serverUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

/**
 * Serves the built page under `options.root` until closed. Rejects with a {@link ParamError} when
 * there is no build there (naming the folder and `npm run build:web`), when the port is taken or
 * not allowed (`--port`), or when the host cannot be listened on (`--host`). Prints nothing.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const root = resolve(options.root);
  if (!existsSync(join(root, 'index.html'))) {
    throw new ParamError('root', `the explorer is not built: ${root} has no index.html (run npm run build:web)`);
  }
  const server = createServer(staticHandler(root));
  await new Promise<void>((done, fail) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      server.close();
      if (e.code === 'EADDRINUSE') fail(new ParamError('port', `invalid --port ${options.port} (${options.host}:${options.port} is already in use)`));
      else if (e.code === 'EACCES') fail(new ParamError('port', `invalid --port ${options.port} (permission denied on ${options.host})`));
      else fail(new ParamError('host', `invalid --host ${options.host} (cannot listen there: ${e.code ?? e.message})`));
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      done();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: serverUrl(options.host, port),
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/** `--port`: an integer in [0, 65535] written in decimal. */
export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new ParamError('port', `invalid --port ${value} (expected an integer in [0, 65535]; 0 picks a free port)`);
  return Number(value);
}

/** `--host`: a name or address without a scheme, port or path. */
export function parseHost(value: string): string {
  if (value === '' || /[\s/?#@]/.test(value) || /^\w+:\/\//.test(value))
    throw new ParamError('host', `invalid --host ${JSON.stringify(value)} (expected a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0)`);
  return value;
}

export function registerServe(program: Command, _argv: readonly string[]): void {
  program
    .command('serve')
    .description('serve the interactive explorer (the built web page) over HTTP until interrupted')
    .option('--port <n>', 'port to listen on (0 picks a free one)', '8080')
    .option('--host <host>', 'address to listen on (0.0.0.0 to share it on the network)', '127.0.0.1')
    .addOption(new Option('--root <dir>', 'folder of the built page (for testing)').hideHelp())
    .action(async (o: { port: string; host: string; root?: string }) => {
      const port = parsePort(o.port);
      const host = parseHost(o.host);
      const running = await startServer({ root: o.root ?? WEB_ROOT, host, port });
      process.stdout.write(`hierdiff: serving the explorer at ${running.url}\n`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await running.close();
    });
}
