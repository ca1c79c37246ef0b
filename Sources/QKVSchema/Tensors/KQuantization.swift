// Quantization to the K types (q2_k ... q6_k), as ggml's reference quantizers `quantize_row_q*_K_ref`
// compute it: the path `llama_model_quantize` takes when no importance matrix is given.
//
// Bit-identity rests on doing the same float operations in the same order: separate multiplies and adds
// (Swift never fuses them, and ggml's reference file is compiled without FMA), sums accumulated left to
// right, int → float conversions where C converts. Keep that when editing.

extension BlockQuantization {
    /// The K types `quantizeSuperBlock` writes.
    public static let superBlockQuantizable: Set<DType> = [.q2_k, .q3_k, .q4_k, .q5_k, .q6_k]

    /// One super-block of `dtype` (256 values of x, layouts in Specs/quantization.md) as ggml's
    /// `quantize_row_<type>_ref` writes it.
    public static func quantizeSuperBlock(_ x: UnsafePointer<Float>, dtype: DType, into block: UnsafeMutableRawPointer) {
        block.initializeMemory(as: UInt8.self, repeating: 0, count: dtype.blockBytes)
        let y = block.assumingMemoryBound(to: UInt8.self)
        switch dtype {
        case .q2_k: quantizeQ2K(x, y)
        case .q3_k: quantizeQ3K(x, y)
        case .q4_k: quantizeQ4Q5K(x, y, bits: 4)
        case .q5_k: quantizeQ4Q5K(x, y, bits: 5)
        case .q6_k: quantizeQ6K(x, y)
        default: preconditionFailure("quantizeSuperBlock to \(dtype)")
        }
    }

    // MARK: - Helpers

    /// ggml's `nearest_int`: round to nearest, ties to even, through the f32 bit pattern of x + 1.5·2²³
    /// (exact for |x| < 2²²; out of range, the same wrapped value ggml gets).
    @inline(__always)
    static func nearestInt(_ x: Float) -> Int32 {
        let shifted = x + 12_582_912
        return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) &- 0x0040_0000
    }

    @inline(__always)
    static func clamp(_ value: Int32, _ low: Int32, _ high: Int32) -> Int32 { max(low, min(high, value)) }

    /// f32 → f16 → f32, the scale a block stores and its reader sees.
    @inline(__always)
    static func storeHalf(_ value: Float, _ y: UnsafeMutablePointer<UInt8>, at offset: Int) -> Float {
        let half = Float16(value)
        UnsafeMutableRawPointer(y).storeBytes(of: half.bitPattern, toByteOffset: offset, as: UInt16.self)
        return Float(half)
    }

    /// Below this largest magnitude a group counts as all zeros (ggml's GROUP_MAX_EPS).
    static let groupMaxEpsilon: Float = 1e-15

    /// The value of largest magnitude among n (the first on a tie), or nil when all are below
    /// `groupMaxEpsilon` in magnitude.
    static func largestMagnitude(_ n: Int, _ x: UnsafePointer<Float>) -> Float? {
        var max: Float = 0, amax: Float = 0
        for i in 0..<n {
            let ax = abs(x[i])
            if ax > amax { amax = ax; max = x[i] }
        }
        return amax < groupMaxEpsilon ? nil : max
    }

    /// ggml's `make_qx_quants` with no importance weights: a symmetric scale for `n` values into levels
    /// -nmax ..< nmax (stored in L shifted by nmax), weighted by x² (rmse_type 1) and refined over 18
    /// trial scales around nmax / max. Returns the scale.
    static func symmetricScale(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
        guard let max = largestMagnitude(n, x) else {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        var iscale = Float(-nmax) / max
        var sumlx: Float = 0, suml2: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            L[i] = Int8(truncatingIfNeeded: l + nmax)
            let w = x[i] * x[i]
            sumlx += w * x[i] * Float(l)
            suml2 += w * Float(l) * Float(l)
        }
        var scale: Float = suml2 != 0 ? sumlx / suml2 : 0
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            iscale = -(Float(nmax) + 0.1 * Float(step)) / max
            sumlx = 0; suml2 = 0
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
                let w = x[i] * x[i]
                sumlx += w * x[i] * Float(l)
                suml2 += w * Float(l) * Float(l)
            }
            if suml2 > 0 && sumlx * sumlx > best * suml2 {
                for i in 0..<n {
                    L[i] = Int8(truncatingIfNeeded: nmax + clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1))
                }
                scale = sumlx / suml2
                best = scale * sumlx
            }
        }
        return scale
    }

    /// ggml's `make_q3_quants` with its x²-weighted refinement: levels -nmax ..< nmax, improved one value
    /// at a time for up to five passes. L gets the levels shifted by nmax; returns the scale.
    static func symmetricScaleRefined(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
        guard let max = largestMagnitude(n, x) else {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let iscale = Float(-nmax) / max
        var sumlx: Float = 0, suml2: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            L[i] = Int8(truncatingIfNeeded: l)
            let w = x[i] * x[i]
            sumlx += w * x[i] * Float(l)
            suml2 += w * Float(l) * Float(l)
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i], current = Float(L[i])
                var slx = sumlx - w * x[i] * current
                if slx > 0 {
                    var sl2 = suml2 - w * current * current
                    let newL = clamp(nearestInt(x[i] * sl2 / slx), -nmax, nmax - 1)
                    if newL != Int32(L[i]) {
                        slx += w * x[i] * Float(newL)
                        sl2 += w * Float(newL) * Float(newL)
                        if sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            L[i] = Int8(truncatingIfNeeded: newL); sumlx = slx; suml2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { L[i] = L[i] &+ Int8(truncatingIfNeeded: nmax) }
        return suml2 > 0 ? sumlx / suml2 : 0
    }

    /// ggml's `make_qkx2_quants`: a scale and a min (x ≈ scale · L - min, L in 0...nmax) for `n` weighted
    /// values, searching `nstep + 1` trial scales from (nmax + rmin) / (max - min) in steps of rdelta and
    /// keeping the least weighted error (absolute with `useMAD`, squared otherwise). Returns (scale, min).
    static func scaleAndMin(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                            _ L: UnsafeMutablePointer<UInt8>, rmin: Float, rdelta: Float, nstep: Int, useMAD: Bool) -> (Float, Float) {
        var minimum = x[0], maximum = x[0]
        let sumW0 = weights[0]
        var sumW = sumW0, sumX = sumW0 * x[0]
        for i in 1..<n {
            if x[i] < minimum { minimum = x[i] }
            if x[i] > maximum { maximum = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if minimum > 0 { minimum = 0 }
        if maximum == minimum {
            for i in 0..<n { L[i] = 0 }
            return (0, -minimum)
        }
        var iscale = Float(nmax) / (maximum - minimum)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * (x[i] - minimum)), 0, nmax)
            L[i] = UInt8(truncatingIfNeeded: l)
            var diff = scale * Float(l) + minimum - x[i]
            diff = useMAD ? abs(diff) : diff * diff
            bestError += weights[i] * diff
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { trial in
            for step in 0...nstep {
                iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (maximum - minimum)
                var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
                for i in 0..<n {
                    let l = clamp(nearestInt(iscale * (x[i] - minimum)), 0, nmax)
                    trial[i] = UInt8(truncatingIfNeeded: l)
                    let w = weights[i], fl = Float(l)
                    sumL += w * fl
                    sumL2 += w * fl * fl
                    sumXL += w * fl * x[i]
                }
                let D = sumW * sumL2 - sumL * sumL
                guard D > 0 else { continue }
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var error: Float = 0
                for i in 0..<n {
                    var diff = thisScale * Float(trial[i]) + thisMin - x[i]
                    diff = useMAD ? abs(diff) : diff * diff
                    error += weights[i] * diff
                }
                if error < bestError {
                    for i in 0..<n { L[i] = trial[i] }
                    bestError = error
                    scale = thisScale
                    minimum = thisMin
                }
            }
        }
        return (scale, -minimum)
    }

    /// Packs 2-bit levels as q2_k and q3_k store them: byte 32·h + m holds values 128·h + 32·l + m in bits 2l.
    static func packTwoBits(_ L: UnsafePointer<UInt8>, into qs: UnsafeMutablePointer<UInt8>) {
        for h in 0..<2 {
            for m in 0..<32 {
                let base = 128 * h + m
                qs[32 * h + m] = L[base] | L[base + 32] << 2 | L[base + 64] << 4 | L[base + 96] << 6
            }
        }
    }

    // MARK: - The types

    /// q2_k: 16 groups of 16 with a 4-bit scale and a 4-bit min each (MAD-weighted by |x|).
    static func quantizeQ2K(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 + 16 + 16) { floats in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { L in
                let weights = floats.baseAddress!, scales = weights + 16, mins = weights + 32
                let L = L.baseAddress!
                var maxScale: Float = 0, maxMin: Float = 0
                for j in 0..<16 {
                    for l in 0..<16 { weights[l] = abs(x[16 * j + l]) }
                    (scales[j], mins[j]) = scaleAndMin(16, nmax: 3, x + 16 * j, weights: weights, L + 16 * j,
                                                       rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true)
                    if scales[j] > maxScale { maxScale = scales[j] }
                    if mins[j] > maxMin { maxMin = mins[j] }
                }
                let q4scale: Float = 15
                let d: Float, dmin: Float
                if maxScale > 0 {
                    let iscale = q4scale / maxScale
                    for j in 0..<16 { y[j] = UInt8(truncatingIfNeeded: nearestInt(iscale * scales[j])) }
                    d = storeHalf(maxScale / q4scale, y, at: 80)
                } else {
                    for j in 0..<16 { y[j] = 0 }
                    d = storeHalf(0, y, at: 80)
                }
                if maxMin > 0 {
                    let iscale = q4scale / maxMin
                    for j in 0..<16 { y[j] |= UInt8(truncatingIfNeeded: nearestInt(iscale * mins[j]) << 4) }
                    dmin = storeHalf(maxMin / q4scale, y, at: 82)
                } else {
                    dmin = storeHalf(0, y, at: 82)
                }
                for j in 0..<16 {
                    let dj = d * Float(y[j] & 0xF)
                    if dj == 0 { continue }
                    let dm = dmin * Float(y[j] >> 4)
                    for i in 0..<16 {
                        L[16 * j + i] = UInt8(truncatingIfNeeded: clamp(nearestInt((x[16 * j + i] + dm) / dj), 0, 3))
                    }
                }
                packTwoBits(L, into: y + 16)
            }
        }
    }

    /// q3_k: 16 groups of 16 with a signed 6-bit scale each; the third bit of every level in hmask.
    static func quantizeQ3K(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scales in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { L in
                let scales = scales.baseAddress!, L = L.baseAddress!
                let hmask = y, qs = y + 32, packed = y + 96
                var maxScale: Float = 0, amax: Float = 0
                for j in 0..<16 {
                    scales[j] = symmetricScaleRefined(16, nmax: 4, x + 16 * j, L + 16 * j)
                    let scale = abs(scales[j])
                    if scale > amax { amax = scale; maxScale = scales[j] }
                }
                let d: Float
                if maxScale != 0 {
                    let iscale = -32 / maxScale
                    for j in 0..<16 {
                        // C stores nearest_int in an int8 before clamping; |iscale · scale| <= 32 keeps it exact.
                        var l = Int8(truncatingIfNeeded: nearestInt(iscale * scales[j]))
                        l = max(-32, min(31, l)) + 32
                        if j < 8 {
                            packed[j] = UInt8(bitPattern: l) & 0xF
                        } else {
                            packed[j - 8] |= (UInt8(bitPattern: l) & 0xF) << 4
                        }
                        l >>= 4
                        packed[j % 4 + 8] |= UInt8(bitPattern: l) << (2 * (j / 4))
                    }
                    d = storeHalf(1 / iscale, y, at: 108)
                } else {
                    d = storeHalf(0, y, at: 108)
                }
                for j in 0..<16 {
                    let low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4
                    let sc = Int(low | ((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32
                    let dj = d * Float(sc)
                    if dj == 0 { continue }
                    for i in 0..<16 {
                        L[16 * j + i] = Int8(truncatingIfNeeded: clamp(nearestInt(x[16 * j + i] / dj), -4, 3) + 4)
                    }
                }
                // The high bit of value j goes to bit j / 32 of hmask[j % 32].
                for j in 0..<256 where L[j] > 3 {
                    hmask[j % 32] |= UInt8(1) << (j / 32)
                    L[j] -= 4
                }
                L.withMemoryRebound(to: UInt8.self, capacity: 256) { packTwoBits($0, into: qs) }
            }
        }
    }

    /// q4_k and q5_k: 8 groups of 32 with a 6-bit scale and a 6-bit min each, weighted by rms(x) + |x|.
    static func quantizeQ4Q5K(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>, bits: Int) {
        let nmax: Int32 = bits == 4 ? 15 : 31
        let rmin: Float = bits == 4 ? -1 : -0.5, nstep = bits == 4 ? 20 : 15
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + 8 + 8) { floats in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { L in
                let weights = floats.baseAddress!, scales = weights + 32, mins = weights + 40
                let L = L.baseAddress!, packed = y + 4
                var maxScale: Float = 0, maxMin: Float = 0
                for j in 0..<8 {
                    var sumX2: Float = 0
                    for l in 0..<32 { sumX2 += x[32 * j + l] * x[32 * j + l] }
                    let averageX = (sumX2 / 32).squareRoot()
                    for l in 0..<32 { weights[l] = averageX + abs(x[32 * j + l]) }
                    (scales[j], mins[j]) = scaleAndMin(32, nmax: nmax, x + 32 * j, weights: weights, L + 32 * j,
                                                       rmin: rmin, rdelta: 0.1, nstep: nstep, useMAD: false)
                    if scales[j] > maxScale { maxScale = scales[j] }
                    if mins[j] > maxMin { maxMin = mins[j] }
                }
                let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
                let inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
                for j in 0..<8 {
                    let ls = min(63, UInt8(truncatingIfNeeded: nearestInt(inverseScale * scales[j])))
                    let lm = min(63, UInt8(truncatingIfNeeded: nearestInt(inverseMin * mins[j])))
                    if j < 4 {
                        packed[j] = ls
                        packed[j + 4] = lm
                    } else {
                        packed[j + 4] = (ls & 0xF) | (lm & 0xF) << 4
                        packed[j - 4] |= (ls >> 4) << 6
                        packed[j] |= (lm >> 4) << 6
                    }
                }
                let d = storeHalf(maxScale / 63, y, at: 0), dmin = storeHalf(maxMin / 63, y, at: 2)
                for j in 0..<8 {
                    let sc: UInt8, m: UInt8
                    if j < 4 {
                        sc = packed[j] & 63; m = packed[j + 4] & 63
                    } else {
                        sc = (packed[j + 4] & 0xF) | (packed[j - 4] >> 6) << 4
                        m = (packed[j + 4] >> 4) | (packed[j] >> 6) << 4
                    }
                    let dj = d * Float(sc)
                    if dj == 0 { continue }
                    let dm = dmin * Float(m)
                    for i in 0..<32 {
                        L[32 * j + i] = UInt8(truncatingIfNeeded: clamp(nearestInt((x[32 * j + i] + dm) / dj), 0, nmax))
                    }
                }
                if bits == 4 {
                    let qs = y + 16
                    for j in stride(from: 0, to: 256, by: 64) {
                        for l in 0..<32 { qs[j / 2 + l] = L[j + l] | L[j + l + 32] << 4 }
                    }
                } else {
                    // The fifth bit of value 64·p + 32·k + m goes to bit 2p + k of qh[m].
                    let qh = y + 16, ql = y + 48
                    for p in 0..<4 {
                        for m in 0..<32 {
                            var l1 = L[64 * p + m], l2 = L[64 * p + m + 32]
                            if l1 > 15 { l1 -= 16; qh[m] |= UInt8(1) << (2 * p) }
                            if l2 > 15 { l2 -= 16; qh[m] |= UInt8(2) << (2 * p) }
                            ql[32 * p + m] = l1 | l2 << 4
                        }
                    }
                }
            }
        }
    }

    /// q6_k: 16 groups of 16 with a signed 8-bit scale each, levels -32 ..< 32.
    static func quantizeQ6K(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scales in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { L in
                let scales = scales.baseAddress!, L = L.baseAddress!
                var maxScale: Float = 0, maxAbsScale: Float = 0
                for j in 0..<16 {
                    scales[j] = symmetricScale(16, nmax: 32, x + 16 * j, L + 16 * j)
                    let scale = abs(scales[j])
                    if scale > maxAbsScale { maxAbsScale = scale; maxScale = scales[j] }
                }
                if maxAbsScale < groupMaxEpsilon { return }   // the block stays all zeros, d = 0
                let iscale = -128 / maxScale
                let d = storeHalf(1 / iscale, y, at: 208)
                let stored = UnsafeMutableRawPointer(y + 192).assumingMemoryBound(to: Int8.self)
                for j in 0..<16 { stored[j] = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[j]))) }
                for j in 0..<16 {
                    let dj = d * Float(stored[j])
                    if dj == 0 { continue }
                    for i in 0..<16 {
                        L[16 * j + i] = Int8(truncatingIfNeeded: clamp(nearestInt(x[16 * j + i] / dj), -32, 31) + 32)
                    }
                }
                let ql = y, qh = y + 128
                L.withMemoryRebound(to: UInt8.self, capacity: 256) { L in
                    for h in 0..<2 {
                        for l in 0..<32 {
                            let r = 128 * h + l
                            ql[64 * h + l] = (L[r] & 0xF) | (L[r + 64] & 0xF) << 4
                            ql[64 * h + l + 32] = (L[r + 32] & 0xF) | (L[r + 96] & 0xF) << 4
                            qh[32 * h + l] = L[r] >> 4 | (L[r + 32] >> 4) << 2 | (L[r + 64] >> 4) << 4 | (L[r + 96] >> 4) << 6
                        }
                    }
                }
            }
        }
    }
}
