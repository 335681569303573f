/**
 * bench:operator's progress phase: one progress sender per running Process, each posting an
 * FFmpeg `-progress` block to the operator's progress port every `reportSeconds` (spread over
 * the interval), while the API server's own request counter says how many Process status
 * writes reached it. The senders
 * are HTTP clients posting what the pod wrapper posts, not FFmpeg: a thousand FFmpeg processes
 * do not fit the benchmark machine, and the operator cannot tell the difference (the wrapper
 * test and progress.int.test.ts run the real FFmpeg and wrapper).
 */
/** What one window measured. */
export interface ProgressLoad {
  readonly seconds: number;
  /** Process status writes the API server counted in the window. */
  readonly statusWrites: number;
  /** Reports the operator answered 204. */
  readonly reportsAccepted: number;
  readonly reportsRefused: number;
}

const block = (frame: number) =>
  `frame=${frame}\nfps=25.00\nstream_0_0_q=28.0\nbitrate= 812.5kbits/s\ntotal_size=${frame * 4096}\n` +
  `out_time_us=${frame * 40_000}\nout_time_ms=${frame * 40_000}\nout_time=00:00:00.000000\ndup_frames=0\ndrop_frames=0\nspeed=1.00x\nprogress=continue\n`;

/**
 * Sends progress for `pods` (process name → FFmpeg pod uid of namespace `ns`) to `port`; after
 * `warmupSeconds` reads `statusWrites()` (the API server's count so far) at both ends of
 * `windowSeconds`.
 */
export async function progressLoad(
  statusWrites: () => Promise<number>,
  ns: string,
  port: number,
  pods: ReadonlyMap<string, string>,
  opts: { reportSeconds: number; warmupSeconds: number; windowSeconds: number },
): Promise<ProgressLoad> {
  let running = true;
  let accepted = 0;
  let refused = 0;
  let counting = false;
  const senders = [...pods].map(async ([name, uid], i) => {
    await new Promise((r) => setTimeout(r, (i / pods.size) * opts.reportSeconds * 1000));
    for (let frame = 1; running; frame += 25 * opts.reportSeconds) {
      const next = Date.now() + opts.reportSeconds * 1000;
      try {
        const rsp = await fetch(`http://127.0.0.1:${port}/progress/${ns}/${name}`, {
          method: 'POST',
          headers: { 'x-corecast-pod-uid': uid, 'content-type': 'text/plain' },
          body: block(frame),
        });
        await rsp.arrayBuffer();
        if (counting && rsp.status === 204) accepted++;
        else if (counting) refused++;
      } catch {
        if (counting) refused++;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  });
  await new Promise((r) => setTimeout(r, opts.warmupSeconds * 1000));
  const before = await statusWrites();
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, opts.windowSeconds * 1000));
  counting = false;
  const writes = (await statusWrites()) - before;
  const seconds = (performance.now() - t0) / 1000;
  running = false;
  await Promise.allSettled(senders);
  return { seconds, statusWrites: writes, reportsAccepted: accepted, reportsRefused: refused };
}
