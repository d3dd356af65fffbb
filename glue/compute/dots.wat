;; Integer dot products of every pixel of an 8- or 16-bit dataset with one reference vector, with
;; WebAssembly SIMD: the similarity's arithmetic on the CPU, for machines whose WebGL is a
;; software renderer (see cpu-similarity.js and RENDERER.md). scripts/build_wasm.mjs turns
;; this file into dots-wasm.js.
;;
;; Data layout: the renderer's, layer-major: L layers of N4 pixels x 4 bytes (channels
;; 4l..4l+3 of pixel p at data + (l * N4 + p) * 4), N4 a multiple of 4 (padded with zeros).
;; A 16-byte load holds 4 pixels' 4 channels; widened to 16 bits and multiplied with the
;; reference's 4 channels (repeated), i32x4.dot_i16x8_s gives each pixel's two pair sums.
;; Pixels go in tiles of 1024, whose sums stay in an 8 KiB scratch area (acc) while every
;; layer is added in, four layers per sweep. Exact: a lane adds two products <= 255 * 255 per layer, so it holds
;; up to 16,000 layers.
(module
  (memory (export "memory") 1)

  ;; The reference's 4 channels of layer l, widened and repeated: r0 r1 r2 r3 r0 r1 r2 r3.
  (func $refOf (param $ref i32) (param $l i32) (result v128)
    (i16x8.extend_low_i8x16_u
      (i32x4.splat (i32.load (i32.add (local.get $ref) (i32.shl (local.get $l) (i32.const 2)))))))

  ;; out[p] = sum over channels of data(p) * ref, for start <= p < end (multiples of 4; the
;; layers are n4 pixels apart);
  ;; with square = 1 the squared norms instead (ref unused).
  (func $pass (param $data i32) (param $layers i32) (param $n4 i32) (param $ref i32)
                (param $out i32) (param $acc i32) (param $square i32) (param $start i32) (param $end i32)
    (local $p0 i32) (local $tile i32) (local $l i32) (local $q i32) (local $a i32)
    (local $src i32) (local $r v128) (local $d v128) (local $lo v128) (local $hi v128)
    (local $stride i32) (local $s i32) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $d1 v128) (local $d2 v128) (local $d3 v128)
    (local.set $p0 (local.get $start))
    (block $tiles_done
      (loop $tiles
        (br_if $tiles_done (i32.ge_u (local.get $p0) (local.get $end)))
        (local.set $tile (i32.sub (local.get $end) (local.get $p0)))
        (if (i32.gt_u (local.get $tile) (i32.const 1024))
          (then (local.set $tile (i32.const 1024))))
        ;; acc[0 .. tile * 8) = 0
        (local.set $q (i32.const 0))
        (block $zero_done
          (loop $zero
            (br_if $zero_done (i32.ge_u (local.get $q) (i32.shl (local.get $tile) (i32.const 3))))
            (v128.store (i32.add (local.get $acc) (local.get $q)) (v128.const i32x4 0 0 0 0))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $zero)))
        ;; Four layers per sweep over the tile (the scratch area is read and written once per
        ;; four layers), then the remaining one to three one at a time.
        (local.set $l (i32.const 0))
        (block $quads_done
          (loop $quad
            (br_if $quads_done (i32.gt_u (i32.add (local.get $l) (i32.const 4)) (local.get $layers)))
            (local.set $src
              (i32.add (local.get $data)
                (i32.shl (i32.add (i32.mul (local.get $l) (local.get $n4)) (local.get $p0)) (i32.const 2))))
            (local.set $stride (i32.shl (local.get $n4) (i32.const 2)))
            (local.set $r (call $refOf (local.get $ref) (local.get $l)))
            (local.set $r1 (call $refOf (local.get $ref) (i32.add (local.get $l) (i32.const 1))))
            (local.set $r2 (call $refOf (local.get $ref) (i32.add (local.get $l) (i32.const 2))))
            (local.set $r3 (call $refOf (local.get $ref) (i32.add (local.get $l) (i32.const 3))))
            (local.set $q (i32.const 0))
            (block $qpixels_done
              (loop $qpixels
                (br_if $qpixels_done (i32.ge_u (local.get $q) (i32.shl (local.get $tile) (i32.const 2))))
                (local.set $s (i32.add (local.get $src) (local.get $q)))
                (local.set $d (v128.load (local.get $s)))
                (local.set $d1 (v128.load (i32.add (local.get $s) (local.get $stride))))
                (local.set $d2 (v128.load (i32.add (local.get $s) (i32.shl (local.get $stride) (i32.const 1)))))
                (local.set $d3 (v128.load (i32.add (local.get $s) (i32.mul (local.get $stride) (i32.const 3)))))
                (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $q) (i32.const 1))))
                (if (local.get $square)
                  (then
                    (local.set $r (i16x8.extend_low_i8x16_u (local.get $d)))
                    (local.set $r1 (i16x8.extend_low_i8x16_u (local.get $d1)))
                    (local.set $r2 (i16x8.extend_low_i8x16_u (local.get $d2)))
                    (local.set $r3 (i16x8.extend_low_i8x16_u (local.get $d3)))
                    (v128.store (local.get $a) (i32x4.add (v128.load (local.get $a))
                      (i32x4.add
                        (i32x4.add (i32x4.dot_i16x8_s (local.get $r) (local.get $r))
                                   (i32x4.dot_i16x8_s (local.get $r1) (local.get $r1)))
                        (i32x4.add (i32x4.dot_i16x8_s (local.get $r2) (local.get $r2))
                                   (i32x4.dot_i16x8_s (local.get $r3) (local.get $r3))))))
                    (local.set $r (i16x8.extend_high_i8x16_u (local.get $d)))
                    (local.set $r1 (i16x8.extend_high_i8x16_u (local.get $d1)))
                    (local.set $r2 (i16x8.extend_high_i8x16_u (local.get $d2)))
                    (local.set $r3 (i16x8.extend_high_i8x16_u (local.get $d3)))
                    (v128.store offset=16 (local.get $a) (i32x4.add (v128.load offset=16 (local.get $a))
                      (i32x4.add
                        (i32x4.add (i32x4.dot_i16x8_s (local.get $r) (local.get $r))
                                   (i32x4.dot_i16x8_s (local.get $r1) (local.get $r1)))
                        (i32x4.add (i32x4.dot_i16x8_s (local.get $r2) (local.get $r2))
                                   (i32x4.dot_i16x8_s (local.get $r3) (local.get $r3)))))))
                  (else
                    (v128.store (local.get $a) (i32x4.add (v128.load (local.get $a))
                      (i32x4.add
                        (i32x4.add (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $d)) (local.get $r))
                                   (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $d1)) (local.get $r1)))
                        (i32x4.add (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $d2)) (local.get $r2))
                                   (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $d3)) (local.get $r3))))))
                    (v128.store offset=16 (local.get $a) (i32x4.add (v128.load offset=16 (local.get $a))
                      (i32x4.add
                        (i32x4.add (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $d)) (local.get $r))
                                   (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $d1)) (local.get $r1)))
                        (i32x4.add (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $d2)) (local.get $r2))
                                   (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $d3)) (local.get $r3))))))))
                (local.set $q (i32.add (local.get $q) (i32.const 16)))
                (br $qpixels)))
            (local.set $l (i32.add (local.get $l) (i32.const 4)))
            (br $quad)))
        (block $layers_done
          (loop $layer
            (br_if $layers_done (i32.ge_u (local.get $l) (local.get $layers)))
            (local.set $src
              (i32.add (local.get $data)
                (i32.shl (i32.add (i32.mul (local.get $l) (local.get $n4)) (local.get $p0)) (i32.const 2))))
            (local.set $r (call $refOf (local.get $ref) (local.get $l)))
            (local.set $q (i32.const 0))
            (block $pixels_done
              (loop $pixels
                (br_if $pixels_done (i32.ge_u (local.get $q) (i32.shl (local.get $tile) (i32.const 2))))
                (local.set $d (v128.load (i32.add (local.get $src) (local.get $q))))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $d)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $d)))
                (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $q) (i32.const 1))))
                (if (local.get $square)
                  (then
                    (v128.store (local.get $a) (i32x4.add (v128.load (local.get $a))
                      (i32x4.dot_i16x8_s (local.get $lo) (local.get $lo))))
                    (v128.store offset=16 (local.get $a) (i32x4.add (v128.load offset=16 (local.get $a))
                      (i32x4.dot_i16x8_s (local.get $hi) (local.get $hi)))))
                  (else
                    (v128.store (local.get $a) (i32x4.add (v128.load (local.get $a))
                      (i32x4.dot_i16x8_s (local.get $lo) (local.get $r))))
                    (v128.store offset=16 (local.get $a) (i32x4.add (v128.load offset=16 (local.get $a))
                      (i32x4.dot_i16x8_s (local.get $hi) (local.get $r))))))
                (local.set $q (i32.add (local.get $q) (i32.const 16)))
                (br $pixels)))
            (local.set $l (i32.add (local.get $l) (i32.const 1)))
            (br $layer)))
        ;; pixel k of the tile: lanes 2(k & 1) and 2(k & 1) + 1 of acc vector k >> 1
        (local.set $q (i32.const 0))
        (block $out_done
          (loop $outs
            (br_if $out_done (i32.ge_u (local.get $q) (local.get $tile)))
            (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $q) (i32.const 3))))
            (i32.store
              (i32.add (local.get $out) (i32.shl (i32.add (local.get $p0) (local.get $q)) (i32.const 2)))
              (i32.add (i32.load (local.get $a)) (i32.load offset=4 (local.get $a))))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $outs)))
        (local.set $p0 (i32.add (local.get $p0) (local.get $tile)))
        (br $tiles))))

;; 16 bit: 8 bytes per pixel and layer, 2 pixels per 16-byte load. A value v = 256 h + l is
  ;; split into its bytes, and p.r = 65536 (ph.rh) + 256 (ph.rl + pl.rh) + pl.rl: three sums
  ;; of byte products (HH, X, LL), each exact in its 32-bit lanes (up to 8,000 layers), put
  ;; together in float64, exact below 2^53. Scratch: 48 bytes per pixel pair (LL, HH, X).
  (func $pass16 (param $data i32) (param $layers i32) (param $n4 i32) (param $ref i32)
                  (param $out i32) (param $acc i32) (param $square i32) (param $start i32) (param $end i32)
    (local $p0 i32) (local $tile i32) (local $l i32) (local $q i32) (local $a i32) (local $k i32)
    (local $src i32) (local $rv v128) (local $rlo v128) (local $rhi v128) (local $d v128)
    (local $lo v128) (local $hi v128) (local $mask v128)
    (local.set $mask (i16x8.splat (i32.const 255)))
    (local.set $p0 (local.get $start))
    (block $tiles_done
      (loop $tiles
        (br_if $tiles_done (i32.ge_u (local.get $p0) (local.get $end)))
        (local.set $tile (i32.sub (local.get $end) (local.get $p0)))
        (if (i32.gt_u (local.get $tile) (i32.const 1024))
          (then (local.set $tile (i32.const 1024))))
        (local.set $q (i32.const 0))
        (block $zero_done
          (loop $zero
            (br_if $zero_done (i32.ge_u (local.get $q) (i32.mul (local.get $tile) (i32.const 24))))
            (v128.store (i32.add (local.get $acc) (local.get $q)) (v128.const i32x4 0 0 0 0))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $zero)))
        (local.set $l (i32.const 0))
        (block $layers_done
          (loop $layer
            (br_if $layers_done (i32.ge_u (local.get $l) (local.get $layers)))
            (local.set $src
              (i32.add (local.get $data)
                (i32.shl (i32.add (i32.mul (local.get $l) (local.get $n4)) (local.get $p0)) (i32.const 3))))
            ;; the reference's 4 values of this layer, repeated: r0 r1 r2 r3 r0 r1 r2 r3
            (local.set $rv (v128.load64_splat (i32.add (local.get $ref) (i32.shl (local.get $l) (i32.const 3)))))
            (local.set $rlo (v128.and (local.get $rv) (local.get $mask)))
            (local.set $rhi (i16x8.shr_u (local.get $rv) (i32.const 8)))
            (local.set $q (i32.const 0))
            (block $pixels_done
              (loop $pixels
                (br_if $pixels_done (i32.ge_u (local.get $q) (i32.shl (local.get $tile) (i32.const 3))))
                (local.set $d (v128.load (i32.add (local.get $src) (local.get $q))))
                (local.set $lo (v128.and (local.get $d) (local.get $mask)))
                (local.set $hi (i16x8.shr_u (local.get $d) (i32.const 8)))
                (if (local.get $square)
                  (then (local.set $rlo (local.get $lo)) (local.set $rhi (local.get $hi))))
                (local.set $a (i32.add (local.get $acc) (i32.mul (local.get $q) (i32.const 3))))
                (v128.store (local.get $a) (i32x4.add (v128.load (local.get $a))
                  (i32x4.dot_i16x8_s (local.get $lo) (local.get $rlo))))
                (v128.store offset=16 (local.get $a) (i32x4.add (v128.load offset=16 (local.get $a))
                  (i32x4.dot_i16x8_s (local.get $hi) (local.get $rhi))))
                (v128.store offset=32 (local.get $a) (i32x4.add (v128.load offset=32 (local.get $a))
                  (i32x4.add (i32x4.dot_i16x8_s (local.get $hi) (local.get $rlo))
                             (i32x4.dot_i16x8_s (local.get $lo) (local.get $rhi)))))
                (local.set $q (i32.add (local.get $q) (i32.const 16)))
                (br $pixels)))
            (local.set $l (i32.add (local.get $l) (i32.const 1)))
            (br $layer)))
        ;; pixel k of the tile: pair k >> 1, lanes 2(k & 1) and 2(k & 1) + 1 of LL, HH and X
        (local.set $k (i32.const 0))
        (block $out_done
          (loop $outs
            (br_if $out_done (i32.ge_u (local.get $k) (local.get $tile)))
            (local.set $a (i32.add (local.get $acc)
              (i32.add (i32.mul (i32.shr_u (local.get $k) (i32.const 1)) (i32.const 48))
                       (i32.shl (i32.and (local.get $k) (i32.const 1)) (i32.const 3)))))
            (f64.store
              (i32.add (local.get $out) (i32.shl (i32.add (local.get $p0) (local.get $k)) (i32.const 3)))
              (f64.add
                (f64.add
                  (f64.mul (f64.convert_i32_u (i32.add (i32.load offset=16 (local.get $a)) (i32.load offset=20 (local.get $a))))
                           (f64.const 65536))
                  (f64.mul (f64.convert_i32_u (i32.add (i32.load offset=32 (local.get $a)) (i32.load offset=36 (local.get $a))))
                           (f64.const 256)))
                (f64.convert_i32_u (i32.add (i32.load (local.get $a)) (i32.load offset=4 (local.get $a))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $outs)))
        (local.set $p0 (i32.add (local.get $p0) (local.get $tile)))
        (br $tiles))))

  (func (export "dots16") (param $data i32) (param $layers i32) (param $n4 i32) (param $ref i32)
                          (param $out i32) (param $acc i32) (param $start i32) (param $end i32)
    (call $pass16 (local.get $data) (local.get $layers) (local.get $n4) (local.get $ref)
                  (local.get $out) (local.get $acc) (i32.const 0) (local.get $start) (local.get $end)))

  (func (export "sumsq16") (param $data i32) (param $layers i32) (param $n4 i32)
                           (param $out i32) (param $acc i32)
    (call $pass16 (local.get $data) (local.get $layers) (local.get $n4) (i32.const 0)
                  (local.get $out) (local.get $acc) (i32.const 1) (i32.const 0) (local.get $n4)))

  ;; out[p] = the dot product of pixel p with the reference (4 * layers bytes at ref), for
  ;; pixels start <= p < end (multiples of 4): a Gram matrix needs only its upper triangle, a
  ;; preview only some rows of the map
  (func (export "dots") (param $data i32) (param $layers i32) (param $n4 i32) (param $ref i32)
                        (param $out i32) (param $acc i32) (param $start i32) (param $end i32)
    (call $pass (local.get $data) (local.get $layers) (local.get $n4) (local.get $ref)
                (local.get $out) (local.get $acc) (i32.const 0) (local.get $start) (local.get $end)))

  ;; out[p] = pixel p's squared norm
  (func (export "sumsq") (param $data i32) (param $layers i32) (param $n4 i32)
                         (param $out i32) (param $acc i32)
    (call $pass (local.get $data) (local.get $layers) (local.get $n4) (i32.const 0)
                (local.get $out) (local.get $acc) (i32.const 1) (i32.const 0) (local.get $n4)))
)
