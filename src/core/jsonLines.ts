import { readFileSync } from 'node:fs';
import { ParamError } from './errors.ts';

/** A line's text without the `\r` a CRLF (Windows) file ends it with. */
function withoutCr(text: string): string {
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

/** One complete line after the header of a JSON-lines results file. */
export interface JsonLine {
  /** 1-based line number in the file. */
  line: number;
  /** The line's text as stored, without its newline (`\n`, or `\r\n` in a CRLF file). */
  text: string;
  /** The parsed value. */
  value: unknown;
}

/** A JSON-lines results file split into its header and complete lines. */
export interface JsonLinesFile {
  headerText: string;
  lines: JsonLine[];
  /** Byte length of the complete lines, header included (a half-written last line starts here). */
  completeBytes: number;
  /** True when the file ends in a line without its newline (a write cut short by a crash). */
  halfWrittenLast: boolean;
}

/**
 * Reads a JSON-lines results file: the header line's text, then every complete line parsed. A last
 * line without its newline is reported, not parsed. Line texts (header included) are returned
 * without a trailing `\r`: a file saved with Windows line endings reads as the same lines, and
 * whatever is written back from them has plain `\n` endings (`completeBytes` counts the bytes as
 * stored). Throws a ParamError (param `results`) that
 * names the file (as `what path`) and the line, for an unreadable file, no complete header line,
 * or a line that is not JSON.
 */
export function readJsonLines(path: string, what: string): JsonLinesFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ParamError('results', `invalid ${what} ${path} (cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const firstEnd = text.indexOf('\n');
  if (firstEnd < 0) throw new ParamError('results', `invalid ${what} ${path}: no complete header line`);
  const lines: JsonLine[] = [];
  let pos = firstEnd + 1;
  let lineNo = 1;
  let completeBytes = Buffer.byteLength(text.slice(0, pos));
  let halfWrittenLast = false;
  while (pos < text.length) {
    lineNo++;
    const end = text.indexOf('\n', pos);
    if (end < 0) {
      halfWrittenLast = true;
      break;
    }
    const stored = text.slice(pos, end);
    const lineText = withoutCr(stored);
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch {
      throw new ParamError('results', `invalid ${what} ${path}: line ${lineNo} is not JSON`);
    }
    lines.push({ line: lineNo, text: lineText, value });
    pos = end + 1;
    completeBytes += Buffer.byteLength(stored) + 1;
  }
  return { headerText: withoutCr(text.slice(0, firstEnd)), lines, completeBytes, halfWrittenLast };
}
