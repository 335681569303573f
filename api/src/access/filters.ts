/** FFmpeg access: the filters that open files, URLs or libraries. Pure. */
import type { Direction } from '../access.ts';

// ---------------------------------------------------------------------------------------------
// Filters that open files, URLs or libraries (FFmpeg 5.1's `ffmpeg -h filter=<name>`).

export interface FilterFiles {
  /** Option names in positional order, up to the last file option (aliases left out). */
  readonly positional: readonly string[];
  /** Option (and alias) names that hold something opened, and which way. */
  readonly files: Readonly<Record<string, Direction | 'url' | 'graph-format'>>;
  /** The filter can open things its options do not show (commands, plug-ins, models): judged as `filter:<name>`. */
  readonly opaque?: boolean;
}

export const READ = 'input' as const;
export const WRITE = 'output' as const;
const movie: FilterFiles = {
  positional: ['filename', 'format_name'],
  files: { filename: 'url', format_name: 'graph-format', f: 'graph-format' },
};
const subtitles: FilterFiles = {
  positional: ['filename', 'original_size', 'fontsdir'],
  files: { filename: READ, f: READ, fontsdir: READ },
};
const sendcmd: FilterFiles = { positional: ['commands', 'filename'], files: { filename: READ, f: READ }, opaque: true };
const statsFile: FilterFiles = { positional: ['stats_file'], files: { stats_file: WRITE, f: WRITE } };
const opaque: FilterFiles = { positional: [], files: {}, opaque: true };
const metadata: FilterFiles = { positional: ['mode', 'key', 'value', 'function', 'expr', 'file'], files: { file: WRITE } };
const cells: FilterFiles = { positional: ['filename'], files: { filename: READ, f: READ } };

/** Every filter of FFmpeg 5.1 with an option naming a file, URL, model, plug-in or command source. */
export const FILE_FILTERS: Readonly<Record<string, FilterFiles>> = {
  movie,
  amovie: movie,
  subtitles,
  ass: subtitles,
  sendcmd,
  asendcmd: sendcmd,
  zmq: opaque,
  azmq: opaque,
  ladspa: opaque,
  lv2: opaque,
  frei0r: opaque,
  frei0r_src: opaque,
  arnndn: opaque,
  dnn_classify: opaque,
  dnn_detect: opaque,
  dnn_processing: opaque,
  sr: opaque,
  derain: opaque,
  ocr: opaque,
  asr: opaque,
  libvmaf: opaque,
  openclsrc: opaque,
  program_opencl: opaque,
  lut1d: { positional: ['file'], files: { file: READ } },
  lut3d: { positional: ['file'], files: { file: READ } },
  sofalizer: { positional: ['sofa'], files: { sofa: READ } },
  signature: { positional: ['detectmode', 'nb_inputs', 'filename'], files: { filename: WRITE } },
  psnr: statsFile,
  ssim: statsFile,
  vmafmotion: statsFile,
  vidstabdetect: { positional: ['result'], files: { result: WRITE } },
  vidstabtransform: { positional: ['input'], files: { input: READ } },
  deshake: {
    positional: ['x', 'y', 'w', 'h', 'rx', 'ry', 'edge', 'blocksize', 'contrast', 'search', 'filename'],
    files: { filename: WRITE },
  },
  firequalizer: {
    positional: ['gain', 'gain_entry', 'delay', 'accuracy', 'wfunc', 'fixed', 'multi', 'zero_phase', 'scale', 'dumpfile'],
    files: { dumpfile: WRITE },
  },
  metadata,
  ametadata: metadata,
  removelogo: cells,
  cellauto: cells,
  life: cells,
  cover_rect: { positional: ['cover'], files: { cover: READ } },
  find_rect: { positional: ['object'], files: { object: READ } },
  libplacebo: { positional: [], files: { custom_shader_path: READ } },
  drawtext: { positional: ['fontfile', 'text', 'textfile'], files: { fontfile: READ, textfile: READ } },
  curves: { positional: ['preset', 'master', 'red', 'green', 'blue', 'all', 'psfile', 'plot'], files: { psfile: READ, plot: WRITE } },
  fieldhint: { positional: ['hint'], files: { hint: READ } },
  flite: { positional: ['list_voices', 'nb_samples', 'text', 'textfile'], files: { textfile: READ } },
  nnedi: { positional: ['weights'], files: { weights: READ } },
  paletteuse: {
    positional: ['dither', 'bayer_scale', 'diff_mode', 'new', 'alpha_threshold', 'use_alpha', 'debug_kdtree'],
    files: { debug_kdtree: WRITE },
  },
  selectivecolor: {
    positional: ['correction_method', 'reds', 'yellows', 'greens', 'cyans', 'blues', 'magentas', 'whites', 'neutrals', 'blacks', 'psfile'],
    files: { psfile: READ },
  },
  showcqt: {
    positional: [
      'size',
      'fps',
      'bar_h',
      'axis_h',
      'sono_h',
      'fullhd',
      'sono_v',
      'bar_v',
      'sono_g',
      'bar_g',
      'bar_t',
      'timeclamp',
      'attack',
      'basefreq',
      'endfreq',
      'coeffclamp',
      'tlength',
      'count',
      'fcount',
      'fontfile',
      'font',
      'fontcolor',
      'axisfile',
    ],
    files: { fontfile: READ, axisfile: READ },
  },
  xfade_opencl: opaque,
};
