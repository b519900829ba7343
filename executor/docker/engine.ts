import http, { type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { STRICT_ISOLATION, type ContainerIsolation } from './isolation.js';
import { countRoundTrip, dockerRoute } from '../../core/metrics/round-trips.js';

/**
 * A small client for the Docker Engine API over its unix socket: only what running a Plan's
 * container needs. Talking to the API directly keeps every call explicit (timeouts included),
 * so nothing can hang on a registry that cannot be reached.
 */
export class DockerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DockerError';
  }
}

export interface ContainerSpec {
  name: string;
  image: string;
  entrypoint?: string[] | undefined;
  cmd?: string[] | undefined;
  /** `host-or-volume:target[:ro]` strings; prefer `mounts`, which take any path. */
  binds?: string[] | undefined;
  /**
   * Named volumes; one that does not exist yet is made with `labels`, an existing one is used as
   * it is. An empty volume stays empty: the engine does not fill it with what the image holds at
   * its target (NoCopy), so a run sees exactly its input and an output starts empty, whatever
   * the image keeps at those paths.
   */
  mounts?: Array<{ volume: string; target: string; readOnly: boolean; labels?: Record<string, string> }> | undefined;
  labels: Record<string, string>;
  /** `NAME=value` strings: the before hooks' variables (AttemptContext.env). */
  env?: string[] | undefined;
  nanoCpus?: number | undefined;
  memoryBytes?: number | undefined;
  gpus?: number | undefined;
  /** Omitted: as shut off as Docker allows (STRICT_ISOLATION). */
  isolation?: ContainerIsolation | undefined;
}

export interface ContainerState {
  id: string;
  name: string;
  status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  exitCode: number;
  oomKilled: boolean;
  error: string;
  startedAt: string;
  finishedAt: string;
  labels: Record<string, string>;
}

export class DockerEngine {
  constructor(readonly socketPath: string = process.env['DOCKER_SOCKET'] ?? '/var/run/docker.sock') {}

  private request(method: string, path: string, opts: { body?: unknown; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<IncomingMessage> {
    countRoundTrip('docker', dockerRoute(method, path));
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        resolve,
      );
      if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new DockerError(0, `the Docker engine did not answer ${method} ${path.split('?')[0]} within ${opts.timeoutMs} ms`)));
      req.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ECONNREFUSED') reject(new DockerError(0, `cannot reach the Docker engine at ${this.socketPath}: is dockerd running?`));
        else reject(err);
      });
      req.end(payload);
    });
  }

  private async call<T>(method: string, path: string, opts: { body?: unknown; timeoutMs?: number; ok?: number[] } = {}): Promise<T> {
    const res = await this.request(method, path, { ...opts, timeoutMs: opts.timeoutMs ?? 60_000 });
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status >= 300 && !(opts.ok ?? []).includes(status)) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        /* keep the raw text */
      }
      throw new DockerError(status, message.trim());
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async version(): Promise<{ Version: string; ApiVersion: string }> {
    return this.call('GET', '/version', { timeoutMs: 10_000 });
  }

  async runtimes(): Promise<string[]> {
    return (await this.info()).runtimes;
  }

  /** The engine's host: its runtimes, cores and memory (what no container can exceed). */
  async info(): Promise<{ runtimes: string[]; cpus: number; memoryBytes: number }> {
    const info = await this.call<{ Runtimes?: Record<string, unknown>; NCPU?: number; MemTotal?: number }>('GET', '/info', { timeoutMs: 10_000 });
    return { runtimes: Object.keys(info.Runtimes ?? {}), cpus: info.NCPU ?? 0, memoryBytes: info.MemTotal ?? 0 };
  }

  async hasNetwork(name: string): Promise<boolean> {
    try {
      await this.call('GET', `/networks/${encodeURIComponent(name)}`, { timeoutMs: 10_000 });
      return true;
    } catch (err) {
      if (err instanceof DockerError && err.status === 404) return false;
      throw err;
    }
  }

  /** The image's configuration (the user it runs as), or undefined when the engine does not have it. */
  async imageConfig(image: string): Promise<{ user: string } | undefined> {
    try {
      const r = await this.call<{ Config?: { User?: string } | null }>('GET', `/images/${encodeURIComponent(image)}/json`, { timeoutMs: 10_000 });
      return { user: r.Config?.User ?? '' };
    } catch (err) {
      if (err instanceof DockerError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Pulls an image, failing (never hanging) within `timeoutMs`. */
  async pull(image: string, timeoutMs: number): Promise<void> {
    const at = image.lastIndexOf(':');
    const slash = image.lastIndexOf('/');
    const [name, tag] = at > slash ? [image.slice(0, at), image.slice(at + 1)] : [image, 'latest'];
    const res = await this.request('POST', `/images/create?fromImage=${encodeURIComponent(name)}&tag=${encodeURIComponent(tag)}`, { timeoutMs });
    const text = await readAll(res);
    if ((res.statusCode ?? 0) >= 300) throw new DockerError(res.statusCode ?? 0, parseMessage(text));
    // A pull reports failures inside its progress stream.
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const msg = JSON.parse(line) as { error?: string };
        if (msg.error) throw new DockerError(500, msg.error);
      } catch (err) {
        if (err instanceof DockerError) throw err;
      }
    }
  }

  async create(spec: ContainerSpec): Promise<string> {
    const iso = spec.isolation ?? STRICT_ISOLATION;
    const body: Record<string, unknown> = {
      Image: spec.image,
      Labels: spec.labels,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      HostConfig: {
        ...(spec.binds ? { Binds: spec.binds } : {}),
        ...(spec.mounts ? { Mounts: spec.mounts.map((m) => ({ Type: 'volume', Source: m.volume, Target: m.target, ReadOnly: m.readOnly, VolumeOptions: { NoCopy: true, ...(m.labels ? { Labels: m.labels } : {}) } })) } : {}),
        ...(spec.nanoCpus ? { NanoCpus: Math.round(spec.nanoCpus) } : {}),
        ...(spec.memoryBytes ? { Memory: Math.round(spec.memoryBytes) } : {}),
        ...(spec.gpus ? { DeviceRequests: [{ Driver: 'nvidia', Count: spec.gpus, Capabilities: [['gpu']] }] } : {}),
        NetworkMode: iso.networkMode,
        CapDrop: ['ALL'],
        CapAdd: iso.capAdd,
        SecurityOpt: iso.noNewPrivileges ? ['no-new-privileges'] : [],
        ...(iso.pidsLimit > 0 ? { PidsLimit: iso.pidsLimit } : {}),
        ReadonlyRootfs: iso.readonlyRootfs,
        ...(iso.readonlyRootfs ? { Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${iso.tmpfsBytes}` } } : {}),
      },
    };
    if (iso.user) body['User'] = iso.user;
    if (spec.entrypoint) body['Entrypoint'] = spec.entrypoint;
    if (spec.cmd) body['Cmd'] = spec.cmd;
    if (spec.env && spec.env.length > 0) body['Env'] = spec.env;
    const r = await this.call<{ Id: string }>('POST', `/containers/create?name=${encodeURIComponent(spec.name)}`, { body });
    return r.Id;
  }

  async inspect(nameOrId: string): Promise<ContainerState | undefined> {
    try {
      const c = await this.call<{
        Id: string;
        Name: string;
        State: { Status: ContainerState['status']; ExitCode: number; OOMKilled: boolean; Error: string; StartedAt: string; FinishedAt: string };
        Config: { Labels: Record<string, string> | null };
      }>('GET', `/containers/${encodeURIComponent(nameOrId)}/json`, { timeoutMs: 30_000 });
      return {
        id: c.Id,
        name: c.Name.replace(/^\//, ''),
        status: c.State.Status,
        exitCode: c.State.ExitCode,
        oomKilled: c.State.OOMKilled,
        error: c.State.Error,
        startedAt: c.State.StartedAt,
        finishedAt: c.State.FinishedAt,
        labels: c.Config.Labels ?? {},
      };
    } catch (err) {
      if (err instanceof DockerError && err.status === 404) return undefined;
      throw err;
    }
  }

  async start(id: string): Promise<void> {
    // 304: already started, which is what a retried start wants.
    await this.call('POST', `/containers/${encodeURIComponent(id)}/start`, { ok: [304] });
  }

  /** Resolves with the exit code once the container has stopped. */
  async wait(id: string, signal?: AbortSignal): Promise<number> {
    const res = await this.request('POST', `/containers/${encodeURIComponent(id)}/wait`, signal ? { signal } : {});
    const text = await readAll(res);
    if ((res.statusCode ?? 0) >= 300) throw new DockerError(res.statusCode ?? 0, parseMessage(text));
    return (JSON.parse(text) as { StatusCode: number }).StatusCode;
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    await this.call('POST', `/containers/${encodeURIComponent(id)}/stop?t=${graceSeconds}`, { ok: [304, 404], timeoutMs: (graceSeconds + 30) * 1000 });
  }

  async remove(id: string): Promise<void> {
    await this.call('DELETE', `/containers/${encodeURIComponent(id)}?force=true&v=true`, { ok: [404, 409] });
  }

  async list(labels: Record<string, string>): Promise<ContainerState[]> {
    const filters = JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
    const list = await this.call<Array<{ Id: string; Names: string[]; State: ContainerState['status']; Labels: Record<string, string> }>>(
      'GET',
      `/containers/json?all=true&filters=${encodeURIComponent(filters)}`,
    );
    return list.map((c) => ({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), status: c.State, exitCode: 0, oomKilled: false, error: '', startedAt: '', finishedAt: '', labels: c.Labels }));
  }

  /**
   * Makes the named volume, or finds it: an existing one of that name is kept and answered as it
   * is (Docker answers 201 for both). `mountpoint` is its folder on the engine's host.
   */
  async createVolume(name: string, labels: Record<string, string>): Promise<{ mountpoint: string }> {
    const r = await this.call<{ Mountpoint?: string }>('POST', '/volumes/create', { body: { Name: name, Labels: labels } });
    return { mountpoint: r.Mountpoint ?? '' };
  }

  /** The named volume's folder on the engine's host; undefined when there is no such volume. */
  async volumeMountpoint(name: string): Promise<string | undefined> {
    try {
      return (await this.call<{ Mountpoint?: string }>('GET', `/volumes/${encodeURIComponent(name)}`)).Mountpoint ?? '';
    } catch (err) {
      if (err instanceof DockerError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Idempotent: a missing volume is fine; one still mounted by a container is a 409. */
  async removeVolume(name: string): Promise<void> {
    await this.call('DELETE', `/volumes/${encodeURIComponent(name)}?force=true`, { ok: [404] });
  }

  async listVolumes(labels: Record<string, string>): Promise<Array<{ name: string; labels: Record<string, string> }>> {
    const filters = JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
    const r = await this.call<{ Volumes: Array<{ Name: string; Labels: Record<string, string> | null }> | null }>('GET', `/volumes?filters=${encodeURIComponent(filters)}`);
    return (r.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  /** Extracts a tar stream into `path` of a container (also a created, never-started one, and its volumes). */
  async putArchive(id: string, path: string, body: AsyncIterable<Buffer> | Iterable<Buffer>, signal?: AbortSignal): Promise<void> {
    countRoundTrip('docker', dockerRoute('PUT', `/containers/${id}/archive`));
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        { socketPath: this.socketPath, method: 'PUT', path: `/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(path)}`, headers: { 'content-type': 'application/x-tar' }, ...(signal ? { signal } : {}) },
        (res) => {
          readAll(res).then((text) => ((res.statusCode ?? 0) >= 300 ? reject(new DockerError(res.statusCode ?? 0, parseMessage(text))) : resolve()), reject);
        },
      );
      req.on('error', reject);
      pipeline(Readable.from(body), req).catch((err: unknown) => {
        req.destroy(err as Error);
        reject(err as Error);
      });
    });
  }

  /** A tar stream of `path` in a container; `<dir>/.` gives the folder's entries relative to it. */
  async getArchive(id: string, path: string, signal?: AbortSignal): Promise<Readable> {
    const res = await this.request('GET', `/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(path)}`, signal ? { signal } : {});
    if ((res.statusCode ?? 0) >= 300) throw new DockerError(res.statusCode ?? 0, parseMessage(await readAll(res)));
    return res;
  }

  /**
   * The container's stdout and stderr as one stream of Docker's multiplexed frames, each line
   * prefixed with an RFC3339 timestamp. `since` is a UNIX time in seconds (fractions allowed).
   */
  async logs(id: string, opts: { follow: boolean; since?: string; signal?: AbortSignal }): Promise<Readable> {
    const q = `stdout=true&stderr=true&timestamps=true&follow=${opts.follow}${opts.since ? `&since=${opts.since}` : ''}`;
    const res = await this.request('GET', `/containers/${encodeURIComponent(id)}/logs?${q}`, opts.signal ? { signal: opts.signal } : {});
    if ((res.statusCode ?? 0) >= 300) throw new DockerError(res.statusCode ?? 0, parseMessage(await readAll(res)));
    return res;
  }
}

function parseMessage(text: string): string {
  try {
    return (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    return text;
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export type LogStream = 'stdout' | 'stderr';

/**
 * Splits Docker's multiplexed log stream (8-byte frame headers) into lines of text, keeping
 * which stream each came from. Feed chunks with `push`; complete lines come out.
 */
export class LogDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  private partial: Record<LogStream, string> = { stdout: '', stderr: '' };

  push(chunk: Buffer): Array<{ stream: LogStream; line: string }> {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Array<{ stream: LogStream; line: string }> = [];
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      const stream: LogStream = this.buf[0] === 2 ? 'stderr' : 'stdout';
      const text = this.partial[stream] + this.buf.toString('utf8', 8, 8 + size);
      this.buf = this.buf.subarray(8 + size);
      const lines = text.split('\n');
      this.partial[stream] = lines.pop() ?? '';
      for (const line of lines) out.push({ stream, line });
    }
    return out;
  }

  /** Whatever was left without a final newline. */
  flush(): Array<{ stream: LogStream; line: string }> {
    const out: Array<{ stream: LogStream; line: string }> = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) out.push({ stream, line: this.partial[stream] });
      this.partial[stream] = '';
    }
    return out;
  }
}
