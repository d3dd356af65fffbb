// When frames are drawn: one explicit state machine (glue/RENDERER.md, "The frame scheduler",
// has the diagram). A change makes the view dirty; a dirty view is drawn
//   - at once, inside the caller's event, for a change that asks for it (a reference change
//     from a raw pointer event) when the scheduler is IDLE and no frame was drawn since the
//     last animation frame (the gate) and the GPU has no frame in flight;
//   - otherwise at the next animation frame (SCHEDULED);
//   - and while the GPU is still on an earlier frame the change waits (WAITING) until its
//     fence is seen, then one frame draws the newest state at once. Queued behind the other,
//     a frame would only come later.
// At most one frame per animation frame (a preview's refinement aside, see refine.js).

export const IDLE = 'idle';
export const SCHEDULED = 'scheduled';
export const WAITING = 'waiting';

export class FrameScheduler {
  /**
   * hooks: draw(allowPreview) draws a frame now; canDraw() whether there is anything to draw on
   * (a dataset, a live context); busy() whether the GPU holds as many frames as allowed;
   * stale() whether the canvas changed since the last frame. options: autoRender (changes
   * schedule frames themselves), drawAtOnce.
   */
  constructor(hooks, { autoRender = true, drawAtOnce = true } = {}) {
    this.hooks = hooks;
    this.autoRender = autoRender;
    this.drawAtOnce = drawAtOnce;
    this.state = IDLE;
    this.dirty = true;        // a change not yet drawn
    this.interactive = false; // ... which may be drawn as a preview (a pointer move, a pan)
    this._raf = 0;            // the animation frame that will draw (SCHEDULED)
    this._gate = 0;           // set when a frame was drawn: cleared by the next animation frame
    this._disposed = false;
  }

  /** Something the frame shows changed. `atOnce`: draw inside this task when allowed. */
  change({ interactive = false, atOnce = false } = {}) {
    this.dirty = true;
    if (interactive) this.interactive = true;
    if (!this.autoRender) return;
    if (atOnce && this.drawAtOnce && this.state === IDLE && !this._gate && !this.hooks.busy() && this.hooks.canDraw()) {
      this._draw();
      return;
    }
    this.requestRender();
  }

  /** Draw at the next animation frame if anything changed (the canvas size included). */
  requestRender() {
    if (this._raf || this._disposed) return;
    this.state = SCHEDULED;
    this._raf = requestAnimationFrame(() => this._animationFrame());
  }

  _animationFrame() {
    this._raf = 0;
    this.state = IDLE;
    if (this._disposed || !this.hooks.canDraw()) return;
    if (this.hooks.busy()) { this.state = WAITING; return; }
    if (this.hooks.stale()) this.dirty = true;
    if (this.dirty) this._draw();
  }

  /** A frame's fence was seen: a change that waited for the GPU is drawn now. */
  gpuDone() {
    if (this.state !== WAITING || this.hooks.busy()) return;
    this.state = IDLE;
    if (this.dirty && !this._gate) this._animationFrame();  // at once, as from an event
    else if (this.dirty) this.requestRender();
  }

  /** Draw now whatever the state (tests, exports): the pending change is drawn. */
  drawNow(allowPreview) {
    this.interactive = false;
    this.frameStarted();
    this.hooks.draw(allowPreview);
  }

  // The next change that would draw at once waits for the next animation frame instead.
  frameStarted() {
    this.dirty = false;
    if (!this._gate) this._gate = requestAnimationFrame(() => { this._gate = 0; });
  }

  _draw() {
    const interactive = this.interactive;
    this.interactive = false;
    this.frameStarted();
    this.hooks.draw(interactive);
  }

  /** An animation frame will draw. */
  get scheduled() { return Boolean(this._raf); }

  /** Nothing waits to be drawn. */
  get settled() { return !this.dirty && !this._raf && this.state !== WAITING; }

  /** Forget what was pending (a new dataset, a lost context): the next change starts afresh. */
  reset() {
    this.cancel();
    this.dirty = true;
    this.interactive = false;
  }

  cancel() {
    if (this._raf) cancelAnimationFrame(this._raf);
    if (this._gate) cancelAnimationFrame(this._gate);
    this._raf = 0;
    this._gate = 0;
    this.state = IDLE;
  }

  dispose() {
    this.cancel();
    this._disposed = true;
  }
}
