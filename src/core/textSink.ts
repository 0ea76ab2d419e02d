/**
 * Text written in pieces: a buffer that hands ≈ 1 MiB pieces to a sink (never one string of the
 * whole output), and a file written through it that appears under its name only once complete.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ParamError } from './errors.ts';
import { makeDirs, outputFileProblem } from './outputDir.ts';

/** Text handed to the sink in pieces of about this many characters. */
export const CHUNK_CHARS = 1 << 20;

/** Where streamed text goes: `write` appends. */
export interface TextSink {
  write(text: string): void;
}

/** Buffered text output to a sink, in ≈ `chunkChars` pieces. */
export class ChunkedWriter implements TextSink {
  private parts: string[] = [];
  private size = 0;
  constructor(
    private readonly sink: (text: string) => void,
    private readonly chunkChars = CHUNK_CHARS,
  ) {}
  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= this.chunkChars) this.flush();
  }
  flush(): void {
    if (this.size === 0) return;
    this.sink(this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
}

/**
 * A file written piece by piece through `<target>.<pid>.tmp` and renamed at `commit`, so the
 * final name never holds a half-written file; `abort` removes the temp file and the folders made.
 * Problems are ParamErrors naming the option `param` that gave the path.
 */
export class StreamedFile {
  private readonly tmp: string;
  private readonly fd: number;
  private readonly created: string | undefined;
  private done = false;
  readonly writer: ChunkedWriter;
  constructor(
    private readonly param: string,
    private readonly target: string,
  ) {
    const problem = outputFileProblem(target);
    if (problem) throw new ParamError(param, `invalid --${param} "${target}" (${problem})`);
    try {
      this.created = makeDirs(dirname(resolve(target)));
    } catch {
      throw new ParamError(param, `invalid --${param} "${target}" (cannot create its folder)`);
    }
    this.tmp = `${target}.${process.pid}.tmp`;
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (e) {
      if (this.created) rmSync(this.created, { recursive: true, force: true });
      throw new ParamError(param, `invalid --${param} "${target}" (${(e as NodeJS.ErrnoException).code ?? 'cannot write'})`);
    }
    this.writer = new ChunkedWriter((text) => {
      let buf = Buffer.from(text, 'utf8');
      while (buf.length > 0) buf = buf.subarray(writeSync(this.fd, buf));
    });
  }
  commit(): void {
    try {
      this.writer.flush();
      closeSync(this.fd);
      renameSync(this.tmp, this.target);
      this.done = true;
    } catch (e) {
      this.abort();
      throw new ParamError(this.param, `invalid --${this.param} "${this.target}" (${(e as NodeJS.ErrnoException).code ?? 'cannot write'})`);
    }
  }
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tmp, { force: true });
    if (this.created) rmSync(this.created, { recursive: true, force: true });
  }
}
