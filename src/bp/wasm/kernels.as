// AssemblyScript source of the fast BP kernels (docs/science.md §2), compiled to WebAssembly with SIMD by
// `npm run build:wasm` (scripts/build-wasm.ts). Not part of the TypeScript program.
//
// Layout ("lane-major", batch innermost): a level's messages for a chunk of T data ("lanes",
// T a multiple of 4) are [node][symbol][lane]; one row (node, symbol) is R = T·sizeof<F>() bytes
// and 16-byte aligned, so each rule is a run of whole SIMD vectors across the chunk. Every kernel
// is generic over the float type F (f64 or f32) and exported twice (suffix 64 / 32).
// Pointers are byte offsets into this module's memory, laid out by the TypeScript driver
// (src/bp/fast/); kernels never allocate.

// Where the driver may start its allocations.
export function heapBase(): usize {
  return __heap_base;
}

// Loads one f64 per 64-byte line of [p, p+bytes) (bytes a multiple of 8; never past the end), so
// the lines are on their way into cache before they are used. The sum only keeps the loads.
let sink: f64 = 0;
// Levels smaller than this stay in L2 between the upward sweep and sampling: no touch-ahead.
const TOUCH_LEVEL_BYTES: usize = 1 << 20;
@inline
function touch(p: usize, bytes: usize): void {
  let acc = 0.0;
  for (let o: usize = 0; o < bytes; o += 64) acc += load<f64>(p + o);
  sink += acc;
}

// Multiplies the per-lane evidence accumulator by z keeping the mantissa in [1, 2) and the binary
// exponent as an integer, so log Z costs one log per datum at the end instead of one per node.
@inline
function accumulateZ(zprod: usize, zexp: usize, lane: i32, z: f64): void {
  const p = load<f64>(zprod + (<usize>lane << 3)) * z;
  const bits = reinterpret<u64>(p);
  const e = <i32>((bits >> 52) & 0x7ff);
  store<i32>(zexp + (<usize>lane << 2), load<i32>(zexp + (<usize>lane << 2)) + e - 1023);
  store<f64>(zprod + (<usize>lane << 3), reinterpret<f64>((bits & 0x800fffffffffffff) | (<u64>1023 << 52)));
}

// Precision deficit of a normaliser z (src/bp/logDomain.ts precisionDeficit, the same bits):
// max(0, −exponent(z)), or 2^20 when z is zero, infinite or NaN; the lane's running maximum for
// this level is kept at zdef[lane] (i32). The driver sums the levels' maxima per datum and redoes
// in the log domain the data whose sum passes the limit (their lanes' values are then ignored).
@inline
function noteDeficit(zdef: usize, lane: i32, z: f64): void {
  let d: i32 = 1 << 20;
  if (z > 0 && isFinite(z)) {
    const e = <i32>((reinterpret<u64>(z) >> 52) & 0x7ff) - 1023;
    d = e < 0 ? -e : 0;
  }
  const p = zdef + (<usize>lane << 2);
  if (d > load<i32>(p)) store<i32>(p, d);
}

// Byte offsets sym·R of every rule child of one level, written to `off` (N·m·s i32).
@inline
function ruleOffsets(rules: usize, off: usize, count: i32, R: i32): void {
  for (let r = 0; r < count; r++) store<i32>(off + (<usize>r << 2), load<i32>(rules + (<usize>r << 2)) * R);
}

// Leaves (docs/science.md §2, ν↑_L = λ normalised) for tokens [i0, i1): `lam` holds `real` data of d·v f64
// likelihoods, datum-major and token-major; writes ν↑_L in lane layout at dst (the level's base);
// padding lanes get 1/v. Each z's deficit goes to zdef (the leaf level's row).
function leaves<F>(lam: usize, dst: usize, d: i32, i0: i32, i1: i32, v: i32, T: i32, real: i32, zprod: usize, zexp: usize, zdef: usize): void {
  const size = <usize>sizeof<F>();
  const R = <usize>T * size;
  const flat = <F>(1.0 / <f64>v);
  for (let i = i0; i < i1; i++) {
    const base = dst + <usize>i * <usize>v * R;
    for (let n = 0; n < real; n++) {
      const src = lam + (<usize>n * <usize>d + <usize>i) * <usize>v * 8;
      let z = 0.0;
      for (let b = 0; b < v; b++) z += load<f64>(src + (<usize>b << 3));
      noteDeficit(zdef, n, z);
      const inv = 1.0 / z;
      const out = base + <usize>n * size;
      for (let b = 0; b < v; b++) store<F>(out + <usize>b * R, <F>(load<f64>(src + (<usize>b << 3)) * inv));
      if (z > 0 && isFinite(z)) accumulateZ(zprod, zexp, n, z);
    }
    for (let n = real; n < T; n++) {
      const out = base + <usize>n * size;
      for (let b = 0; b < v; b++) store<F>(out + <usize>b * R, flat);
    }
  }
}

// Token evidence (docs/science.md §3, ε and uniform processes): leaf i of datum n has λ(b) = hit if b is its
// observed token x, else floor, so its normalised message takes two values, hiT[x] and loT[x]
// (f64 tables, z = Σ_b λ(b) in zt[x], computed like `leaves` does). For leaves [i0, i1) this
// writes the lane layout of the tokens (as integers of F's width, −1 on padding lanes) and of
// the two values (as F; padding lanes 1/v), [leaf][lane], for posterior sampling; writes the leaf
// messages at dst exactly as `leaves` would; and accumulates z in `leaves`' order. The caller may
// point dst into a block-sized scratch. `tok` holds the chunk's tokens datum-major.
function tokenLeaves<F>(tok: usize, d: i32, i0: i32, i1: i32, v: i32, T: i32, real: i32, zt: usize, loT: usize, hiT: usize, tokL: usize, loL: usize, hiL: usize, dst: usize, zprod: usize, zexp: usize): void {
  const size = <usize>sizeof<F>();
  const flat = <F>(1.0 / <f64>v);
  for (let i = i0; i < i1; i++) {
    const at = <usize>i * <usize>T * size;
    for (let n = 0; n < real; n++) {
      const x = load<i32>(tok + ((<usize>n * <usize>d + <usize>i) << 2));
      const o = at + <usize>n * size;
      if (size == 8) store<i64>(tokL + o, <i64>x);
      else store<i32>(tokL + o, x);
      store<F>(loL + o, <F>load<f64>(loT + (<usize>x << 3)));
      store<F>(hiL + o, <F>load<f64>(hiT + (<usize>x << 3)));
      accumulateZ(zprod, zexp, n, load<f64>(zt + (<usize>x << 3)));
    }
    for (let n = real; n < T; n++) {
      const o = at + <usize>n * size;
      if (size == 8) store<i64>(tokL + o, -1);
      else store<i32>(tokL + o, -1);
      store<F>(loL + o, flat);
      store<F>(hiL + o, flat);
    }
    // The leaf's rows at dst (the level's base): lo on every row, then hi on each lane's token.
    const R = <usize>T * size;
    const base = dst + <usize>i * <usize>v * R;
    for (let l: usize = 0; l < R; l += 16) {
      const lo = v128.load(loL + at + l);
      for (let b = 0; b < v; b++) v128.store(base + <usize>b * R + l, lo);
    }
    for (let n = 0; n < real; n++) {
      const o = at + <usize>n * size;
      store<F>(base + <usize>load<i32>(tokL + o) * R + <usize>n * size, load<F>(hiL + o));
    }
  }
}

// Normalises node `par` (N rows) lane by lane and accumulates its normaliser (docs/science.md §2). `zs` is
// scratch for one row. Each real lane's deficit goes to zdef; a lane with zero, infinite or NaN
// weight is left as it is (NaN) and not accumulated: the driver redoes it in the log domain.
@inline
function normaliseNode<F>(par: usize, N: i32, R: usize, real: i32, zprod: usize, zexp: usize, zs: usize, zdef: usize): void {
  const size = <usize>sizeof<F>();
  for (let l: usize = 0; l < R; l += 16) {
    let z = v128.load(par + l);
    for (let a = 1; a < N; a++) z = v128.add<F>(z, v128.load(par + <usize>a * R + l));
    v128.store(zs + l, z);
    const inv = v128.div<F>(v128.splat<F>(<F>1), z);
    for (let a = 0; a < N; a++) {
      const p = par + <usize>a * R + l;
      v128.store(p, v128.mul<F>(v128.load(p), inv));
    }
  }
  for (let n = 0; n < real; n++) {
    const z = <f64>load<F>(zs + <usize>n * size);
    noteDeficit(zdef, n, z);
    if (z > 0 && isFinite(z)) accumulateZ(zprod, zexp, n, z);
  }
}

// One upward level (docs/science.md §2): for every parent p (width of them) and symbol a < N,
// u(a) = Σ_k Π_j ν↑(child p·s+j, rule[a][k][j]), then normalised per node. `off` is scratch for
// N·m·s i32, `zs` for one row.
function upward<F>(child: usize, parent: usize, rules: usize, off: usize, zs: usize, p0: i32, width: i32, N: i32, m: i32, v: i32, s: i32, T: i32, real: i32, zprod: usize, zexp: usize, zdef: usize): void {
  const R = <usize>T * <usize>sizeof<F>();
  const RI = <i32>R;
  ruleOffsets(rules, off, N * m * s, RI);
  const childStride = <usize>v * R;
  // Parents p0 .. p0+width−1 of the level (a block of a subtree sweep, or the whole level).
  for (let p = p0; p < p0 + width; p++) {
    const c0 = child + <usize>p * <usize>s * childStride;
    const par = parent + <usize>p * <usize>N * R;
    if (s == 2) {
      const c1 = c0 + childStride;
      for (let a = 0; a < N; a++) {
        const o = off + (<usize>(a * m * 2) << 2);
        const row = par + <usize>a * R;
        let l: usize = 0;
        // Four vectors per rule visit: the rule's offsets are loaded once per 64 bytes of lanes.
        for (; l + 64 <= R; l += 64) {
          let a0 = v128.splat<F>(<F>0);
          let a1 = a0;
          let a2 = a0;
          let a3 = a0;
          for (let k = 0; k < m; k++) {
            const px = c0 + <usize>load<i32>(o + (<usize>(2 * k) << 2)) + l;
            const py = c1 + <usize>load<i32>(o + (<usize>(2 * k + 1) << 2)) + l;
            a0 = v128.add<F>(a0, v128.mul<F>(v128.load(px), v128.load(py)));
            a1 = v128.add<F>(a1, v128.mul<F>(v128.load(px, 16), v128.load(py, 16)));
            a2 = v128.add<F>(a2, v128.mul<F>(v128.load(px, 32), v128.load(py, 32)));
            a3 = v128.add<F>(a3, v128.mul<F>(v128.load(px, 48), v128.load(py, 48)));
          }
          v128.store(row + l, a0);
          v128.store(row + l, a1, 16);
          v128.store(row + l, a2, 32);
          v128.store(row + l, a3, 48);
        }
        for (; l < R; l += 16) {
          let acc = v128.splat<F>(<F>0);
          for (let k = 0; k < m; k++) {
            const x = v128.load(c0 + <usize>load<i32>(o + (<usize>(2 * k) << 2)) + l);
            const y = v128.load(c1 + <usize>load<i32>(o + (<usize>(2 * k + 1) << 2)) + l);
            acc = v128.add<F>(acc, v128.mul<F>(x, y));
          }
          v128.store(row + l, acc);
        }
      }
    } else {
      for (let a = 0; a < N; a++) {
        const o = off + (<usize>(a * m * s) << 2);
        const row = par + <usize>a * R;
        for (let l: usize = 0; l < R; l += 16) {
          let acc = v128.splat<F>(<F>0);
          for (let k = 0; k < m; k++) {
            const ok = o + (<usize>(k * s) << 2);
            let w = v128.load(c0 + <usize>load<i32>(ok) + l);
            for (let j = 1; j < s; j++) w = v128.mul<F>(w, v128.load(c0 + <usize>j * childStride + <usize>load<i32>(ok + (<usize>j << 2)) + l));
            acc = v128.add<F>(acc, w);
          }
          v128.store(row + l, acc);
        }
      }
    }
    normaliseNode<F>(par, N, R, real, zprod, zexp, zs, zdef);
  }
}

// Draws an index from weights w[0..n) (f64) with total `total` and uniform u ∈ [0, 1), exactly as
// the reference's drawIndex does (same arithmetic, so float64 paths draw the same index).
@inline
function draw(w: usize, n: i32, total: f64, u: f64): i32 {
  let x = u * total;
  for (let i = 0; i < n - 1; i++) {
    x -= load<f64>(w + (<usize>i << 3));
    if (x < 0) return i;
  }
  for (let i = n - 1; i > 0; i--) if (load<f64>(w + (<usize>i << 3)) > 0) return i;
  return 0;
}

// Root of posterior sampling (docs/science.md §2): class of trajectory t of datum n0+n from μ_0 = ν↑_0.
// `u` holds the root uniforms of the whole batch (index (n0+n)·K + t), `out` the root symbols of
// the whole batch (same index), `w` scratch for N f64.
function sampleRoot<F>(root: usize, N: i32, u: usize, out: usize, w: usize, n0: i32, real: i32, K: i32, T: i32): void {
  const size = <usize>sizeof<F>();
  const R = <usize>T * size;
  for (let n = 0; n < real; n++) {
    for (let a = 0; a < N; a++) store<f64>(w + (<usize>a << 3), <f64>load<F>(root + <usize>a * R + <usize>n * size));
    for (let t = 0; t < K; t++) {
      const row = <usize>(n0 + n) * <usize>K + <usize>t;
      store<i32>(out + (row << 2), draw(w, N, 1.0, load<f64>(u + (row << 3))));
    }
  }
}

// One level of posterior sampling (docs/science.md §2): each node with sampled symbol a picks rule k with
// probability ∝ Π_j ν↑(child j, rule[a][k][j]) and writes its tuple. Row (n0+n)·K + t of node i
// of the sampled parent symbols is at parents[row·prs + i·pns] (i32), its uniform at
// u[row·urs + i·uns] (f64) and child c = i·s + j of the sampled children at
// children[row·crs + c·cns] (i32): datum-major batch arrays (prs = urs = width, crs = width·s,
// pns = uns = cns = 1) or the driver's per-chunk node-major scratch (rs = 1, ns = rows of the
// chunk). `below` is ν↑ of level ℓ+1 for this chunk; `w` scratch for m f64.
function sampleLevel<F>(below: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, v: i32, m: i32, s: i32, T: i32): void {
  const size = <usize>sizeof<F>();
  const R = <usize>T * size;
  const nodeBytes = <usize>s * <usize>v * R;
  // Node-outer, lane-inner: all lanes of a node read the same few KB of child rows (cache-hot).
  for (let i = 0; i < width; i++) {
    const cb = below + <usize>i * nodeBytes;
    // The next node's child rows, one load per 64-byte line, spread over this node's lanes (1/T
    // each), so they are on their way from L3 while this node draws: at large depth the levels
    // just above the leaves (8 MiB per chunk at L12 float64) do not stay in L2.
    const slice = nodeBytes / <usize>T;
    const ahead = i + 1 < width && <usize>width * nodeBytes >= TOUCH_LEVEL_BYTES ? cb + nodeBytes : 0;
    for (let n = 0; n < real; n++) {
      if (ahead) touch(ahead + <usize>n * slice, slice);
      const lane = cb + <usize>n * size;
      for (let t = 0; t < K; t++) {
        const row = (n0 + n) * K + t;
        const a = load<i32>(parents + (<usize>(row * prs + i * pns) << 2));
        const rb = rules + (<usize>(a * m * s) << 2);
        let sum = 0.0;
        for (let k = 0; k < m; k++) {
          let x = 1.0;
          for (let j = 0; j < s; j++) x *= <f64>load<F>(lane + (<usize>(j * v + load<i32>(rb + (<usize>(k * s + j) << 2)))) * R);
          store<f64>(w + (<usize>k << 3), x);
          sum += x;
        }
        const k = draw(w, m, sum, load<f64>(u + (<usize>(row * urs + i * uns) << 3)));
        for (let j = 0; j < s; j++) store<i32>(children + (<usize>(row * crs + (i * s + j) * cns) << 2), load<i32>(rb + (<usize>(k * s + j) << 2)));
      }
    }
  }
}

// The last level of posterior sampling (level L−1 → leaves, s = 2) from tokenLeaves' arrays
// instead of materialised leaf messages: the same weights, so the same draws as `sampleLevel`
// (same strides too).
function sampleLeavesTokens<F>(tokL: usize, loL: usize, hiL: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, m: i32, T: i32): void {
  const size = <usize>sizeof<F>();
  const R = <usize>T * size;
  for (let i = 0; i < width; i++) {
    const q0 = <usize>(2 * i) * R;
    const q1 = q0 + R;
    for (let n = 0; n < real; n++) {
      const o0 = q0 + <usize>n * size;
      const o1 = q1 + <usize>n * size;
      const x0 = load<i32>(tokL + o0);
      const x1 = load<i32>(tokL + o1);
      const lo0 = <f64>load<F>(loL + o0);
      const hi0 = <f64>load<F>(hiL + o0);
      const lo1 = <f64>load<F>(loL + o1);
      const hi1 = <f64>load<F>(hiL + o1);
      for (let t = 0; t < K; t++) {
        const row = (n0 + n) * K + t;
        const a = load<i32>(parents + (<usize>(row * prs + i * pns) << 2));
        const rb = rules + (<usize>(a * m * 2) << 2);
        let sum = 0.0;
        for (let k = 0; k < m; k++) {
          let x = 1.0;
          x *= load<i32>(rb + (<usize>(2 * k) << 2)) == x0 ? hi0 : lo0;
          x *= load<i32>(rb + (<usize>(2 * k + 1) << 2)) == x1 ? hi1 : lo1;
          store<f64>(w + (<usize>k << 3), x);
          sum += x;
        }
        const k = draw(w, m, sum, load<f64>(u + (<usize>(row * urs + i * uns) << 3)));
        store<i32>(children + (<usize>(row * crs + 2 * i * cns) << 2), load<i32>(rb + (<usize>(2 * k) << 2)));
        store<i32>(children + (<usize>(row * crs + (2 * i + 1) * cns) << 2), load<i32>(rb + (<usize>(2 * k + 1) << 2)));
      }
    }
  }
}

// Token evidence, s = 2: ν↑ of a node of level L−1 depends only on its two leaf tokens (x0, x1),
// so it is tabulated once per batch: table[((x0·v + x1)·N + a)] (type F), computed with the same
// operations in the same order as tokenLeaves + upward + normaliseNode do for one lane (sum over
// k from 0 of the two children's products, then z = Σ_a in order, then ·(1/z)), hence the same
// bits. Pairs no datum has may hold NaN (a zero z); they are never read.
function pairTable<F>(loT: usize, hiT: usize, rules: usize, N: i32, m: i32, v: i32, table: usize): void {
  const size = <usize>sizeof<F>();
  for (let x0 = 0; x0 < v; x0++) {
    const lo0 = <F>load<f64>(loT + (<usize>x0 << 3));
    const hi0 = <F>load<f64>(hiT + (<usize>x0 << 3));
    for (let x1 = 0; x1 < v; x1++) {
      const lo1 = <F>load<f64>(loT + (<usize>x1 << 3));
      const hi1 = <F>load<f64>(hiT + (<usize>x1 << 3));
      const base = table + <usize>(x0 * v + x1) * <usize>N * size;
      for (let a = 0; a < N; a++) {
        let acc = <F>0;
        for (let k = 0; k < m; k++) {
          const b0 = load<i32>(rules + (<usize>((a * m + k) * 2) << 2));
          const b1 = load<i32>(rules + (<usize>((a * m + k) * 2 + 1) << 2));
          acc = acc + (b0 == x0 ? hi0 : lo0) * (b1 == x1 ? hi1 : lo1);
        }
        store<F>(base + <usize>a * size, acc);
      }
      let z = load<F>(base);
      for (let a = 1; a < N; a++) z = z + load<F>(base + <usize>a * size);
      const inv = <F>1 / z;
      for (let a = 0; a < N; a++) store<F>(base + <usize>a * size, load<F>(base + <usize>a * size) * inv);
    }
  }
}

// Posterior sampling of level L−2 → L−1 (s = 2, token evidence): `sampleLevel` with each child's
// ν↑ read from pairTable by its two leaf tokens (tokenLeaves' lane-layout tokL), so level L−1 is
// never stored for the chunk. Same weights, same draws; same strides as sampleLevel.
function samplePairs<F>(table: usize, tokL: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, N: i32, v: i32, m: i32, T: i32): void {
  const size = <usize>sizeof<F>();
  const R = <usize>T * size;
  const row = <usize>N * size;
  for (let i = 0; i < width; i++) {
    const q = <usize>(4 * i) * R;
    for (let n = 0; n < real; n++) {
      const o = q + <usize>n * size;
      const e0 = table + <usize>(load<i32>(tokL + o) * v + load<i32>(tokL + o + R)) * row;
      const e1 = table + <usize>(load<i32>(tokL + o + 2 * R) * v + load<i32>(tokL + o + 3 * R)) * row;
      for (let t = 0; t < K; t++) {
        const r = (n0 + n) * K + t;
        const a = load<i32>(parents + (<usize>(r * prs + i * pns) << 2));
        const rb = rules + (<usize>(a * m * 2) << 2);
        let sum = 0.0;
        for (let k = 0; k < m; k++) {
          let x = 1.0;
          x *= <f64>load<F>(e0 + (<usize>load<i32>(rb + (<usize>(2 * k) << 2)) * size));
          x *= <f64>load<F>(e1 + (<usize>load<i32>(rb + (<usize>(2 * k + 1) << 2)) * size));
          store<f64>(w + (<usize>k << 3), x);
          sum += x;
        }
        const k = draw(w, m, sum, load<f64>(u + (<usize>(r * urs + i * uns) << 3)));
        store<i32>(children + (<usize>(r * crs + 2 * i * cns) << 2), load<i32>(rb + (<usize>(2 * k) << 2)));
        store<i32>(children + (<usize>(r * crs + (2 * i + 1) * cns) << 2), load<i32>(rb + (<usize>(2 * k + 1) << 2)));
      }
    }
  }
}

// Copies a rows × width matrix of 4- or 8-byte elements (`bytes`): element (r, i) from
// src[r·srs + i·sns] to dst[r·drs + i·dns], row by row (sequential in the datum-major side).
export function transpose(src: usize, dst: usize, rows: i32, width: i32, srs: i32, sns: i32, drs: i32, dns: i32, bytes: i32): void {
  if (bytes == 8) {
    for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) store<u64>(dst + (<usize>(r * drs + i * dns) << 3), load<u64>(src + (<usize>(r * srs + i * sns) << 3)));
  } else {
    for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) store<u32>(dst + (<usize>(r * drs + i * dns) << 2), load<u32>(src + (<usize>(r * srs + i * sns) << 2)));
  }
}

// Downward step (docs/science.md §2) from `down` (ν↓ of the width parents, N rows each, normalised) to the
// unnormalised ν↓ of their children in `childDown` (width·s nodes, v rows; zeroed here):
// ν↓(child j, rule[a][k][j]) += ν↓(a)·Π_{j'≠j} ν↑(child j', rule[a][k][j']).
function downward<F>(down: usize, below: usize, childDown: usize, rules: usize, off: usize, width: i32, N: i32, m: i32, v: i32, s: i32, T: i32): void {
  const R = <usize>T * <usize>sizeof<F>();
  ruleOffsets(rules, off, N * m * s, <i32>R);
  const childStride = <usize>v * R;
  memory.fill(childDown, 0, <usize>width * <usize>s * childStride);
  for (let p = 0; p < width; p++) {
    const c0 = below + <usize>p * <usize>s * childStride;
    const d0 = childDown + <usize>p * <usize>s * childStride;
    const dn = down + <usize>p * <usize>N * R;
    for (let a = 0; a < N; a++) {
      const o = off + (<usize>(a * m * s) << 2);
      for (let l: usize = 0; l < R; l += 16) {
        const wa = v128.load(dn + <usize>a * R + l);
        if (s == 2) {
          for (let k = 0; k < m; k++) {
            const o0 = <usize>load<i32>(o + (<usize>(2 * k) << 2)) + l;
            const o1 = childStride + <usize>load<i32>(o + (<usize>(2 * k + 1) << 2)) + l;
            const x = v128.load(c0 + o0);
            const y = v128.load(c0 + o1);
            v128.store(d0 + o0, v128.add<F>(v128.load(d0 + o0), v128.mul<F>(wa, y)));
            v128.store(d0 + o1, v128.add<F>(v128.load(d0 + o1), v128.mul<F>(wa, x)));
          }
        } else {
          for (let k = 0; k < m; k++) {
            const ok = o + (<usize>(k * s) << 2);
            for (let j = 0; j < s; j++) {
              // w·Π_{j'<j}·Π_{j'>j}, in the reference's prefix·suffix order.
              let pre = v128.splat<F>(<F>1);
              for (let q = 0; q < j; q++) pre = v128.mul<F>(pre, v128.load(c0 + <usize>q * childStride + <usize>load<i32>(ok + (<usize>q << 2)) + l));
              let suf = v128.splat<F>(<F>1);
              for (let q = s - 1; q > j; q--) suf = v128.mul<F>(v128.load(c0 + <usize>q * childStride + <usize>load<i32>(ok + (<usize>q << 2)) + l), suf);
              const oj = <usize>j * childStride + <usize>load<i32>(ok + (<usize>j << 2)) + l;
              v128.store(d0 + oj, v128.add<F>(v128.load(d0 + oj), v128.mul<F>(v128.mul<F>(wa, pre), suf)));
            }
          }
        }
      }
    }
  }
}

// Marginals of `nodes` nodes (docs/science.md §2): normalises childDown in place (it is the next level's ν↓)
// and μ ∝ ν↓·ν↑. If `truth` ≠ 0 (i32 symbols of this level for the whole batch, datum-major)
// adds μ(node, truth) to kept[lane] (f64). If `muOut` ≠ 0 writes μ datum-major
// ([((n0+n)·nodes + c)·v + b], type F). `zs` scratch for one row.
function marginals<F>(childDown: usize, below: usize, nodes: i32, v: i32, T: i32, real: i32, n0: i32, truth: usize, kept: usize, muOut: usize, zs: usize): void {
  const size = <usize>sizeof<F>();
  const R = <usize>T * size;
  for (let c = 0; c < nodes; c++) {
    const cd = childDown + <usize>c * <usize>v * R;
    const up = below + <usize>c * <usize>v * R;
    for (let l: usize = 0; l < R; l += 16) {
      let zd = v128.splat<F>(<F>0);
      let z = v128.splat<F>(<F>0);
      for (let b = 0; b < v; b++) {
        const x = v128.load(cd + <usize>b * R + l);
        zd = v128.add<F>(zd, x);
        z = v128.add<F>(z, v128.mul<F>(x, v128.load(up + <usize>b * R + l)));
      }
      // ratio zd/z: μ(b) = (ν↓(b)/zd)·ν↑(b)·(zd/z).
      v128.store(zs + l, v128.div<F>(zd, z));
      const inv = v128.div<F>(v128.splat<F>(<F>1), zd);
      for (let b = 0; b < v; b++) {
        const p = cd + <usize>b * R + l;
        v128.store(p, v128.mul<F>(v128.load(p), inv));
      }
    }
    // childDown is now normalised: μ = ν↓·ν↑ / Σ_b ν↓·ν↑ (the normaliser ratio cancels).
    if (truth != 0) {
      for (let n = 0; n < real; n++) {
        const b = load<i32>(truth + ((<usize>(n0 + n) * <usize>nodes + <usize>c) << 2));
        const num = <f64>load<F>(cd + <usize>b * R + <usize>n * size) * <f64>load<F>(up + <usize>b * R + <usize>n * size);
        store<f64>(kept + (<usize>n << 3), load<f64>(kept + (<usize>n << 3)) + num * <f64>load<F>(zs + <usize>n * size));
      }
    }
    if (muOut != 0) {
      for (let n = 0; n < real; n++) {
        const r = load<F>(zs + <usize>n * size);
        const o = muOut + (<usize>(n0 + n) * <usize>nodes + <usize>c) * <usize>v * size;
        for (let b = 0; b < v; b++) store<F>(o + <usize>b * size, load<F>(cd + <usize>b * R + <usize>n * size) * load<F>(up + <usize>b * R + <usize>n * size) * r);
      }
    }
  }
}

// Lane layout ⇄ datum-major ([((n0+n)·nodes + c)·N + a]) for `real` lanes of one level.
function toDatumMajor<F>(src: usize, dst: usize, nodes: i32, N: i32, T: i32, real: i32, n0: i32): void {
  const size = <usize>sizeof<F>();
  const R = <usize>T * size;
  for (let c = 0; c < nodes; c++) {
    for (let a = 0; a < N; a++) {
      const row = src + (<usize>c * <usize>N + <usize>a) * R;
      for (let n = 0; n < real; n++) store<F>(dst + ((<usize>(n0 + n) * <usize>nodes + <usize>c) * <usize>N + <usize>a) * size, load<F>(row + <usize>n * size));
    }
  }
}
function fromDatumMajor<F>(src: usize, dst: usize, nodes: i32, N: i32, T: i32, real: i32, n0: i32): void {
  const size = <usize>sizeof<F>();
  const R = <usize>T * size;
  const flat = <F>1 / <F>N;
  for (let c = 0; c < nodes; c++) {
    for (let a = 0; a < N; a++) {
      const row = dst + (<usize>c * <usize>N + <usize>a) * R;
      for (let n = 0; n < real; n++) store<F>(row + <usize>n * size, load<F>(src + ((<usize>(n0 + n) * <usize>nodes + <usize>c) * <usize>N + <usize>a) * size));
      for (let n = real; n < T; n++) store<F>(row + <usize>n * size, flat);
    }
  }
}
// Uniform ν↓ (the root prior) for `N` rows.
function fill<F>(dst: usize, rows: i32, T: i32, value: f64): void {
  const size = <usize>sizeof<F>();
  const end = dst + <usize>rows * <usize>T * size;
  for (let p = dst; p < end; p += size) store<F>(p, <F>value);
}

export function leaves64(lam: usize, dst: usize, d: i32, i0: i32, i1: i32, v: i32, T: i32, real: i32, zprod: usize, zexp: usize, zdef: usize): void { leaves<f64>(lam, dst, d, i0, i1, v, T, real, zprod, zexp, zdef); }
export function leaves32(lam: usize, dst: usize, d: i32, i0: i32, i1: i32, v: i32, T: i32, real: i32, zprod: usize, zexp: usize, zdef: usize): void { leaves<f32>(lam, dst, d, i0, i1, v, T, real, zprod, zexp, zdef); }
export function upward64(child: usize, parent: usize, rules: usize, off: usize, zs: usize, p0: i32, width: i32, N: i32, m: i32, v: i32, s: i32, T: i32, real: i32, zprod: usize, zexp: usize, zdef: usize): void { upward<f64>(child, parent, rules, off, zs, p0, width, N, m, v, s, T, real, zprod, zexp, zdef); }
export function upward32(child: usize, parent: usize, rules: usize, off: usize, zs: usize, p0: i32, width: i32, N: i32, m: i32, v: i32, s: i32, T: i32, real: i32, zprod: usize, zexp: usize, zdef: usize): void { upward<f32>(child, parent, rules, off, zs, p0, width, N, m, v, s, T, real, zprod, zexp, zdef); }
export function sampleRoot64(root: usize, N: i32, u: usize, out: usize, w: usize, n0: i32, real: i32, K: i32, T: i32): void { sampleRoot<f64>(root, N, u, out, w, n0, real, K, T); }
export function sampleRoot32(root: usize, N: i32, u: usize, out: usize, w: usize, n0: i32, real: i32, K: i32, T: i32): void { sampleRoot<f32>(root, N, u, out, w, n0, real, K, T); }
export function sampleLevel64(below: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, v: i32, m: i32, s: i32, T: i32): void { sampleLevel<f64>(below, rules, parents, prs, pns, children, crs, cns, u, urs, uns, w, n0, real, K, width, v, m, s, T); }
export function sampleLevel32(below: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, v: i32, m: i32, s: i32, T: i32): void { sampleLevel<f32>(below, rules, parents, prs, pns, children, crs, cns, u, urs, uns, w, n0, real, K, width, v, m, s, T); }
export function downward64(down: usize, below: usize, childDown: usize, rules: usize, off: usize, width: i32, N: i32, m: i32, v: i32, s: i32, T: i32): void { downward<f64>(down, below, childDown, rules, off, width, N, m, v, s, T); }
export function downward32(down: usize, below: usize, childDown: usize, rules: usize, off: usize, width: i32, N: i32, m: i32, v: i32, s: i32, T: i32): void { downward<f32>(down, below, childDown, rules, off, width, N, m, v, s, T); }
export function marginals64(childDown: usize, below: usize, nodes: i32, v: i32, T: i32, real: i32, n0: i32, truth: usize, kept: usize, muOut: usize, zs: usize): void { marginals<f64>(childDown, below, nodes, v, T, real, n0, truth, kept, muOut, zs); }
export function marginals32(childDown: usize, below: usize, nodes: i32, v: i32, T: i32, real: i32, n0: i32, truth: usize, kept: usize, muOut: usize, zs: usize): void { marginals<f32>(childDown, below, nodes, v, T, real, n0, truth, kept, muOut, zs); }
export function toDatumMajor64(src: usize, dst: usize, nodes: i32, N: i32, T: i32, real: i32, n0: i32): void { toDatumMajor<f64>(src, dst, nodes, N, T, real, n0); }
export function toDatumMajor32(src: usize, dst: usize, nodes: i32, N: i32, T: i32, real: i32, n0: i32): void { toDatumMajor<f32>(src, dst, nodes, N, T, real, n0); }
export function fromDatumMajor64(src: usize, dst: usize, nodes: i32, N: i32, T: i32, real: i32, n0: i32): void { fromDatumMajor<f64>(src, dst, nodes, N, T, real, n0); }
export function fromDatumMajor32(src: usize, dst: usize, nodes: i32, N: i32, T: i32, real: i32, n0: i32): void { fromDatumMajor<f32>(src, dst, nodes, N, T, real, n0); }
export function fill64(dst: usize, rows: i32, T: i32, value: f64): void { fill<f64>(dst, rows, T, value); }
export function fill32(dst: usize, rows: i32, T: i32, value: f64): void { fill<f32>(dst, rows, T, value); }
export function tokenLeaves64(tok: usize, d: i32, i0: i32, i1: i32, v: i32, T: i32, real: i32, zt: usize, loT: usize, hiT: usize, tokL: usize, loL: usize, hiL: usize, dst: usize, zprod: usize, zexp: usize): void { tokenLeaves<f64>(tok, d, i0, i1, v, T, real, zt, loT, hiT, tokL, loL, hiL, dst, zprod, zexp); }
export function tokenLeaves32(tok: usize, d: i32, i0: i32, i1: i32, v: i32, T: i32, real: i32, zt: usize, loT: usize, hiT: usize, tokL: usize, loL: usize, hiL: usize, dst: usize, zprod: usize, zexp: usize): void { tokenLeaves<f32>(tok, d, i0, i1, v, T, real, zt, loT, hiT, tokL, loL, hiL, dst, zprod, zexp); }
export function sampleLeavesTokens64(tokL: usize, loL: usize, hiL: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, m: i32, T: i32): void { sampleLeavesTokens<f64>(tokL, loL, hiL, rules, parents, prs, pns, children, crs, cns, u, urs, uns, w, n0, real, K, width, m, T); }
export function sampleLeavesTokens32(tokL: usize, loL: usize, hiL: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, m: i32, T: i32): void { sampleLeavesTokens<f32>(tokL, loL, hiL, rules, parents, prs, pns, children, crs, cns, u, urs, uns, w, n0, real, K, width, m, T); }
export function pairTable64(loT: usize, hiT: usize, rules: usize, N: i32, m: i32, v: i32, table: usize): void { pairTable<f64>(loT, hiT, rules, N, m, v, table); }
export function pairTable32(loT: usize, hiT: usize, rules: usize, N: i32, m: i32, v: i32, table: usize): void { pairTable<f32>(loT, hiT, rules, N, m, v, table); }
export function samplePairs64(table: usize, tokL: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, N: i32, v: i32, m: i32, T: i32): void { samplePairs<f64>(table, tokL, rules, parents, prs, pns, children, crs, cns, u, urs, uns, w, n0, real, K, width, N, v, m, T); }
export function samplePairs32(table: usize, tokL: usize, rules: usize, parents: usize, prs: i32, pns: i32, children: usize, crs: i32, cns: i32, u: usize, urs: i32, uns: i32, w: usize, n0: i32, real: i32, K: i32, width: i32, N: i32, v: i32, m: i32, T: i32): void { samplePairs<f32>(table, tokL, rules, parents, prs, pns, children, crs, cns, u, urs, uns, w, n0, real, K, width, N, v, m, T); }
