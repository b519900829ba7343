import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

/** Message types after which the client waits for an answer: a unit of work ends there. */
const UNIT_END = new Set(['S', 'Q', 'H', 'c', 'f']);

interface Connection {
  readonly id: number;
  readonly socket: Socket;
  buf: Buffer;
  started: boolean;
  pending: Uint8Array[];
  closed: boolean;
}

interface Unit {
  conn: Connection;
  messages: Uint8Array[];
}

/**
 * Serves one PGlite database to many PostgreSQL wire-protocol clients.
 *
 * PGlite is a single session, so clients take turns. The turn is a whole request — every message
 * up to a Sync or simple Query — never a single message: interleaving one client's Parse with
 * another's Bind corrupts both. While a client has a transaction open, only that client runs,
 * exactly as row locks would make others wait on a real server. A client that disconnects
 * mid-transaction has it rolled back.
 *
 * (The pglite-socket package multiplexes per message, which breaks under concurrent clients
 * using the extended protocol, as node-postgres does for every parameterized query.)
 */
export class PgliteWireServer {
  private server: Server | undefined;
  private readonly queue: Unit[] = [];
  private running = false;
  private owner: Connection | undefined;
  private nextId = 1;
  private readonly connections = new Set<Connection>();
  /** Set by close(): nothing more is run, so nothing reaches a PGlite that is closing or closed. */
  private closing = false;

  constructor(private readonly db: PGlite) {}

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    await this.db.waitReady;
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    return { host, port: typeof addr === 'object' && addr ? addr.port : port };
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const conn: Connection = { id: this.nextId++, socket, buf: Buffer.alloc(0), started: false, pending: [], closed: false };
    this.connections.add(conn);
    socket.on('data', (data) => {
      conn.buf = conn.buf.length === 0 ? data : Buffer.concat([conn.buf, data]);
      this.parse(conn);
    });
    socket.on('error', () => this.drop(conn));
    socket.on('close', () => this.drop(conn));
  }

  private parse(conn: Connection): void {
    for (;;) {
      if (!conn.started) {
        if (conn.buf.length < 8) return;
        const len = conn.buf.readInt32BE(0);
        const code = conn.buf.readInt32BE(4);
        if (conn.buf.length < len) return;
        const startup = new Uint8Array(conn.buf.subarray(0, len));
        conn.buf = conn.buf.subarray(len);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          conn.socket.write('N');
          continue;
        }
        if (code === CANCEL_REQUEST) {
          conn.socket.end();
          return;
        }
        if (code !== PROTOCOL_3) {
          conn.socket.destroy();
          return;
        }
        conn.started = true;
        this.enqueue({ conn, messages: [startup] });
        continue;
      }
      if (conn.buf.length < 5) return;
      const type = String.fromCharCode(conn.buf[0]!);
      const len = 1 + conn.buf.readInt32BE(1);
      if (conn.buf.length < len) return;
      const message = new Uint8Array(conn.buf.subarray(0, len));
      conn.buf = conn.buf.subarray(len);
      if (type === 'X') {
        conn.socket.end();
        return;
      }
      conn.pending.push(message);
      if (UNIT_END.has(type)) {
        this.enqueue({ conn, messages: conn.pending });
        conn.pending = [];
      }
    }
  }

  private enqueue(unit: Unit): void {
    this.queue.push(unit);
    void this.pump();
  }

  private drop(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.connections.delete(conn);
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.conn === conn) this.queue.splice(i, 1);
    void this.pump();
  }

  private next(): Unit | undefined {
    if (this.owner) {
      if (this.owner.closed) return undefined;
      const i = this.queue.findIndex((u) => u.conn === this.owner);
      return i < 0 ? undefined : this.queue.splice(i, 1)[0];
    }
    return this.queue.shift();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closing) {
        if (this.owner?.closed) {
          // exec() takes PGlite's lock itself.
          await this.db.exec('ROLLBACK');
          this.owner = undefined;
        }
        const unit = this.next();
        if (!unit) break;
        try {
          await this.db.runExclusive(async () => {
            for (const message of unit.messages) {
              await this.db.execProtocolRawStream(message, {
                onRawData: (data) => {
                  if (!unit.conn.closed) unit.conn.socket.write(Buffer.from(data));
                },
              });
            }
          });
        } catch {
          // PGlite failed the request itself (statement errors are answered in the protocol):
          // this client's session is in an unknown state, so its connection is cut, which its
          // driver reports as a lost connection. The others carry on.
          unit.conn.socket.destroy();
          this.drop(unit.conn);
        }
        this.owner = this.db.isInTransaction() ? unit.conn : undefined;
      }
    } catch {
      // The ROLLBACK of a departed client failed: PGlite itself is failing or closed. pump() runs
      // unawaited, so a rejection here would be unhandled and end the process.
    } finally {
      this.running = false;
    }
  }
}
