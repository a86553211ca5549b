/**
 * The cells of a HAR's view: the same code a user would write, so "Open as notebook"
 * writes exactly what the view ran. Python reads the file; nothing here parses HAR.
 */
import { PathExt } from '@jupyterlab/coreutils';
import type { INotebookContent } from '@jupyterlab/nbformat';

/** File name endings the view opens, longest first (".har.gz" before ".har"). */
const HAR_SUFFIXES = ['.har.gz', '.zhar', '.har'];

/** The kernel spec the view's notebook asks for. */
export const KERNEL = 'python3';

/** How many requests the view's waterfall draws (plotly's SVG bars up to this many). */
const WATERFALL_ROWS = 1000;

/** A Python string literal for `text` (JSON's string syntax is a subset of Python's). */
export function pythonString(text: string): string {
  return JSON.stringify(text);
}

/** The code cells that reproduce the view of `name` (a file in the kernel's folder). */
export function viewSources(name: string): string[] {
  // The grid first: the report checks every field of every entry, which takes a while
  // in a large file. The waterfall draws the first requests: tens of thousands of lanes
  // take the browser minutes to draw, and no screen has room for them.
  return [
    `import necto_nb as nn\n\ns = nn.read_har(${pythonString(name)})\ns.grid()`,
    's.report',
    `nn.waterfall(s, rows=s.df.head(${WATERFALL_ROWS}))  # nn.waterfall(s): every request`
  ];
}

/** The view of the HAR at `path` as a notebook. */
export function viewNotebook(path: string): INotebookContent {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: KERNEL, display_name: 'Python 3 (ipykernel)', language: 'python' },
      language_info: { name: 'python' }
    },
    cells: viewSources(PathExt.basename(path)).map((source, i) => ({
      cell_type: 'code',
      id: `necto-view-${i}`,
      execution_count: null,
      metadata: {},
      outputs: [],
      source
    }))
  };
}

/** Whether the view opens a file of this name. */
export function isHar(name: string): boolean {
  return HAR_SUFFIXES.some(s => name.toLowerCase().endsWith(s));
}

/** "capture.har.gz" -> "capture": the name a notebook about the file starts from. */
export function stem(path: string): string {
  const name = PathExt.basename(path);
  const suffix = HAR_SUFFIXES.find(s => name.toLowerCase().endsWith(s));
  return suffix ? name.slice(0, name.length - suffix.length) || name : name;
}
