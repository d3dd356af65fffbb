// What the benchmark and the tests read about the page's speed, kept apart from its state:
// the recent pointer moves that changed the reference (with their events' times), the recent
// frames, and when the current dataset's first full frame was drawn.
const KEEP = 500;

export class Records {
  constructor(model) {
    this.moves = [];     // {x, y, t}: t the pointer event's timeStamp (newest last)
    this.frames = [];    // {kind, t, issued, mode, key, reference, channel, pane} (newest last)
    this.shownAt = null; // performance.now() of the current dataset's first full frame
    model.subscribe((view, changed, meta) => {
      if (changed.has('dataset')) this.shownAt = null;
      if (changed.has('reference') && view.reference && meta.time !== undefined) {
        keep(this.moves, { x: view.reference.x, y: view.reference.y, t: meta.time });
      }
    });
    this._model = model;
  }

  get lastMove() { return this.moves.at(-1) ?? null; }

  /** A frame the renderer reported. */
  frame(f) {
    keep(this.frames, { kind: f.kind, t: f.t, issued: f.issued, mode: f.mode, key: f.key, reference: f.reference, channel: f.channel, pane: f.pane ?? 0 });
    if (f.kind === 'full' && this.shownAt === null && this._model.state.dataset) this.shownAt = f.t;
  }
}

function keep(list, item) {
  list.push(item);
  if (list.length > KEEP) list.splice(0, list.length - KEEP);
}
