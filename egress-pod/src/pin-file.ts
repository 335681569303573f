/**
 * The pin file: the source's addresses as the operator last wrote them (the pod's
 * `corecast.dev/rtp-source` annotation, which the kubelet keeps in a downward API file). Read
 * at start and again every second; the kubelet replaces the file atomically (a symlink swap),
 * so a read sees the old or the new content, never half of one. A missing or unreadable file,
 * or one that names something other than IP addresses, pins nothing: no sender is accepted.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parsePin } from './ingest.ts';
import type { Logger } from './log.ts';

/** How often the file is read again (ms). */
export const PIN_POLL_MS = 1000;

/** Reads a pin file now and then, and hands its addresses on. */
export class PinFile {
  readonly #path: string;
  readonly #onPin: (addresses: readonly string[]) => void;
  readonly #log: Logger | undefined;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #last: string | undefined;
  #reading = false;

  constructor(path: string, onPin: (addresses: readonly string[]) => void, log?: Logger, intervalMs = PIN_POLL_MS) {
    this.#path = path;
    this.#onPin = onPin;
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** Reads the file once, at once, then every interval. */
  start(): void {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch (err) {
      text = this.#failed(err);
    }
    this.#apply(text);
    this.#timer = setInterval(() => void this.#poll(), this.#intervalMs);
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
      this.#apply(await readFile(this.#path, 'utf8').catch((err: unknown) => this.#failed(err)));
    } finally {
      this.#reading = false;
    }
  }

  /** An unreadable file: nothing pinned. Returns the text that stands for it. */
  #failed(err: unknown): string {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return `\0${code}`;
  }

  #apply(text: string): void {
    if (text === this.#last) return;
    this.#last = text;
    if (text.startsWith('\0')) {
      this.#log?.warn({ file: this.#path, error: text.slice(1) }, 'RTP source pin file unreadable: no sender is accepted');
      this.#onPin([]);
      return;
    }
    const parsed = parsePin(text);
    if ('error' in parsed) {
      this.#log?.error({ file: this.#path }, `RTP source pin file: ${parsed.error}; no sender is accepted`);
      this.#onPin([]);
      return;
    }
    this.#onPin(parsed.addresses);
  }
}
