// TrafficTable's browser side: draws only the rows in sight (the kernel holds the rest),
// asks for more as the user scrolls, and reports clicks with their modifier keys.
// Every cell is set with textContent, never innerHTML: HAR text can never become markup.

const ROW_HEIGHT = 22; // px; must match .necto-tr in table.css
const OVERSCAN = 40; // rows asked for beyond each edge of the visible ones

function div(className) {
  const el = document.createElement("div");
  el.className = className;
  return el;
}

function render({ model, el }) {
  const root = div("necto-table");
  root.tabIndex = 0;
  // JupyterLab: keys pressed in the table move its selection, not the notebook's cells
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const head = div("necto-head");
  const scroller = div("necto-scroll");
  const spacer = div("necto-spacer");
  const body = div("necto-body");
  const empty = div("necto-empty");
  spacer.appendChild(body);
  // The header scrolls with the rows (sticky), so both share one width and one scrollbar.
  scroller.append(head, spacer, empty);
  root.append(scroller);
  el.appendChild(root);

  let asked = null; // the viewport last asked for, until a window answers it

  const columns = () => model.get("columns") || [];
  const template = () => columns().map((c) => c.width).join(" ");

  function drawHead() {
    const [key, direction] = model.get("sort") || ["#", "asc"];
    head.style.gridTemplateColumns = template();
    head.replaceChildren(
      ...columns().map((c) => {
        const th = div(`necto-th necto-${c.align === "right" ? "right" : "left"}`);
        th.textContent = c.label + (c.key === key ? (direction === "asc" ? " \u25B2" : " \u25BC") : "");
        th.title = `Sort by ${c.label}`;
        th.addEventListener("click", () => model.send({ type: "sort", key: c.key }));
        return th;
      }),
    );
  }

  function timingBar(values) {
    const bar = div("necto-bar");
    const [left, pre, wait, receive] = (values || []).map((v) => Math.max(0, Number(v) || 0));
    const track = div("necto-bar-track");
    track.style.marginLeft = `${Math.min(left, 100)}%`;
    for (const [cls, width] of [["pre", pre], ["wait", wait], ["receive", receive]]) {
      const part = div(`necto-bar-${cls}`);
      part.style.width = `${width}%`;
      track.appendChild(part);
    }
    bar.appendChild(track);
    return bar;
  }

  function drawRows() {
    const win = model.get("window") || {};
    const rows = Array.isArray(win.rows) ? win.rows : [];
    const start = Number(win.start) || 0;
    const cols = columns();
    const tpl = template();
    body.style.transform = `translateY(${start * ROW_HEIGHT}px)`;
    body.replaceChildren(
      ...rows.map((r, i) => {
        const tr = div("necto-tr");
        if (r.sel) tr.classList.add("selected");
        if (r.focus) tr.classList.add("focus");
        tr.style.gridTemplateColumns = tpl;
        tr.dataset.pos = String(start + i);
        tr.dataset.id = String(Number(r.id));
        cols.forEach((c, j) => {
          const td = div(`necto-td necto-${c.align === "right" ? "right" : "left"} necto-col-${j}`);
          if (c.key === "timing") {
            td.appendChild(timingBar(r.bar));
          } else {
            td.textContent = String(r.cells?.[j] ?? "");
          }
          if (c.key === "status" && /^s[0-5]$/.test(r.cls)) td.classList.add(`necto-${r.cls}`);
          const tip = r.tips?.[j];
          if (tip) td.title = String(tip);
          tr.appendChild(td);
        });
        return tr;
      }),
    );
    if (asked && start === asked[0]) asked = null;
    empty.textContent = model.get("row_count") ? "" : model.get("placeholder");
  }

  function wanted() {
    const first = Math.floor(scroller.scrollTop / ROW_HEIGHT);
    const visible = Math.ceil(scroller.clientHeight / ROW_HEIGHT) + 1;
    return [first, Math.min(first + visible, model.get("row_count"))];
  }

  function request() {
    const [first, last] = wanted();
    const win = model.get("window") || {};
    const have0 = Number(win.start) || 0;
    const have1 = have0 + (Array.isArray(win.rows) ? win.rows.length : 0);
    if (first >= have0 && last <= have1) return;
    const start = Math.max(0, first - OVERSCAN);
    const count = last - first + 2 * OVERSCAN;
    if (asked && asked[0] === start && asked[1] === count) return;
    asked = [start, count];
    model.set("viewport", asked);
    model.save_changes();
  }

  function resize() {
    const atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - ROW_HEIGHT;
    spacer.style.height = `${model.get("row_count") * ROW_HEIGHT}px`;
    // Like a browser's network panel: while at the bottom, new rows scroll into view.
    if (atBottom && scroller.scrollTop > 0) scroller.scrollTop = scroller.scrollHeight;
    request();
  }

  let frame = 0;
  scroller.addEventListener("scroll", () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; request(); });
  });
  body.addEventListener("mousedown", (e) => {
    if (e.shiftKey) e.preventDefault(); // no text selection on shift-click
  });
  body.addEventListener("click", (e) => {
    const tr = e.target.closest(".necto-tr");
    if (!tr) return;
    model.send({
      type: "click",
      pos: Number(tr.dataset.pos),
      id: Number(tr.dataset.id),
      ctrl: e.ctrlKey || e.metaKey,
      shift: e.shiftKey,
    });
    root.focus({ preventScroll: true });
  });
  root.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      model.send({ type: "key", key: e.key, shift: e.shiftKey });
    } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "a") {
      model.send({ type: "all" });
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  });

  const setHeight = () => { scroller.style.height = model.get("height"); };
  const onColumns = () => { drawHead(); drawRows(); };
  const onWindow = () => { drawRows(); request(); };
  const handlers = [
    ["change:columns", onColumns],
    ["change:sort", drawHead],
    ["change:window", onWindow],
    ["change:row_count", resize],
    ["change:height", setHeight],
  ];
  for (const [name, fn] of handlers) model.on(name, fn);
  setHeight();
  drawHead();
  spacer.style.height = `${model.get("row_count") * ROW_HEIGHT}px`;
  drawRows();
  requestAnimationFrame(request);
  return () => {
    for (const [name, fn] of handlers) model.off(name, fn);
  };
}

export default { render };
