import { BLOCK, decodeHeader, isZeroBlock, looksCompressed, META_TYPES, padding, parsePax, TarFormatError, type Overrides, type TarHeader } from './tar-format.js';

/** What a TarReader calls as it meets entries; each call is awaited before reading on. */
export interface TarVisitor {
  entry(header: TarHeader): void | Promise<void>;
  /** Content of the current entry, in order, as slices of the written chunks. */
  data?(chunk: Buffer): void | Promise<void>;
  entryEnd?(header: TarHeader): void | Promise<void>;
}

// Extended headers carry paths and a few numbers; anything bigger is not an honest archive.
const MAX_META = 1 << 20;

type State = 'header' | 'meta' | 'body' | 'padding' | 'end';

/**
 * A push parser for tar streams: `await write(chunk)` for each chunk, then `end()`. It keeps no
 * more than one header block buffered; file content is passed on as slices, never copied.
 */
export class TarReader {
  private state: State = 'header';
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private current: TarHeader | undefined;
  private remaining = 0;
  private pad = 0;
  private meta: { flag: string; size: number; chunks: Buffer[]; got: number } | undefined;
  private overrides: Overrides = {};
  private zeroBlocks = 0;
  private seenAny = false;

  constructor(private readonly visitor: TarVisitor) {}

  async write(chunk: Buffer): Promise<void> {
    if (!this.seenAny && this.partialBytes === 0 && chunk.length > 0 && looksCompressed(chunk)) {
      throw new TarFormatError('the archive is compressed; knit stores plain (uncompressed) tar archives');
    }
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case 'end':
          return;
        case 'header': {
          const need = BLOCK - this.partialBytes;
          const take = Math.min(need, chunk.length - i);
          this.partial.push(chunk.subarray(i, i + take));
          this.partialBytes += take;
          i += take;
          if (this.partialBytes < BLOCK) return;
          const block = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial);
          this.partial = [];
          this.partialBytes = 0;
          await this.onHeader(block);
          break;
        }
        case 'meta': {
          const m = this.meta!;
          const take = Math.min(m.size - m.got, chunk.length - i);
          m.chunks.push(Buffer.from(chunk.subarray(i, i + take)));
          m.got += take;
          i += take;
          if (m.got === m.size) this.finishMeta();
          break;
        }
        case 'body': {
          const take = Math.min(this.remaining, chunk.length - i);
          if (this.current!.type === 'file' && this.visitor.data) await this.visitor.data(chunk.subarray(i, i + take));
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) await this.finishBody();
          break;
        }
        case 'padding': {
          const take = Math.min(this.pad, chunk.length - i);
          this.pad -= take;
          i += take;
          if (this.pad === 0) await this.endEntry();
          break;
        }
      }
    }
  }

  /** Throws unless the archive ended cleanly, with its end-of-archive marker. */
  end(): void {
    const atBoundary = this.state === 'header' && this.partialBytes === 0;
    if (this.state === 'end' || (atBoundary && this.zeroBlocks > 0)) return;
    if (!this.seenAny && this.partialBytes === 0) throw new TarFormatError('the archive is empty');
    if (atBoundary) throw new TarFormatError('the archive has no end-of-archive marker: it was cut short');
    throw new TarFormatError('the archive ended in the middle of an entry: it was cut short');
  }


  private async onHeader(block: Buffer): Promise<void> {
    this.seenAny = true;
    if (isZeroBlock(block)) {
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.state = 'end';
      return;
    }
    if (this.zeroBlocks > 0) throw new TarFormatError('the archive has entries after its end-of-archive marker');
    const h: TarHeader = decodeHeader(block);
    if (META_TYPES.has(h.flag)) {
      if (h.size > MAX_META) throw new TarFormatError(`an extended header of ${h.size} bytes is too large`);
      this.meta = { flag: h.flag, size: h.size, chunks: [], got: 0 };
      this.state = 'meta';
      if (h.size === 0) this.finishMeta();
      return;
    }
    Object.assign(h, this.overrides);
    this.overrides = {};
    if (h.type === 'directory' || h.type === 'symlink' || h.type === 'hardlink') h.size = 0;
    this.current = h;
    await this.visitor.entry(h);
    this.remaining = h.size;
    if (this.remaining > 0) this.state = 'body';
    else await this.finishBody();
  }

  private finishMeta(): void {
    const m = this.meta!;
    const body = Buffer.concat(m.chunks);
    if (m.flag === 'ExtendedHeader') parsePax(body, this.overrides);
    else if (m.flag === 'NextFileHasLongPath') this.overrides.path = body.toString('utf8').replace(/\0+$/, '');
    else if (m.flag === 'NextFileHasLongLinkpath') this.overrides.linkpath = body.toString('utf8').replace(/\0+$/, '');
    // A global pax header sets defaults knit does not use; it is read and ignored.
    this.meta = undefined;
    this.pad = padding(m.size);
    this.state = this.pad > 0 ? 'padding' : 'header';
    this.current = undefined;
  }

  private async finishBody(): Promise<void> {
    this.pad = padding(this.current!.size);
    this.state = 'padding';
    if (this.pad === 0) await this.endEntry();
  }

  private async endEntry(): Promise<void> {
    const h = this.current;
    this.current = undefined;
    this.state = 'header';
    if (h && this.visitor.entryEnd) await this.visitor.entryEnd(h);
  }
}
