/**
 * One kernel kept warm for the next HAR view: started before it is needed, with the view's
 * imports done (necto_nb.labview.warm), so a double-click runs the view's cells at once
 * instead of waiting for a kernel to start and import pandas and the widgets.
 *
 * It is an ordinary session under a name that says what it is, so JupyterLab's Running
 * panel lists it. A view takes it by renaming the session to the HAR's path before its
 * panel looks for a session of that path (JupyterLab's own sessions start under a
 * placeholder path and are renamed the same way), after moving the kernel into the HAR's
 * folder. The waiting kernel is shut down when the page goes, when the user's setting turns
 * it off, or never started; one a closed page left is shut down by the next page that
 * warms one; a culled or dead one is not taken. No kernel is warmed while a
 * view opens: on a machine of few cores the start would slow the view it is meant to speed.
 *
 * A page never shuts down a kernel another live page is starting. While a kernel starts, the
 * server holds its page's WebSocket handshake open until the kernel answers; shut the kernel
 * down then and the server holds it for a minute (jupyter_server's kernel_info_timeout), and
 * Chromium, which opens one WebSocket to a host at a time, holds up every other kernel
 * connection of that browser meanwhile, every tab's. So each page holds a Web Lock (released
 * by the browser when the page goes, however it goes) named in the paths of the kernels it
 * warms, and the clean-up passes over kernels whose page's lock is held.
 *
 * A view waits for the kernel kept warm 15 s at most (TAKE_WAIT_MS). Seen in tests:
 * a kept-warm kernel's connection that held the page's requests unsent for minutes, its
 * WebSocket open, the kernel idle; a view waiting on it showed nothing all that time. Past
 * the wait the view starts a kernel of its own, as with the setting off, and the warm one is
 * shut down.
 */
import { PathExt, URLExt } from '@jupyterlab/coreutils';
import { NbConvert, ServerConnection, Session } from '@jupyterlab/services';
import { UUID } from '@lumino/coreutils';

import { pythonString } from './view';

/** The session's name in the Running panel. */
export const WARM_NAME = 'necto_nb kernel kept warm for HAR files';

const WARM_CODE = '__import__("necto_nb.labview").labview.warm()';

/** How long a view waits for the kernel kept warm to be its own (behind its warm-up's imports: seconds). */
const TAKE_WAIT_MS = 15_000;

/** Web Locks exist in secure contexts only (https, localhost): elsewhere undefined. */
const LOCKS: LockManager | undefined = navigator.locks;

/**
 * Hold the Web Lock `name` while this page lives. False when it cannot be held (no Web
 * Locks here).
 */
function holdForLife(name: string): Promise<boolean> {
  return new Promise(held => {
    if (!LOCKS) {
      held(false);
      return;
    }
    LOCKS.request(name, () => {
      held(true);
      return new Promise(() => undefined); // never released: the browser releases it with the page
    }).catch(() => held(false));
  });
}

/** Whether `promise` settles within `ms` (a rejection within them is thrown, a later one dropped). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>(resolve => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(() => true);
  settled.catch(() => undefined);
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

export class WarmKernel {
  private waiting: Promise<Session.ISessionConnection | null> | null = null;
  /** The waiting session's id once the server has started it (for the page's last request). */
  private waitingId: string | null = null;
  private enabled = true;
  /** Views opening now (`hold` ... `release`). */
  private opening = 0;
  /** The Web Lock this page holds while it lives; the paths of the kernels it warms begin with it. */
  private readonly page = `necto-nb-warm-${UUID.uuid4()}`;
  private readonly pageLocked = holdForLife(this.page);
  private started = 0;

  /**
   * `kernelName`: the kernel spec the view's notebook asks for. Kernels start in the server's
   * root folder; `take` moves them into the HAR's folder. `nbconvert`: asked for its export
   * formats ahead of the first view (JupyterLab asks when a page's first notebook panel
   * opens; the server's answer takes seconds the first time and holds up the kernel's
   * connection meanwhile); the answer is kept for the page.
   */
  constructor(
    private readonly sessions: Session.IManager,
    private readonly nbconvert: NbConvert.IManager,
    private readonly server: ServerConnection.ISettings,
    private readonly kernelName: string
  ) {}

  /** On or off (the user's setting); off shuts a waiting kernel down. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    if (enabled) {
      return;
    }
    const waiting = this.waiting;
    this.waiting = this.waitingId = null;
    void waiting?.then(session => session && this.discard(session));
  }

  /** A view opens: warm no kernel until it `release`s. */
  hold(): void {
    this.opening++;
  }

  /** The view has run its cells: warm the next kernel. */
  release(): void {
    this.opening--;
    this.warm();
  }

  /** Start a kernel unless one is waiting or starting, or a view is opening. */
  warm(): void {
    if (this.enabled && !this.waiting && !this.opening) {
      void this.nbconvert.getExportFormats(false).catch(() => undefined);
      const waiting = (this.waiting = this.start());
      void waiting.then(session => {
        if (session && this.waiting === waiting) {
          this.waitingId = session.id;
        }
      });
    }
  }

  /**
   * Shut down the kept-warm kernels that a page which is gone left starting (closed or
   * crashed before it connected): no page is connected to them, and no live page of this
   * browser holds the lock their path begins with. A page that cannot hold Web Locks cannot
   * tell them from another page's kernel starting, and leaves them (the server culls idle
   * kernels if told to).
   */
  private async sweep(): Promise<void> {
    if (!LOCKS || !(await this.pageLocked)) {
      return;
    }
    const live = ((await LOCKS.query()).held ?? []).map(lock => `${lock.name}-`);
    await this.sessions.refreshRunning();
    for (const model of this.sessions.running()) {
      if (model.name === WARM_NAME && model.kernel?.connections === 0 && !live.some(page => model.path.startsWith(page))) {
        await this.sessions.shutdown(model.id);
      }
    }
  }

  /**
   * Shut down a kernel this page started: its connection closes first, so that no handshake
   * of this page is left waiting on a kernel that is going (see the top of this file).
   */
  private async discard(session: Session.ISessionConnection): Promise<void> {
    const id = session.id;
    session.dispose();
    await this.sessions.shutdown(id).catch(() => undefined);
  }

  private async start(): Promise<Session.ISessionConnection | null> {
    try {
      await this.sweep().catch(() => undefined); // first: this page's new kernel is not connected yet either
      const session = await this.sessions.startNew({
        path: `${this.page}-${++this.started}`, // the sweep of another page tells it is this page's
        type: '', // no file behind it: a click on it in the Running panel opens nothing
        name: WARM_NAME,
        kernel: { name: this.kernelName }
      });
      session.kernel?.requestExecute({ code: WARM_CODE, silent: true, store_history: false });
      return session;
    } catch (error) {
      console.warn('necto_nb: could not start a kernel ahead of the next HAR view', error);
      return null;
    }
  }

  /**
   * Give the waiting kernel to the view of `path` (the session becomes that path's, so the
   * view's panel connects to it). False when there is none to give (off, failed, culled,
   * taken by another view, no answer within TAKE_WAIT_MS), or `path` has a session already
   * (a view reloaded): the panel then does what it always does.
   */
  async take(path: string): Promise<boolean> {
    if (!this.waiting || (await this.sessions.findByPath(path))) {
      return false;
    }
    const waiting = this.waiting; // read after the wait: another view may have taken it
    if (!waiting) {
      return false;
    }
    this.waiting = this.waitingId = null;
    const session = await waiting;
    const kernel = session?.kernel;
    if (!session || session.isDisposed || !kernel || kernel.isDisposed || kernel.status === 'dead') {
      return false;
    }
    try {
      const folder = pythonString(PathExt.dirname(path));
      const moved = kernel.requestExecute({
        code: `__import__("necto_nb.labview").labview.take(${folder})`,
        silent: true,
        store_history: false
      }).done;
      if (!(await settlesWithin(moved, TAKE_WAIT_MS))) {
        throw new Error(`no answer within ${TAKE_WAIT_MS / 1000} s`);
      }
      await session.setPath(path);
      await session.setName(PathExt.basename(path));
      await session.setType('notebook');
    } catch (error) {
      console.warn('necto_nb: the kernel kept warm could not be given to the view', error);
      void this.discard(session);
      return false;
    }
    session.dispose(); // this connection only: the view's panel makes its own
    return true;
  }

  /**
   * Shut the waiting kernel down as the page goes: a request the browser finishes after the
   * page is gone (`keepalive`), sent at once as the page cannot wait for anything. A kernel
   * still starting at that moment is left until the next page warms one (`sweep`).
   */
  shutdownOnUnload(): void {
    const id = this.waitingId;
    this.enabled = false;
    this.waiting = this.waitingId = null;
    if (id) {
      const url = URLExt.join(this.server.baseUrl, 'api/sessions', encodeURIComponent(id));
      void ServerConnection.makeRequest(url, { method: 'DELETE', keepalive: true }, this.server);
    }
  }
}
