// Knowing when the GPU is done without waiting for it: a fence after the commands issued so far,
// polled about every millisecond; each fence's callback runs, in order, once the GPU has passed
// it. Also the pool of 16-byte pixel-pack buffers the min/max read-backs copy into.

export class FenceQueue {
  /** onPolled(): after every poll that saw fences signal (the scheduler's "GPU done" hook). */
  constructor(gpu, { onPolled = () => {} } = {}) {
    this.gpu = gpu;
    this.onPolled = onPolled;
    this._pending = [];  // {sync, done, frame, dropped}
    this._timer = 0;     // -1: a poll's message is on its way; > 0: its timer is set
    this._channel = null;
    this._pbos = [];
  }

  /**
   * A fence after the commands issued so far: `done()` runs once the GPU has passed it.
   * `frame`: it ends a frame (framesInFlight counts those); `dropped()` runs instead of done
   * when the queue is dropped (a lost context, a new dataset).
   */
  push(done, { frame = false, dropped = null } = {}) {
    const gl = this.gpu.gl;
    const sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
    gl.flush();
    this._pending.push({ sync, done, frame, dropped });
    this._schedule();
  }

  get length() { return this._pending.length; }

  /** Frames issued and not yet seen done. */
  get framesInFlight() {
    let n = 0;
    for (const p of this._pending) if (p.frame) n++;
    return n;
  }

  // A timer set from a timer callback is clamped to 4 ms after a few rounds (HTML's nesting
  // rule), so each round hops through a message first.
  _schedule() {
    if (this._timer) return;
    this._timer = -1;
    if (!this._channel) {
      this._channel = new MessageChannel();
      this._channel.port1.onmessage = () => {
        if (this._timer === -1) this._timer = setTimeout(() => this.poll(), 1);
      };
    }
    this._channel.port2.postMessage(null);
  }

  /** Run the callbacks of every fence the GPU has passed, in order. */
  poll() {
    this._timer = 0;
    if (this.gpu.isLost()) { this._pending = []; return; }
    const gl = this.gpu.gl;
    while (this._pending.length) {
      const p = this._pending[0];
      if (gl.getSyncParameter(p.sync, gl.SYNC_STATUS) !== gl.SIGNALED) break;
      this._pending.shift();
      gl.deleteSync(p.sync);
      p.done();
    }
    if (this._pending.length) this._schedule();
    this.onPolled();
  }

  /** Forget every fence (their `dropped` run); the GPU objects go too unless the context is lost. */
  drop() {
    if (this._timer > 0) clearTimeout(this._timer);
    this._timer = 0;
    const lost = this.gpu.isLost();
    for (const p of this._pending) {
      if (!lost) this.gpu.gl.deleteSync(p.sync);
      p.dropped?.();
    }
    this._pending = [];
  }

  /** A 16-byte pixel-pack buffer, or null when four are already out (reads are skipped then). */
  takeBuffer() {
    const pbo = this._pbos.pop();
    if (pbo || this._pending.length >= 4) return pbo ?? null;
    const gl = this.gpu.gl;
    const made = this.gpu.track('buffer', gl.createBuffer());
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, made);
    gl.bufferData(gl.PIXEL_PACK_BUFFER, 16, gl.STREAM_READ);
    return made;
  }

  giveBuffer(pbo) { if (pbo && !this.gpu.isLost()) this._pbos.push(pbo); }

  /** After a context loss: the objects are gone already. */
  forget() {
    if (this._timer > 0) clearTimeout(this._timer);
    this._timer = 0;
    this._pending = [];
    this._pbos = [];
  }

  dispose() {
    this.drop();
    for (const pbo of this._pbos) this.gpu.delete('buffer', pbo);
    this._pbos = [];
    this._channel?.port1.close();
  }
}
