/** The side-by-side benchmark's Markdown table, from the JSON lines its servers' runs printed. */

/** One printed figure. */
interface Figure {
  name: string;
  value: number;
  [extra: string]: unknown;
}

/** A server's column. */
export interface Column {
  /** The prefix of its figures (e.g. corecast-auto). */
  name: string;
  /** The column's heading. */
  title: string;
}

const fixed = (x: number | undefined, digits = 1) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(digits));

/**
 * One row a figure, one column a server. `lines` are the JSON lines (other lines are skipped),
 * `steps` the viewer counts asked for, `notes` printed under the table.
 */
export function sideBySideTable(
  lines: readonly string[],
  columns: readonly Column[],
  steps: readonly number[],
  notes: readonly string[],
): string {
  const all: Figure[] = [];
  for (const line of lines) {
    try {
      const f = JSON.parse(line) as Figure;
      if (typeof f.name === 'string') all.push(f);
    } catch {
      // not a figure
    }
  }
  const figures = new Map(all.map((f) => [f.name, f]));
  const get = (c: Column, name: string) => figures.get(`${c.name}.${name}`)?.value;
  /** The steps a server ran (those with a viewer count). */
  const ran = (c: Column) => steps.filter((n) => get(c, `step.${n}.viewers_connected`) !== undefined);
  const sum = (c: Column, name: string) => ran(c).reduce((a, n) => a + (get(c, `step.${n}.${name}`) ?? 0), 0);
  const rows: [string, (c: Column) => string][] = [];
  for (const n of steps)
    rows.push([
      `Server CPU per viewer-second, ${n} viewers`,
      (c) => {
        const cpu = get(c, `step.${n}.cpu_per_viewer`);
        if (cpu === undefined) return 'not run';
        const held = get(c, `step.${n}.held`) === 1;
        const loss = get(c, `step.${n}.loss_ratio`) ?? Number.NaN;
        const connected = get(c, `step.${n}.viewers_connected`) ?? 0;
        const silent = get(c, `step.${n}.viewers_silent`) ?? 0;
        const why = held
          ? ''
          : connected < n
            ? ` (${connected} connected)`
            : ` (loss ${fixed(loss * 100, 2)} %${silent > 0 ? `, ${silent} viewers silent` : ''})`;
        return `${fixed(cpu)} ms (${fixed(get(c, `step.${n}.cpu`), 2)} cores)${why}`;
      },
    ]);
  rows.push(['Viewers held with zero loss', (c) => String(get(c, 'viewers_held') ?? '—')]);
  rows.push([
    `Event-loop delay p99, worst thread, at ${steps.join(' / ')} viewers (the egress's own metrics)`,
    (c) =>
      ran(c).some((n) => get(c, `step.${n}.event_loop_p99`) !== undefined)
        ? steps.map((n) => fixed(get(c, `step.${n}.event_loop_p99`))).join(' / ') + ' ms'
        : '—',
  ]);
  rows.push([
    'Load client drops, all steps: its sockets / namespace RcvbufErrors / InErrors',
    (c) => `${sum(c, 'load_client_drops')} / ${sum(c, 'namespace_udp_rcvbuf_errors')} / ${sum(c, 'namespace_udp_in_errors')}`,
  ]);
  rows.push([
    'RSS idle / per viewer',
    (c) => {
      const held = get(c, 'viewers_held') ?? 0;
      const at = held > 0 ? held : ran(c).at(-1);
      return `${fixed(get(c, 'rss_idle'), 0)} MiB / ${fixed(get(c, `step.${at}.rss_per_viewer`), 2)} MiB (at ${at ?? '—'})`;
    },
  ]);
  rows.push(['RSS after the load has gone', (c) => `${fixed(get(c, 'rss_after_load'), 0)} MiB`]);
  const first = steps[0];
  rows.push([
    `First keyframe at a werift viewer from its POST, p50 / p95 (the decrypting viewers of the ${first}-viewer step; first packet p50 of all)`,
    (c) =>
      `${fixed(get(c, `step.${first}.first_keyframe_p50`), 0)} / ${fixed(get(c, `step.${first}.first_keyframe_p95`), 0)} ms ` +
      `(${fixed(get(c, `step.${first}.first_packet_p50`), 0)} ms)`,
  ]);
  rows.push([
    'Time to first frame in Chromium, late joiner, POST → first frame, p50 / p95 (after the load steps; first session)',
    (c) =>
      `${fixed(get(c, 'browser.ttff_p50'), 0)} / ${fixed(get(c, 'browser.ttff_p95'), 0)} ms ` +
      `(${fixed(get(c, 'browser.ttff_first_session'), 0)} ms)`,
  ]);
  rows.push([
    'Load client CPU at the last step run',
    (c) => {
      const last = ran(c).at(-1);
      return last === undefined ? '—' : `${fixed(get(c, `step.${last}.load_client_cpu`), 2)} cores (${last} viewers)`;
    },
  ]);
  rows.push([
    'Tries towards an outside address (netns Ip OutNoRoutes): server and load / Chromium after them',
    (c) => `${get(c, 'netns.no_route_packets') ?? '—'} / ${get(c, 'netns.no_route_browser') ?? '—'}`,
  ]);
  rows.push([
    'Machine load average (1 min), start → end',
    (c) => {
      const loads = all.filter((f) => f.name === `${c.name}.machine.load_average_1m`).map((f) => f.value);
      return loads.length > 0 ? `${fixed(loads[0], 2)} → ${fixed(loads.at(-1), 2)}` : '—';
    },
  ]);
  const out = [`| Figure | ${columns.map((c) => c.title).join(' | ')} |`, `|---|${columns.map(() => '---|').join('')}`];
  for (const [title, cell] of rows) out.push(`| ${title} | ${columns.map(cell).join(' | ')} |`);
  return [...out, '', ...notes.map((n) => `- ${n}`)].join('\n');
}
