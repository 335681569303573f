/**
 * Files the operator writes through pod annotations, which the kubelet keeps in downward API
 * files: the source pin (`corecast.dev/rtp-source`), and on replicas the relay targets and the
 * drain deadline. Each is read at start and again every second; the kubelet replaces the file
 * atomically (a symlink swap), so a read sees the old or the new content, never half of one.
 * What a missing, unreadable or malformed file means is each file's own choice (`WatchedFile`'s
 * `fallback`): for the pin it pins nothing, so no sender is accepted.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parsePin } from './ingest.ts';
import type { Logger } from './log.ts';

/** How often the file is read again (ms). */
export const PIN_POLL_MS = 1000;

/** One watched file: how to read it, and what stands for it when it cannot be read. */
export interface WatchedFileOptions<T> {
  /** The file. */
  readonly path: string;
  /** What the file is, for log lines ("RTP source pin file"). */
  readonly what: string;
  /** Its content as a value, or an error naming what is wrong with it. */
  readonly parse: (text: string) => { value: T } | { error: string };
  /** The value of a missing, unreadable or malformed file, and what it means in words. */
  readonly fallback: { readonly value: T; readonly meaning: string };
  /** Hears every new value (also the first one, at start). */
  readonly onValue: (value: T) => void;
  readonly log?: Logger | undefined;
  /** Milliseconds between reads (default PIN_POLL_MS). */
  readonly intervalMs?: number;
}

/** Reads a file now and then, and hands its value on whenever its content changed. */
export class WatchedFile<T> {
  readonly #options: WatchedFileOptions<T>;
  #timer: NodeJS.Timeout | undefined;
  #last: string | undefined;
  #reading = false;

  constructor(options: WatchedFileOptions<T>) {
    this.#options = options;
  }

  /** Reads the file once, at once, then every interval. */
  start(): void {
    let text: string;
    try {
      text = readFileSync(this.#options.path, 'utf8');
    } catch (err) {
      text = failed(err);
    }
    this.#apply(text);
    this.#timer = setInterval(() => void this.#poll(), this.#options.intervalMs ?? PIN_POLL_MS);
    this.#timer.unref();
  }

  /** Stops reading. */
  stop(): void {
    clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      this.#apply(await readFile(this.#options.path, 'utf8').catch(failed));
    } finally {
      this.#reading = false;
    }
  }

  #apply(text: string): void {
    if (text === this.#last) return;
    this.#last = text;
    const { path, what, fallback, log } = this.#options;
    if (text.startsWith('\0')) {
      log?.warn({ file: path, error: text.slice(1) }, `${what} unreadable: ${fallback.meaning}`);
      this.#options.onValue(fallback.value);
      return;
    }
    const parsed = this.#options.parse(text);
    if ('error' in parsed) {
      log?.error({ file: path }, `${what}: ${parsed.error}; ${fallback.meaning}`);
      this.#options.onValue(fallback.value);
      return;
    }
    this.#options.onValue(parsed.value);
  }
}

/** An unreadable file: the text that stands for it (no real file starts with a NUL). */
function failed(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  return `\0${code}`;
}

/** The source pin file: the addresses RTP is accepted from; nothing readable pins nobody. */
export class PinFile extends WatchedFile<readonly string[]> {
  constructor(path: string, onPin: (addresses: readonly string[]) => void, log?: Logger, intervalMs = PIN_POLL_MS) {
    super({
      path,
      what: 'RTP source pin file',
      parse: (text) => {
        const parsed = parsePin(text);
        return 'error' in parsed ? parsed : { value: parsed.addresses };
      },
      fallback: { value: [], meaning: 'no sender is accepted' },
      onValue: onPin,
      log,
      intervalMs,
    });
  }
}
