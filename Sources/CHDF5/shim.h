// libhdf5 (Debian's hdf5-serial, 1.10). Swift cannot import function-like macros: H5T_NATIVE_FLOAT,
// H5T_IEEE_F32LE, ... expand to `(H5open(), H5T_..._g)` and H5P_DEFAULT to a cast, so each one used by
// qkv gets a `static inline` getter here. Only Sources/QKVFormat/HDF5/HDF5Calls.swift calls these.
#include <hdf5.h>

static inline hid_t qkv_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t qkv_h5s_all(void) { return H5S_ALL; }
static inline hid_t qkv_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t qkv_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t qkv_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t qkv_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t qkv_h5p_file_create(void) { return H5P_FILE_CREATE; }

static inline hid_t qkv_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t qkv_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t qkv_h5t_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t qkv_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t qkv_h5t_std_i16le(void) { return H5T_STD_I16LE; }
static inline hid_t qkv_h5t_std_u16le(void) { return H5T_STD_U16LE; }
static inline hid_t qkv_h5t_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t qkv_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t qkv_h5t_c_s1(void) { return H5T_C_S1; }

/// The IEEE binary16 type exactly as h5py builds it for numpy float16, so both read each other's files.
static inline hid_t qkv_h5t_make_f16(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/// h5py's bool: an enum over a little-endian int8 with FALSE = 0 and TRUE = 1.
static inline hid_t qkv_h5t_make_bool(void) {
    hid_t t = H5Tenum_create(H5T_STD_I8LE);
    if (t < 0) return t;
    signed char no = 0, yes = 1;
    if (H5Tenum_insert(t, "FALSE", &no) < 0 || H5Tenum_insert(t, "TRUE", &yes) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/// A variable-length UTF-8 string type (h5py's `str`).
static inline hid_t qkv_h5t_make_vlen_utf8(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static inline size_t qkv_h5t_variable(void) { return H5T_VARIABLE; }

static inline unsigned qkv_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned qkv_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }

/// Stops libhdf5 printing its error stack to stderr: qkv turns failures into its own messages.
static inline void qkv_h5e_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static inline herr_t qkv_h5e_innermost_cb(unsigned n, const H5E_error2_t *err, void *data) {
    char *out = (char *)data;
    if (n == 0 && err && err->desc) {
        size_t i = 0;
        for (; i < 511 && err->desc[i]; i++) out[i] = err->desc[i];
        out[i] = 0;
    }
    return 0;
}

/// Copies the most specific message of the current error stack into `out` (512 bytes), "" if none.
static inline void qkv_h5e_innermost(char *out) {
    out[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, qkv_h5e_innermost_cb, out);
}
