// Eigenpairs of symmetric matrices in float64, for the PCA view (compute/pca.js):
//   topEigen         the few largest pairs of a C × C covariance: Lanczos with full
//                    reorthogonalisation (a few dozen matrix-vector products when the top
//                    eigenvalues are separated, as they are in real features); where it does not
//                    converge (a flat spectrum), the full decomposition below
//   symmetricEigen   every pair: Householder tridiagonalisation and the implicit QL algorithm
//                    (tred2/tql2 of EISPACK, as JAMA writes them; public domain)
// Each vector is signed so that its entry of largest magnitude is positive (ties: the first),
// the rule app/pca.py applies, so that colours do not change between runs or machines.

/** v, in place, signed by the rule above. */
export function signByLargest(v) {
  let big = 0;
  for (let i = 1; i < v.length; i++) if (Math.abs(v[i]) > Math.abs(v[big])) big = i;
  if (v[big] < 0) for (let i = 0; i < v.length; i++) v[i] = -v[i];
  return v;
}

// Householder reduction of the symmetric matrix in V (n × n, rows of arrays) to tridiagonal
// form: d its diagonal, e its subdiagonal (e[0] = 0); V becomes the transformation.
function tred2(V, d, e, n) {
  for (let j = 0; j < n; j++) d[j] = V[n - 1][j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0, h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) { d[j] = V[i - 1][j]; V[i][j] = 0; V[j][i] = 0; }
    } else {
      for (let k = 0; k < i; k++) { d[k] /= scale; h += d[k] * d[k]; }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j][i] = f;
        g = e[j] + V[j][j] * f;
        for (let k = j + 1; k <= i - 1; k++) { g += V[k][j] * d[k]; e[k] += V[k][j] * f; }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) { e[j] /= h; f += e[j] * d[j]; }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j]; g = e[j];
        for (let k = j; k <= i - 1; k++) V[k][j] -= f * e[k] + g * d[k];
        d[j] = V[i - 1][j];
        V[i][j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[n - 1][i] = V[i][i];
    V[i][i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k][i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k][i + 1] * V[k][j];
        for (let k = 0; k <= i; k++) V[k][j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k][i + 1] = 0;
  }
  for (let j = 0; j < n; j++) { d[j] = V[n - 1][j]; V[n - 1][j] = 0; }
  V[n - 1][n - 1] = 1;
  e[0] = 0;
}

// The implicit QL algorithm on the tridiagonal (d, e) of tred2: d becomes the eigenvalues, the
// columns of V (the transformation so far) the eigenvectors.
function tql2(V, d, e, n) {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0, tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) { if (Math.abs(e[m]) <= eps * tst1) break; m++; }
    if (m > l) {
      for (let iter = 0; iter < 60; iter++) {
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = c, c3 = c, s = 0, s2 = 0;
        const el1 = e[l + 1];
        for (let i = m - 1; i >= l; i--) {
          c3 = c2; c2 = c; s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            const row = V[k];
            h = row[i + 1];
            row[i + 1] = s * row[i] + c * h;
            row[i] = c * row[i] - s * h;
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!(Math.abs(e[l]) > eps * tst1)) break;
      }
    }
    d[l] += f;
    e[l] = 0;
  }
}

/**
 * Every eigenpair of a symmetric n × n matrix (row-major): {values (descending), vectors
 * ([Float64Array(n)], signed by the rule)}; only the first `k` vectors are built.
 */
export function symmetricEigen(A, n, k = n) {
  const V = Array.from({ length: n }, (_, i) => Float64Array.from(A.subarray(i * n, (i + 1) * n)));
  const d = new Float64Array(n), e = new Float64Array(n);
  tred2(V, d, e, n);
  tql2(V, d, e, n);
  const order = Array.from(d, (_, i) => i).sort((x, y) => d[y] - d[x]);
  return {
    values: order.map((i) => d[i]),
    vectors: order.slice(0, k).map((j) => signByLargest(Float64Array.from(V, (row) => row[j]))),
  };
}

// The eigenpairs of a symmetric tridiagonal matrix (diagonal alpha, off-diagonal beta).
function tridiagonalEigen(alpha, beta) {
  const n = alpha.length;
  const V = Array.from({ length: n }, (_, i) => { const r = new Float64Array(n); r[i] = 1; return r; });
  const d = Float64Array.from(alpha), e = new Float64Array(n);
  for (let i = 1; i < n; i++) e[i] = beta[i - 1];
  tql2(V, d, e, n);
  return { d, V };
}

function matVec(A, C, x, out) {
  for (let i = 0; i < C; i++) {
    let s = 0;
    const row = i * C;
    for (let j = 0; j < C; j++) s += A[row + j] * x[j];
    out[i] = s;
  }
  return out;
}

const dot = (x, y) => { let s = 0; for (let i = 0; i < x.length; i++) s += x[i] * y[i]; return s; };

/**
 * The top k eigenpairs of a symmetric C × C matrix (row-major Float64Array): {values
 * (descending), vectors: [Float64Array(C)], signed by the rule}. Lanczos from a fixed start
 * with full reorthogonalisation, its steps doubled until every pair's residual |A·v − λ·v| is
 * within 1e-12 of the matrix's scale; past `lanczosMax` steps the full decomposition.
 */
export function topEigen(A, C, k, { lanczosMax = 160 } = {}) {
  let scale = 0;
  for (let i = 0; i < C; i++) scale = Math.max(scale, Math.abs(A[i * C + i]));
  const tolerance = 1e-12 * (scale || 1);
  for (let m = Math.min(C, Math.max(2 * k + 10, 40)); m <= Math.min(C, lanczosMax); m *= 2) {
    const Q = [], alpha = [], beta = [];
    let q = new Float64Array(C);
    for (let i = 0; i < C; i++) q[i] = Math.sqrt(Math.abs(A[i * C + i])) + 1e-3 * (1 + (i % 7));  // deterministic start
    const q0 = Math.sqrt(dot(q, q));
    q = q.map((x) => x / q0);
    let invariant = false;
    for (let j = 0; j < m; j++) {
      Q.push(q);
      const w = matVec(A, C, q, new Float64Array(C));
      alpha.push(dot(w, q));
      for (let pass = 0; pass < 2; pass++) {  // full reorthogonalisation, twice
        for (const u of Q) { const d = dot(w, u); for (let i = 0; i < C; i++) w[i] -= d * u[i]; }
      }
      const b = Math.sqrt(dot(w, w));
      if (b <= 1e-14 * (scale || 1)) { invariant = true; break; }  // an invariant subspace
      if (j === m - 1) break;
      beta.push(b);
      q = w.map((x) => x / b);
    }
    const steps = Q.length;
    const { d, V } = tridiagonalEigen(alpha, beta.slice(0, steps - 1));
    const order = Array.from(d, (_, i) => i).sort((x, y) => d[y] - d[x]).slice(0, Math.min(k, steps));
    const out = { values: [], vectors: [] };
    let worst = 0;
    for (const r of order) {
      const v = new Float64Array(C);
      for (let j = 0; j < steps; j++) { const y = V[j][r]; for (let i = 0; i < C; i++) v[i] += y * Q[j][i]; }
      const norm = Math.sqrt(dot(v, v));
      for (let i = 0; i < C; i++) v[i] /= norm;
      signByLargest(v);
      const Av = matVec(A, C, v, new Float64Array(C));
      let res = 0;
      for (let i = 0; i < C; i++) res += (Av[i] - d[r] * v[i]) ** 2;
      worst = Math.max(worst, Math.sqrt(res));
      out.values.push(d[r]);
      out.vectors.push(v);
    }
    // An invariant subspace short of k pairs (a matrix of low rank from this start): the full
    // decomposition finds the rest.
    if (worst <= tolerance && out.values.length === Math.min(k, C)) return out;
    if (invariant && steps === C) return out;
    if (m === C) break;
  }
  const all = symmetricEigen(A, C, k);
  return { values: all.values.slice(0, k), vectors: all.vectors };
}
