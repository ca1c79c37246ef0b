"""h5py-only helpers shared by the tests: read a file in the qkv HDF5 layout
(Specs/hdf5-layout.md) into plain Python values, independently of qkv and of
qkv_numpy.

Metadata is normalised to {"section.name": (schema_type, value)} with
value a bool, int, float, str, or a tuple for arrays, so that metadata read
from HDF5 and from .qkv compare with ==, and pytest prints a readable diff.
"""

import h5py
import numpy as np

SECTIONS = ("config", "tokenizer", "provenance", "user")

# Numpy dtype of a metadata array dataset -> schema type.
ARRAY_TYPES = {np.dtype("<i4"): "int32[]", np.dtype("<i8"): "int64[]",
               np.dtype("<f4"): "float32[]", np.dtype("<f8"): "float64[]"}

# Storage numpy dtype of a tensor dataset -> dtype name (u16 needs the
# dtype="bf16" attribute to be a model tensor).
TENSOR_TYPES = {np.dtype("<f4"): "f32", np.dtype("<f2"): "f16", np.dtype("<u2"): "bf16",
                np.dtype("<f8"): "f64", np.dtype("i1"): "i8", np.dtype("u1"): "u8",
                np.dtype("<i2"): "i16", np.dtype("<i4"): "i32", np.dtype("<i8"): "i64"}


def attr_hdf5_type(obj, name):
    """Describe the HDF5 type of attribute `name` exactly, for checking the
    types the layout says are written:
        ("bool",)            8-bit enum {FALSE = 0, TRUE = 1}
        ("int", size, signed, little_endian)
        ("float", size, little_endian)
        ("string", variable_length, encoding)
    """
    t = obj.attrs.get_id(name).get_type()
    cls = t.get_class()
    if cls == h5py.h5t.ENUM:
        members = {t.get_member_name(i): t.get_member_value(i) for i in range(t.get_nmembers())}
        base = t.get_super()
        if members == {b"FALSE": 0, b"TRUE": 1} and base.get_size() == 1:
            return ("bool",)
        return ("enum", members)
    if cls == h5py.h5t.INTEGER:
        return ("int", t.get_size(), t.get_sign() == h5py.h5t.SGN_2,
                t.get_order() == h5py.h5t.ORDER_LE)
    if cls == h5py.h5t.FLOAT:
        return ("float", t.get_size(), t.get_order() == h5py.h5t.ORDER_LE)
    if cls == h5py.h5t.STRING:
        encoding = "utf-8" if t.get_cset() == h5py.h5t.CSET_UTF8 else "ascii"
        return ("string", t.is_variable_str(), encoding)
    return ("other", cls)


# The exact HDF5 types the layout says a writer uses for scalar values.
WRITTEN_ATTR_TYPES = {
    "bool": ("bool",),
    "int": ("int", 8, True, True),
    "float": ("float", 8, True),
    "string": ("string", True, "utf-8"),
}


def scalar_attr(obj, name):
    """(schema_type, value) of a metadata attribute."""
    kind = attr_hdf5_type(obj, name)[0]
    value = obj.attrs[name]
    if kind == "bool":
        return ("bool", bool(value))
    if kind == "int":
        return ("int", int(value))
    if kind == "float":
        return ("float", float(value))
    if kind == "string":
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        return ("string", str(value))
    raise AssertionError("attribute %s/%s has unexpected HDF5 type %r"
                         % (obj.name, name, attr_hdf5_type(obj, name)))


def array_dataset(ds):
    """(schema_type, tuple) of a metadata array dataset."""
    assert ds.ndim == 1, "metadata dataset %s is not one-dimensional" % ds.name
    string_info = h5py.check_string_dtype(ds.dtype)
    if string_info is not None:
        return ("string[]", tuple(ds.asstr()[()].tolist()))
    kind = ARRAY_TYPES.get(ds.dtype)
    assert kind is not None, "metadata dataset %s has type %s" % (ds.name, ds.dtype)
    return (kind, tuple(ds[()].tolist()))


def h5_metadata(f):
    """All metadata of an open file: {"section.name": (schema_type, value)}."""
    out = {}
    for section in SECTIONS:
        if section not in f:
            continue
        group = f[section]
        for name in group.attrs:
            out[section + "." + name] = scalar_attr(group, name)
        for name, ds in group.items():
            assert isinstance(ds, h5py.Dataset), "%s/%s is not a dataset" % (section, name)
            out[section + "." + name] = array_dataset(ds)
    return out


def qkv_metadata(metadata):
    """Normalise qkv_numpy's metadata dict the same way as h5_metadata."""
    out = {}
    for key, value in metadata.items():
        if isinstance(value, bool):
            out[key] = ("bool", value)
        elif isinstance(value, int):
            out[key] = ("int", value)
        elif isinstance(value, float):
            out[key] = ("float", value)
        elif isinstance(value, str):
            out[key] = ("string", value)
        elif isinstance(value, list):
            out[key] = ("string[]", tuple(value))
        else:
            out[key] = (ARRAY_TYPES[value.dtype], tuple(value.tolist()))
    return out


def section(metadata, name):
    """The entries of one section of a normalised metadata dict."""
    return {k: v for k, v in metadata.items() if k.split(".", 1)[0] == name}


def plain_config(metadata):
    """{"head_count": 4, ...} from a normalised metadata dict."""
    return {k.split(".", 1)[1]: v for k, (_, v) in section(metadata, "config").items()}


def tensor_paths(f):
    """Paths of every dataset outside the metadata sections, in visit order."""
    paths = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/", 1)[0] not in SECTIONS:
            paths.append(name)
    f.visititems(visit)
    return paths


def tensor_dtype(ds):
    """The dtype name of a tensor dataset, checking its `dtype` attribute
    agrees with the HDF5 type (and is present for bf16)."""
    name = TENSOR_TYPES.get(ds.dtype)
    attr = ds.attrs.get("dtype")
    if isinstance(attr, bytes):
        attr = attr.decode()
    if name == "bf16":
        assert attr == "bf16", "%s is u16 without dtype=\"bf16\"" % ds.name
    elif name is None:
        raise AssertionError("%s has unexpected type %s" % (ds.name, ds.dtype))
    if attr is not None:
        assert attr == name, "%s: dtype attribute %r but HDF5 type %s" % (ds.name, attr, ds.dtype)
    return name


def h5_tensors(f):
    """{name: (dtype_name, numpy array as stored)} of every tensor."""
    return {p: (tensor_dtype(f[p]), f[p][()]) for p in tensor_paths(f)}


def bf16_to_f32(bits):
    """Exact widening of bfloat16 bits to float32."""
    return (np.asarray(bits, dtype="<u2").astype("<u4") << np.uint32(16)).view("<f4")
