#!/usr/bin/env python3
"""PyTorch checkpoints made without torch, for the reader's bad-input checks: zips laid out as torch.save
lays them out (`<archive>/data.pkl`, `<archive>/data/<key>`, `<archive>/byteorder`), with pickles written
by Python's own pickle module against stand-in `torch` modules (so the opcodes are the ones torch.save
emits: GLOBAL torch._utils _rebuild_tensor_v2, persistent ids ('storage', torch.FloatStorage, key,
'cpu', numel)), and hostile ones: pickles that would run os.system, eval or subprocess, globals reached
through STACK_GLOBAL, memo and stack bombs, storages too small for their tensors, compressed entries.

`hostile_cases()` lists them: (file name, bytes, the PyTorchError case qkv must report, what must appear
in its message). Used by tools/tests/test_pytorch.py and written into the conformance corpus.
"""

import collections
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np


class _StandIns:
    """Modules named like torch's, holding objects named like torch's, so pickle writes their names."""

    def __init__(self):
        self.torch = types.ModuleType("torch")
        self.utils = types.ModuleType("torch._utils")
        self.torch._utils = self.utils

        def _rebuild_tensor_v2(*args):
            raise AssertionError("never called")
        _rebuild_tensor_v2.__module__ = "torch._utils"
        _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
        self.utils._rebuild_tensor_v2 = _rebuild_tensor_v2
        for name in ("FloatStorage", "HalfStorage", "BFloat16Storage", "LongStorage"):
            cls = type(name, (), {"__module__": "torch", "__qualname__": name})
            setattr(self.torch, name, cls)

    def __enter__(self):
        self.saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
        sys.modules["torch"], sys.modules["torch._utils"] = self.torch, self.utils
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Tensor:
    """Pickles as torch's tensors do: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""

    def __init__(self, standins, storage, offset, shape, strides):
        self.standins, self.storage, self.offset, self.shape, self.strides = standins, storage, offset, shape, strides

    def __reduce__(self):
        return (self.standins.utils._rebuild_tensor_v2,
                (self.storage, self.offset, tuple(self.shape), tuple(self.strides), False, collections.OrderedDict()))


class _Storage:
    def __init__(self, standins, key, numel, kind="FloatStorage"):
        self.key, self.numel, self.kind, self.standins = key, numel, kind, standins


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", getattr(obj.standins.torch, obj.kind), obj.key, "cpu", obj.numel)
        return None


class _LegacyPickler(_Pickler):
    """The legacy format's persistent ids: a sixth item, the view metadata, None."""
    def persistent_id(self, obj):
        pid = super().persistent_id(obj)
        return pid + (None,) if pid else None


def state_dict_pickle(entries, extra=None, protocol=2, pickler=_Pickler):
    """entries: [(name, key, numel, offset, shape, strides)] of f32 tensors -> data.pkl bytes."""
    with _StandIns() as s:
        state = collections.OrderedDict()
        for name, key, numel, offset, shape, strides in entries:
            state[name] = _Tensor(s, _Storage(s, key, numel), offset, shape, strides)
        if extra:
            state.update(extra)
        out = io.BytesIO()
        # fix_imports=False: Python 3's names (builtins, subprocess), not protocol 2's Python 2 aliases.
        pickler(out, protocol=protocol, fix_imports=False).dump(state)
        return out.getvalue()


def legacy_file(entries, storages, extra=None, version=1001, little_endian=True, trailing=b""):
    """torch.save's format before PyTorch 1.6 -> bytes: pickles of the magic number, the protocol version
    and the system facts, the state dict (entries as for state_dict_pickle), the sorted storage keys, then
    each storage as storages[key] = (element count written, data)."""
    out = [pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2), pickle.dumps(version, protocol=2),
           pickle.dumps({"protocol_version": 1001, "little_endian": little_endian,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2),
           state_dict_pickle(entries, extra, pickler=_LegacyPickler), pickle.dumps(sorted(storages), protocol=2)]
    for key in sorted(storages):
        count, data = storages[key]
        out.append(struct.pack("<q", count) + data)
    return b"".join(out) + trailing


def torch_zip(pickle_bytes, storages, compress=False, byteorder=b"little"):
    """A zip as torch.save writes it (entries stored, in its order) -> bytes."""
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", compression=method) as z:
        def put(name, data):
            # A fixed date, so the bytes (the conformance corpus keeps them) do not change from run to run.
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=method)
        put("archive/data.pkl", pickle_bytes)
        if byteorder is not None:
            put("archive/byteorder", byteorder)
        for key, data in storages.items():
            put("archive/data/%s" % key, data)
        put("archive/version", b"3\n")
    return out.getvalue()


def good_checkpoint():
    """One 2x3 f32 tensor 'w' (row-major) and one transposed view 'wt' of the same storage."""
    values = np.arange(6, dtype="<f4")
    pkl = state_dict_pickle([("w", "0", 6, 0, [2, 3], [3, 1]), ("wt", "0", 6, 0, [3, 2], [1, 3])])
    return torch_zip(pkl, {"0": values.tobytes()})


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def hostile_cases(marker):
    """[(name, bytes, error case, message fragment)]. `marker` is a path the hostile pickles would create
    if anything ran them."""
    import builtins
    import os
    import subprocess
    ok = np.zeros(4, dtype="<f4").tobytes()
    tensor = [("w", "0", 4, 0, [4], [1])]
    cases = []

    def add(name, pkl, case, fragment, storages=None, **zip_args):
        cases.append((name, torch_zip(pkl, storages if storages is not None else {"0": ok}, **zip_args), case, fragment))

    add("os-system.bin", state_dict_pickle(tensor, {"x": _Reduce(os.system, ("touch %s" % marker,))}),
        "forbiddenGlobal", "%s.system" % os.name)
    add("builtins-eval.bin", state_dict_pickle(tensor, {"x": _Reduce(builtins.eval, ("open(%r, 'w')" % marker,))}),
        "forbiddenGlobal", "builtins.eval")
    add("subprocess.bin", state_dict_pickle(tensor, {"x": _Reduce(subprocess.call, (["touch", marker],))}),
        "forbiddenGlobal", "subprocess.call")
    # Protocol 4 names globals with STACK_GLOBAL from two strings on the stack.
    add("stack-global-getattr.bin", state_dict_pickle(tensor, {"x": _Reduce(getattr, ("text", "upper"))}, protocol=4),
        "forbiddenGlobal", "builtins.getattr")
    # An allowed module with a disallowed name: the whole dotted name must be on the list.
    add("torch-utils-os.bin", b"\x80\x02ctorch._utils\nos\n.", "forbiddenGlobal", "torch._utils.os")
    add("memo-missing.bin", b"\x80\x02j\xff\xff\xff\x7f.", "badPickle", "never stored")
    add("stack-bomb.bin", b"\x80\x02" + b"(" * ((1 << 20) + 1) + b".", "badPickle", "on the stack")
    # 2^22 + 1 MEMOIZE of one list: the memo is bounded.
    add("memo-bomb.bin", b"\x80\x04]" + b"\x94" * ((1 << 22) + 1) + b".", "badPickle", "memo entries")
    # Nesting bombs: freeing a value nested 10^5 deep overflows the thread's stack, so depth is bounded (64).
    add("nested-lists.bin", b"\x80\x02" + b"]" * 1000 + b"a" * 999 + b".", "badPickle", "nested more than 64 deep")
    add("nested-tuples.bin", b"\x80\x02N" + b"\x85" * 1000 + b".", "badPickle", "nested more than 64 deep")
    # 2x10^5 deep (400 KB): what crashed the reader (a stack overflow freeing it) before depth was bounded.
    add("nesting-bomb.bin", b"\x80\x02" + b"]" * 200000 + b"a" * 199999 + b".", "badPickle", "nested more than 64 deep")
    # A list put into itself (a cycle), and one filled after it went into another (how a deep chain of
    # memoized lists would hide its depth).
    add("list-into-itself.bin", b"\x80\x02]q\x00h\x00a.", "badPickle", "a list put into itself")
    add("append-after-contained.bin", b"\x80\x02]q\x00]q\x01h\x00a0h\x00Na.", "badPickle", "already inside another object")
    add("truncated-pickle.bin", state_dict_pickle(tensor)[:-7], "badPickle", "truncated")
    add("unknown-opcode.bin", b"\x80\x02i.", "unsupportedOpcode", "0x69")
    add("offset-past-storage.bin", state_dict_pickle([("w", "0", 4, 2, [4], [1])]), "badTensor", "reaches element 5")
    add("storage-too-small.bin", state_dict_pickle([("w", "0", 8, 0, [8], [1])]), "badTensor", "holds 16 bytes")
    add("strides-overflow.bin", state_dict_pickle([("w", "0", 4, 0, [3, 1], [1 << 62, 1])]), "badTensor", "overflows")
    add("missing-storage.bin", state_dict_pickle([("w", "7", 4, 0, [4], [1])]), "missingEntry", "archive/data/7")
    add("not-a-dict.bin", pickle.dumps([1, 2, 3], protocol=2), "notAStateDict", "a list")
    add("compressed.bin", state_dict_pickle(tensor), "unsupportedEntry", "compressed", compress=True)
    add("big-endian.bin", state_dict_pickle(tensor), "notAStateDict", "'big'-endian", byteorder=b"big")
    # The legacy format (no zip): the same pickle rules, and each storage's count and bytes checked to the
    # file's last byte.
    legacy = [("legacy-os-system.bin", legacy_file(tensor, {"0": (4, ok)}, {"x": _Reduce(os.system, ("touch %s" % marker,))}),
               "forbiddenGlobal", "%s.system" % os.name),
              ("legacy-offset-past-storage.bin", legacy_file([("w", "0", 4, 2, [4], [1])], {"0": (4, ok)}), "badTensor", "reaches element 5"),
              ("legacy-storage-past-end.bin", legacy_file(tensor, {"0": (4, ok[:8])}), "notAStateDict", "runs past the end"),
              ("legacy-count-mismatch.bin", legacy_file(tensor, {"0": (5, ok + ok[:4])}), "notAStateDict", "holds 5 elements where"),
              ("legacy-trailing-bytes.bin", legacy_file(tensor, {"0": (4, ok)}, trailing=b"\0" * 3), "notAStateDict", "3 bytes after"),
              ("legacy-big-endian.bin", legacy_file(tensor, {"0": (4, ok)}, little_endian=False), "notAStateDict", "big-endian"),
              ("legacy-version.bin", legacy_file(tensor, {"0": (4, ok)}, version=1000), "notAStateDict", "protocol version"),
              ("legacy-unused-storage.bin", legacy_file(tensor, {"0": (4, ok), "1": (4, ok)}), "notAStateDict", "used by no tensor")]
    cases += legacy
    good = good_checkpoint()
    cases.append(("truncated-zip.bin", good[:len(good) // 2], "notAZip", "not a zip"))
    # The central directory points past the end of the file.
    bad = bytearray(good)
    end = bad.rfind(b"PK\x05\x06")
    struct.pack_into("<I", bad, end + 16, len(bad) + 100)
    cases.append(("directory-past-end.bin", bytes(bad), "badZip", "does not fit"))
    return cases


def main():
    """fixtures_pytorch.py DIR: writes the hostile and broken files into DIR (the fuzzer's seeds)."""
    out = sys.argv[1]
    import os
    os.makedirs(out, exist_ok=True)
    for name, data, _, _ in hostile_cases(os.path.join(out, "ran")):
        if len(data) <= 65536:
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
    with open(os.path.join(out, "good.bin"), "wb") as f:
        f.write(good_checkpoint())


if __name__ == "__main__":
    main()
