/**
 * Serves a HAR file to JupyterLab as the notebook that views it, and never writes it.
 *
 * A content provider (JupyterLab 4.4+) decides what a document's context loads and saves;
 * with it the view is an ordinary notebook panel (kernel, widgets, plotly) whose path is the
 * HAR itself, so its kernel starts in the HAR's folder. The browser never receives the
 * file's bytes: the kernel reads them.
 */
import type { Contents } from '@jupyterlab/services';
import { viewNotebook } from './view';

type Provider = Pick<Contents.IDrive, 'get' | 'save'>;

export const PROVIDER_ID = 'necto-nb-har-view';

export class HarViewProvider implements Provider {
  /**
   * `files`: the drive itself, asked only whether the file exists and when it changed.
   * `beforeView`: what runs before a view's panel looks for its kernel (it gives the view
   * the kernel kept warm).
   */
  constructor(
    private readonly files: Provider,
    private readonly beforeView: (localPath: string) => Promise<unknown>
  ) {}

  async get(localPath: string, options?: Contents.IFetchOptions): Promise<Contents.IModel> {
    const file = await this.files.get(localPath, { content: false });
    if (options?.content === false) {
      return this.asView(file, null);
    }
    await this.beforeView(localPath);
    return this.asView(file, viewNotebook(localPath));
  }

  /** The view is read-only: saving it (Ctrl+S, autosave) leaves the HAR untouched. */
  async save(localPath: string): Promise<Contents.IModel> {
    return this.asView(await this.files.get(localPath, { content: false }), null);
  }

  private asView(file: Contents.IModel, content: unknown): Contents.IModel {
    return {
      ...file,
      type: 'notebook',
      format: 'json',
      mimetype: 'application/x-ipynb+json',
      writable: false,
      content,
      size: undefined,
      hash: undefined,
      hash_algorithm: undefined
    };
  }
}
