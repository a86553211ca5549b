/**
 * necto_nb for JupyterLab: HAR files (.har, .har.gz, .zhar) open from the file browser in a
 * kernel-backed view: the import report, the traffic grid with its detail pane and Export
 * buttons, and the waterfall, all made by necto_nb in Python. "Open with > Editor" still
 * shows the raw JSON; "Open as notebook" writes the view's cells beside the file.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ToolbarButton, WidgetTracker } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { PathExt } from '@jupyterlab/coreutils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import {
  INotebookModel,
  INotebookTracker,
  INotebookWidgetFactory,
  NotebookActions,
  NotebookPanel,
  NotebookTracker,
  NotebookWidgetFactory
} from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Contents, IDefaultDrive, ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { LabIcon, notebookIcon } from '@jupyterlab/ui-components';

import { HarViewProvider, PROVIDER_ID } from './provider';
import { isHar, KERNEL, stem, viewNotebook } from './view';
import { WarmKernel } from './warm';

const FACTORY = 'necto_nb';
const OPEN_AS_NOTEBOOK = 'necto-nb:open-as-notebook';

const harIcon = new LabIcon({
  name: 'necto-nb:har',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<rect x="1" y="2" width="6" height="2.5" rx="0.5"/>' +
    '<rect x="4" y="6.75" width="7" height="2.5" rx="0.5"/>' +
    '<rect x="8" y="11.5" width="7" height="2.5" rx="0.5"/>' +
    '</g></svg>'
});

/** The file types the view opens; `fileFormat` is how "Open With > Editor" loads them. */
const FILE_TYPES: Partial<DocumentRegistry.IFileType>[] = [
  { name: 'har', displayName: 'HAR', extensions: ['.har'], mimeTypes: ['application/json'], fileFormat: 'text' },
  {
    name: 'har-gz',
    displayName: 'HAR (gzip)',
    extensions: ['.har.gz'],
    mimeTypes: ['application/gzip'],
    fileFormat: 'base64'
  },
  {
    name: 'zhar',
    displayName: 'HAR (mitmproxy .zhar)',
    extensions: ['.zhar'],
    mimeTypes: ['application/octet-stream'],
    fileFormat: 'base64'
  }
];

/** Notebook panels with the notebook settings the user has now (windowing, editor). */
class HarViewFactory extends NotebookWidgetFactory {
  constructor(
    options: NotebookWidgetFactory.IOptions<NotebookPanel>,
    private readonly notebooks: NotebookWidgetFactory.IFactory
  ) {
    super(options);
  }

  protected createNewWidget(
    context: DocumentRegistry.IContext<INotebookModel>,
    source?: NotebookPanel
  ): NotebookPanel {
    this.editorConfig = this.notebooks.editorConfig;
    this.notebookConfig = this.notebooks.notebookConfig;
    return super.createNewWidget(context, source);
  }
}

/** `base` + ext, or `base-1` + ext, ...: the first name no file has. */
async function freeName(contents: Contents.IManager, base: string, ext: string): Promise<string> {
  for (let n = 0; ; n++) {
    const candidate = `${base}${n ? `-${n}` : ''}${ext}`;
    try {
      await contents.get(candidate, { content: false });
    } catch (error) {
      if (error instanceof ServerConnection.ResponseError && error.response.status === 404) {
        return candidate;
      }
      throw error;
    }
  }
}

/** Run the view's cells once its kernel is up; a view is never "unsaved". */
async function runView(panel: NotebookPanel, warm: WarmKernel): Promise<void> {
  panel.model?.stateChanged.connect((model, change) => {
    if (change.name === 'dirty' && change.newValue) {
      model.dirty = false;
    }
  });
  // No kernel is warmed until the cells have run, or the view closed before they could.
  warm.hold();
  let held = true;
  const release = () => {
    if (held) {
      held = false;
      warm.release();
    }
  };
  panel.disposed.connect(release);
  try {
    await panel.context.ready;
    await panel.sessionContext.ready;
    if (!panel.isDisposed) {
      await NotebookActions.runAll(panel.content, panel.sessionContext);
    }
  } finally {
    release();
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'necto-nb:har-view',
  description: 'Opens HAR files in a kernel-backed necto_nb view.',
  autoStart: true,
  requires: [
    IRenderMimeRegistry,
    IEditorServices,
    NotebookPanel.IContentFactory,
    INotebookWidgetFactory,
    INotebookTracker,
    IStateDB,
    IDefaultDrive
  ],
  optional: [ILayoutRestorer, IDefaultFileBrowser, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    editorServices: IEditorServices,
    contentFactory: NotebookPanel.IContentFactory,
    notebooks: NotebookWidgetFactory.IFactory,
    notebookTracker: INotebookTracker,
    state: IStateDB,
    drive: Contents.IDrive,
    restorer: ILayoutRestorer | null,
    browser: IDefaultFileBrowser | null,
    settings: ISettingRegistry | null
  ) => {
    const { commands, docRegistry, serviceManager } = app;
    if (!drive.contentProviderRegistry) {
      console.error('necto_nb: this JupyterLab has no content providers (4.4+ has); HAR files open as text');
      return;
    }
    const warm = new WarmKernel(serviceManager.sessions, serviceManager.nbconvert, serviceManager.serverSettings, KERNEL);
    drive.contentProviderRegistry.register(
      PROVIDER_ID,
      new HarViewProvider(drive, path => warm.take(path).catch(() => false))
    );
    window.addEventListener('pagehide', () => warm.shutdownOnUnload());
    // A kernel is warmed once the file browser shows a HAR file: a sign that one may be
    // opened, and the user's setting can turn it off. Loading the settings comes first.
    void (settings ? settings.load(plugin.id) : Promise.resolve(null))
      .then(loaded => {
        const follow = () => warm.setEnabled((loaded?.composite.warmKernel as boolean | undefined) ?? true);
        follow();
        loaded?.changed.connect(follow);
      })
      .catch(error => console.warn('necto_nb: settings not loaded; a kernel is kept warm', error))
      .then(() => {
        const look = () => {
          for (const item of browser?.model.items() ?? []) {
            if (item.type !== 'directory' && isHar(item.name)) {
              warm.warm();
              return;
            }
          }
        };
        look();
        browser?.model.refreshed.connect(look);
      });

    for (const fileType of FILE_TYPES) {
      docRegistry.addFileType({ ...fileType, contentType: 'file', icon: harIcon });
    }
    const names = FILE_TYPES.map(t => t.name!);
    const factory = new HarViewFactory(
      {
        name: FACTORY,
        label: 'necto_nb',
        modelName: 'notebook',
        fileTypes: names,
        defaultFor: names,
        preferKernel: true,
        canStartKernel: true,
        shutdownOnClose: true,
        contentProviderId: PROVIDER_ID,
        rendermime,
        contentFactory,
        mimeTypeService: editorServices.mimeTypeService
      },
      notebooks
    );
    docRegistry.addWidgetFactory(factory);

    const views = new WidgetTracker<NotebookPanel>({ namespace: 'necto-nb' });
    if (restorer) {
      void restorer.restore(views, {
        command: 'docmanager:open',
        args: panel => ({ path: panel.context.path, factory: FACTORY }),
        name: panel => panel.context.path
      });
    }
    factory.widgetCreated.connect(async (_, panel) => {
      panel.toolbar.addItem(
        'open-as-notebook',
        new ToolbarButton({
          icon: notebookIcon,
          label: 'Open as notebook',
          tooltip: 'Write a notebook with these cells beside the file, and open it',
          onClick: () => void commands.execute(OPEN_AS_NOTEBOOK, { path: panel.context.path })
        })
      );
      void runView(panel, warm);
      // Widgets (the grid) render only in notebooks that the notebook tracker holds. Its
      // restorer would reopen the file as an .ipynb after a reload, so its record goes, and
      // ours (above) reopens the view.
      const tracker = notebookTracker as NotebookTracker;
      await tracker.add(panel);
      await state.remove(`${tracker.namespace}:${panel.context.path}`);
      await views.add(panel);
    });

    commands.addCommand(OPEN_AS_NOTEBOOK, {
      label: 'Open as notebook',
      caption: 'Write a notebook with the cells of the necto_nb view beside the HAR file, and open it',
      icon: notebookIcon,
      execute: async args => {
        let path = args.path as string | undefined;
        if (!path && browser) {
          const selected = browser.selectedItems().next();
          path = selected.done ? undefined : selected.value.path;
        }
        if (!path) {
          return;
        }
        const contents = serviceManager.contents;
        const target = await freeName(contents, PathExt.join(PathExt.dirname(path), stem(path)), '.ipynb');
        await contents.save(target, { type: 'notebook', format: 'json', content: viewNotebook(path) });
        return commands.execute('docmanager:open', { path: target, factory: 'Notebook' });
      }
    });
    for (const name of names) {
      app.contextMenu.addItem({
        command: OPEN_AS_NOTEBOOK,
        selector: `.jp-DirListing-item[data-file-type="${name}"]`,
        rank: 3
      });
    }
  }
};

export default plugin;
