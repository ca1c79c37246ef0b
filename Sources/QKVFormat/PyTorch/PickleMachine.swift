/// A pickle machine that can only build state dicts: the protocol 2–5 opcodes torch.save writes, and an
/// allow-list of globals it answers itself (an ordered dict, tensor rebuilding, storage types). Nothing is
/// ever imported or called: a global outside the list is an error naming it the moment it is read.
///
/// Every object is made by one opcode, so a pickle of n bytes makes at most n objects; the stack, the
/// memo and the nesting of the result are bounded besides. A list or dictionary is filled before it goes
/// into another object (as pickle writes them) and never into itself, so every value's depth is known
/// when it is made and nothing the machine builds has a cycle or is deeper than `maxDepth` (a deep one
/// would overflow the thread's stack when it is freed).
struct PickleMachine {
    /// What the machine builds.
    indirect enum Value {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case bytes(Int)                 // only its length: a state dict has no use for bytes objects
        case tuple([Value], depth: Int)
        case list(ListBox)
        case dict(DictBox)
        case global(String)             // "module.name", one of `allowedGlobals`
        case storage(Storage)
        case tensor(Tensor)
        case mark
    }

    /// A list or dictionary: its items, the depth of its nesting, and whether it is inside another object
    /// already (then it takes no more items).
    final class ListBox { var items: [Value] = []; var depth = 1; var contained = false }
    final class DictBox { var items: [(key: Value, value: Value)] = []; var depth = 1; var contained = false }

    /// How deep `value` nests: 0 for a scalar, 1 for an empty container.
    static func depth(_ value: Value) -> Int {
        switch value {
        case .tuple(_, let depth): depth
        case .list(let box): box.depth
        case .dict(let box): box.depth
        default: 0
        }
    }

    /// A `('storage', torch.FloatStorage, key, location, numel)` persistent id: the zip entry
    /// `data/<key>` holds numel elements of dtype.
    struct Storage {
        let key: String
        let dtype: DType
        let elementCount: Int
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`, in elements.
    struct Tensor {
        let storage: Storage
        let offset: Int
        let shape: [Int]
        let strides: [Int]
    }

    /// Storage classes and the dtype of their elements (bool as u8: one byte, 0 or 1).
    static let storageTypes: [String: DType] = [
        "torch.FloatStorage": .f32, "torch.HalfStorage": .f16, "torch.BFloat16Storage": .bf16, "torch.DoubleStorage": .f64,
        "torch.LongStorage": .i64, "torch.IntStorage": .i32, "torch.ShortStorage": .i16, "torch.CharStorage": .i8,
        "torch.ByteStorage": .u8, "torch.BoolStorage": .u8,
    ]

    /// Every global the machine answers; anything else is refused.
    static let allowedGlobals: Set<String> = Set(storageTypes.keys).union([
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    ])

    static let maxStack = 1 << 20
    static let maxMemo = 1 << 22
    static let maxDepth = 64

    let file: String

    /// Runs `pickle` to its STOP and returns the object on the stack.
    func run(_ pickle: UnsafeRawBufferPointer) throws(PyTorchError) -> Value { try run(pickle, from: 0).value }

    /// Runs the pickle that starts at byte `start` to its STOP: the object on the stack and the offset just
    /// past the STOP (the legacy format holds several pickles one after another).
    func run(_ pickle: UnsafeRawBufferPointer, from start: Int) throws(PyTorchError) -> (value: Value, end: Int) {
        var stack: [Value] = []
        var memo: [Int: Value] = [:]
        var at = start
        var opcodeAt = 0

        func fail(_ reason: String) -> PyTorchError { .badPickle(file: file, offset: opcodeAt, reason: reason) }
        func take(_ n: Int) throws(PyTorchError) -> UnsafeRawBufferPointer {
            guard n >= 0, n <= pickle.count - at else { throw fail("truncated: \(n) bytes wanted, \(pickle.count - at) left") }
            defer { at += n }
            return UnsafeRawBufferPointer(rebasing: pickle[at..<(at + n)])
        }
        func uint(_ n: Int) throws(PyTorchError) -> Int {
            let raw = try take(n)
            var value: UInt64 = 0
            for i in (0..<n).reversed() { value = value << 8 | UInt64(raw[i]) }
            guard value <= UInt64(Int.max) else { throw fail("a length of \(value)") }
            return Int(value)
        }
        func text(_ n: Int) throws(PyTorchError) -> String {
            let raw = try take(n)
            guard let s = String(validating: raw, as: UTF8.self) else { throw fail("a string that is not UTF-8") }
            return s
        }
        func push(_ value: Value) throws(PyTorchError) {
            guard stack.count < Self.maxStack else { throw fail("more than \(Self.maxStack) items on the stack") }
            stack.append(value)
        }
        func pop() throws(PyTorchError) -> Value {
            guard let value = stack.popLast() else { throw fail("stack underflow") }
            return value
        }
        func popToMark() throws(PyTorchError) -> [Value] {
            guard let mark = stack.lastIndex(where: { if case .mark = $0 { true } else { false } }) else { throw fail("no mark on the stack") }
            let items = Array(stack[(mark + 1)...])
            stack.removeSubrange(mark...)
            return items
        }
        func remember(_ index: Int) throws(PyTorchError) {
            guard let top = stack.last else { throw fail("nothing to memoize") }
            guard memo[index] != nil || memo.count < Self.maxMemo else { throw fail("more than \(Self.maxMemo) memo entries") }
            memo[index] = top
        }
        func recall(_ index: Int) throws(PyTorchError) {
            guard let value = memo[index] else { throw fail("memo entry \(index) was never stored") }
            try push(value)
        }
        /// The depth of a container of `items`; each list or dictionary among them is now inside one.
        func contain(_ items: [Value], into target: AnyObject? = nil) throws(PyTorchError) -> Int {
            var deepest = 0
            for item in items {
                switch item {
                case .list(let box):
                    guard box !== target else { throw fail("a list put into itself") }
                    box.contained = true
                case .dict(let box):
                    guard box !== target else { throw fail("a dictionary put into itself") }
                    box.contained = true
                default: break
                }
                deepest = max(deepest, Self.depth(item))
            }
            guard deepest < Self.maxDepth else { throw fail("objects nested more than \(Self.maxDepth) deep") }
            return deepest + 1
        }
        func tuple(_ items: [Value]) throws(PyTorchError) -> Value { .tuple(items, depth: try contain(items)) }
        func global(_ name: String) throws(PyTorchError) -> Value {
            guard Self.allowedGlobals.contains(name) else { throw .forbiddenGlobal(file: file, offset: opcodeAt, global: name) }
            return .global(name)
        }

        while true {
            opcodeAt = at
            let op = try take(1)[0]
            switch op {
            case 0x80: _ = try take(1)                                   // PROTO
            case 0x95: _ = try take(8)                                   // FRAME
            case 0x2E:                                                   // STOP
                guard stack.count == 1 else { throw fail("\(stack.count) items on the stack at STOP") }
                return (stack[0], at)
            case 0x28: try push(.mark)                                   // MARK
            case 0x29: try push(.tuple([], depth: 1))                    // EMPTY_TUPLE
            case 0x5D: try push(.list(ListBox()))                        // EMPTY_LIST
            case 0x7D: try push(.dict(DictBox()))                        // EMPTY_DICT
            case 0x4E: try push(.none)                                   // NONE
            case 0x88: try push(.bool(true))                             // NEWTRUE
            case 0x89: try push(.bool(false))                            // NEWFALSE
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))   // BININT
            case 0x4B: try push(.int(try uint(1)))                       // BININT1
            case 0x4D: try push(.int(try uint(2)))                       // BININT2
            case 0x8A:                                                   // LONG1
                let n = try uint(1)
                guard n <= 8 else { throw fail("an integer of \(n) bytes") }
                let raw = try take(n)
                var value: UInt64 = 0
                for i in (0..<n).reversed() { value = value << 8 | UInt64(raw[i]) }
                if n > 0 && n < 8 && raw[n - 1] & 0x80 != 0 { value |= ~0 << (8 * UInt64(n)) }   // sign-extend
                try push(.int(Int(Int64(bitPattern: value))))
            case 0x47:                                                   // BINFLOAT, big-endian
                let raw = try take(8)
                var bits: UInt64 = 0
                for i in 0..<8 { bits = bits << 8 | UInt64(raw[i]) }
                try push(.float(Double(bitPattern: bits)))
            case 0x58: try push(.string(try text(try uint(4))))          // BINUNICODE
            case 0x8C: try push(.string(try text(try uint(1))))          // SHORT_BINUNICODE
            case 0x8D: try push(.string(try text(try uint(8))))          // BINUNICODE8
            case 0x55: try push(.string(try text(try uint(1))))          // SHORT_BINSTRING (protocol 2's str)
            case 0x54: try push(.string(try text(try uint(4))))          // BINSTRING
            case 0x43: let n = try uint(1); _ = try take(n); try push(.bytes(n))   // SHORT_BINBYTES
            case 0x42: let n = try uint(4); _ = try take(n); try push(.bytes(n))   // BINBYTES
            case 0x8E: let n = try uint(8); _ = try take(n); try push(.bytes(n))   // BINBYTES8
            case 0x74: try push(try tuple(try popToMark()))              // TUPLE
            case 0x85: let a = try pop(); try push(try tuple([a]))       // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); try push(try tuple([a, b]))                    // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try push(try tuple([a, b, c]))  // TUPLE3
            case 0x6C:                                                   // LIST
                let box = ListBox()
                box.items = try popToMark()
                box.depth = try contain(box.items)
                try push(.list(box))
            case 0x61, 0x65:                                             // APPEND, APPENDS
                let items = op == 0x61 ? [try pop()] : try popToMark()
                guard case .list(let box)? = stack.last else { throw fail("APPEND to something that is not a list") }
                guard !box.contained else { throw fail("APPEND to a list already inside another object") }
                box.depth = max(box.depth, try contain(items, into: box))
                box.items += items
            case 0x64, 0x73, 0x75:                                       // DICT, SETITEM, SETITEMS
                let flat: [Value]
                if op == 0x73 {
                    let value = try pop(), key = try pop()
                    flat = [key, value]
                } else {
                    flat = try popToMark()
                }
                guard flat.count % 2 == 0 else { throw fail("an odd number of items for a dictionary") }
                let box: DictBox
                if op == 0x64 {
                    box = DictBox()
                    try push(.dict(box))
                } else {
                    guard case .dict(let top)? = stack.last else { throw fail("SETITEM on something that is not a dictionary") }
                    guard !top.contained else { throw fail("SETITEM on a dictionary already inside another object") }
                    box = top
                }
                box.depth = max(box.depth, try contain(flat, into: box))
                for i in stride(from: 0, to: flat.count, by: 2) { box.items.append((flat[i], flat[i + 1])) }
            case 0x71: try remember(try uint(1))                         // BINPUT
            case 0x72: try remember(try uint(4))                         // LONG_BINPUT
            case 0x94: try remember(memo.count)                          // MEMOIZE
            case 0x68: try recall(try uint(1))                           // BINGET
            case 0x6A: try recall(try uint(4))                           // LONG_BINGET
            case 0x30: _ = try pop()                                     // POP
            case 0x31: _ = try popToMark()                               // POP_MARK
            case 0x32: guard let top = stack.last else { throw fail("DUP of nothing") }; try push(top)  // DUP
            case 0x63:                                                   // GLOBAL "module\nname\n"
                var parts: [String] = []
                for _ in 0..<2 {
                    guard let newline = pickle[at...].firstIndex(of: 0x0A), newline - at <= 256 else { throw fail("a GLOBAL without its newline") }
                    parts.append(try text(newline - at))
                    at += 1
                }
                try push(try global(parts.joined(separator: ".")))
            case 0x93:                                                   // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else { throw fail("STACK_GLOBAL without two strings") }
                try push(try global(module + "." + name))
            case 0x52, 0x81:                                             // REDUCE, NEWOBJ
                let arguments = try pop(), callable = try pop()
                guard case .global(let name) = callable, case .tuple(let args, _) = arguments else {
                    throw fail("REDUCE of something other than an allowed global and a tuple")
                }
                try push(try call(name, args, fail))
            case 0x62:                                                   // BUILD: state for an object already built
                _ = try pop()
                guard let top = stack.last else { throw fail("BUILD with nothing to build") }
                switch top {
                case .dict, .tensor: break                               // an OrderedDict's _metadata, a tensor's hooks: not needed
                default: throw fail("BUILD on something that is not a dictionary or a tensor")
                }
            case 0x51:                                                   // BINPERSID
                try push(try persistent(try pop(), fail))
            default:
                throw .unsupportedOpcode(file: file, offset: opcodeAt, opcode: op)
            }
        }
    }

    /// What an allowed global gives for `args`.
    private func call(_ name: String, _ args: [Value], _ fail: (String) -> PyTorchError) throws(PyTorchError) -> Value {
        switch name {
        case "collections.OrderedDict":
            guard args.isEmpty else { throw fail("OrderedDict with arguments") }
            return .dict(DictBox())
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                  let shape = ints(args[2]), let strides = ints(args[3]) else {
                throw fail("\(name) without (storage, offset, size, stride)")
            }
            return .tensor(Tensor(storage: storage, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = args.first, case .tensor = data else { throw fail("\(name) without a tensor") }
            return data
        default:
            // A storage class is only ever named inside a persistent id, never called.
            throw fail("\(name) called")
        }
    }

    /// `('storage', <storage class>, key, location, numel)`, and the legacy format's
    /// `(..., numel, None)` (its view metadata, always None since PyTorch 1.0).
    private func persistent(_ id: Value, _ fail: (String) -> PyTorchError) throws(PyTorchError) -> Value {
        if case .tuple(let parts, _) = id, parts.count == 6 {
            guard case .none = parts[5] else { throw fail("a legacy persistent id with view metadata") }
            return try persistent(.tuple(Array(parts.prefix(5)), depth: 1 + parts.prefix(5).map(Self.depth).max()!), fail)
        }
        guard case .tuple(let parts, _) = id, parts.count == 5, case .string("storage") = parts[0], case .global(let type) = parts[1],
              let dtype = Self.storageTypes[type], case .string(let key) = parts[2], case .int(let count) = parts[4], count >= 0 else {
            throw fail("a persistent id that is not ('storage', type, key, location, numel)")
        }
        return .storage(Storage(key: key, dtype: dtype, elementCount: count))
    }

    private func ints(_ value: Value) -> [Int]? {
        guard case .tuple(let items, _) = value else { return nil }
        var out: [Int] = []
        for item in items {
            guard case .int(let n) = item else { return nil }
            out.append(n)
        }
        return out
    }
}
