// The frame scheduler's state machine (glue/render/scheduler.js), with animation frames stepped by hand.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { FrameScheduler, IDLE, SCHEDULED, WAITING } from '../../glue/render/scheduler.js';

let queue = [], nextId = 1;
globalThis.requestAnimationFrame = (fn) => { const id = nextId++; queue.push({ id, fn }); return id; };
globalThis.cancelAnimationFrame = (id) => { queue = queue.filter((q) => q.id !== id); };
const animationFrame = () => { const due = queue; queue = []; for (const q of due) q.fn(); };

function make(options = {}) {
  const log = [];
  const gpu = { inFlight: 0 };
  const s = new FrameScheduler({
    draw: (preview) => { log.push(preview ? 'preview' : 'full'); gpu.inFlight += 1; },
    canDraw: () => true,
    busy: () => gpu.inFlight >= 1,
    stale: () => false,
  }, options);
  return { s, log, gpu };
}

beforeEach(() => { queue = []; });

test('a reference change draws at once, then the gate holds the next until the animation frame', () => {
  const { s, log, gpu } = make();
  s.dirty = false;
  s.change({ interactive: true, atOnce: true });
  assert.deepEqual(log, ['preview']);
  gpu.inFlight = 0;                               // the GPU is done already
  s.change({ interactive: true, atOnce: true });  // same animation frame: waits
  assert.deepEqual(log, ['preview']);
  assert.equal(s.state, SCHEDULED);
  animationFrame();
  assert.deepEqual(log, ['preview', 'preview']);
  assert.equal(s.state, IDLE);
});

test('while a frame is in flight a change waits for the GPU, then the newest state draws once', () => {
  const { s, log, gpu } = make();
  s.dirty = false;
  s.change({ atOnce: true, interactive: true });
  animationFrame();                               // clears the gate
  s.change({ atOnce: true, interactive: true });  // the GPU is busy: no drawing at once
  s.change({ atOnce: true, interactive: true });
  animationFrame();
  assert.equal(s.state, WAITING);
  assert.deepEqual(log, ['preview']);
  s.gpuDone();                                    // still busy: nothing
  assert.deepEqual(log, ['preview']);
  gpu.inFlight = 0;
  s.gpuDone();
  assert.deepEqual(log, ['preview', 'preview']);  // one frame for both changes, at once (no gate)
  assert.equal(s.settled, true);
});

test('other changes draw at the next animation frame, in full; without autoRender nothing draws itself', () => {
  const { s, log } = make();
  s.change();
  assert.deepEqual(log, []);
  animationFrame();
  assert.deepEqual(log, ['full']);
  const manual = make({ autoRender: false });
  manual.s.change({ atOnce: true });
  animationFrame();
  assert.deepEqual(manual.log, []);
  manual.s.drawNow(false);
  assert.deepEqual(manual.log, ['full']);
});

test('drawAtOnce off: a reference change waits for the animation frame', () => {
  const { s, log } = make({ drawAtOnce: false });
  s.dirty = false;
  s.change({ atOnce: true, interactive: true });
  assert.deepEqual(log, []);
  animationFrame();
  assert.deepEqual(log, ['preview']);
});

test('reset and dispose cancel what was pending', () => {
  const { s, log } = make();
  s.change();
  s.reset();
  animationFrame();
  assert.deepEqual(log, []);
  assert.equal(s.dirty, true);
  s.dispose();
  s.change();
  animationFrame();
  assert.deepEqual(log, []);
});
