/* The Arrow build of a batch's columns (mirrors batch._arrow_table's pa.array / cast for the values it can
 * decide): one column's buffers (arrow_column), or a whole table handed to pyarrow through the Arrow C data
 * interface (arrow_table). Included once by _speedups.c, after the ColumnBuffer. */

/* ------------------------------------------------------------------------------------------------------
 * Arrow buffers of one column (mirrors batch._arrow_table's pa.array / cast for the values it can decide)
 */

/* How a column's Python values become Arrow: text (three NUL checks: none, NUL in VARCHAR text, the JSON
 * escape \u0000 in SUPER text), number text to int64 or decimal128, Python ints to int64, bools, bytes. */
enum { A_STRING = 1, A_VARCHAR, A_SUPER, A_INT64_TEXT, A_DECIMAL_TEXT, A_INT64, A_BOOL, A_BINARY };

static int has_json_nul(const char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i + 6 <= n; i++) {
        if (p[i] == '\\' && memcmp(p + i, "\\u0000", 6) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Number text -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,4})? (DynamoDB spells 1000 as 1E+3) → its unscaled
 * value at `scale`, as Arrow's cast to decimal128(precision, scale) gives it; 0 (Arrow decides) when the
 * text is not of that form or the value needs more digits than 38, `precision`, or `scale` allows. */
static __int128 POW10[39]; /* 10**k, filled at import */

static int decimal_value(const char *p, Py_ssize_t n, long precision, long scale, __int128 *out) {
    Py_ssize_t i = 0;
    if (p == NULL) {
        return 0;
    }
    int negative = n > 0 && p[0] == '-', seen_digit = 0, seen_dot = 0;
    i += negative;
    __int128 v = 0;
    long frac = 0, significant = 0, exponent = 0;
    for (; i < n; i++) {
        char c = p[i];
        if (c == '.') {
            if (seen_dot || !seen_digit) {
                return 0;
            }
            seen_dot = 1;
            continue;
        }
        if ((c == 'e' || c == 'E') && seen_digit && !(seen_dot && frac == 0)) {
            Py_ssize_t j = i + 1;
            int minus = j < n && p[j] == '-';
            j += j < n && (p[j] == '-' || p[j] == '+');
            if (j >= n || n - j > 4) {
                return 0;
            }
            for (; j < n; j++) {
                if (p[j] < '0' || p[j] > '9') {
                    return 0;
                }
                exponent = exponent * 10 + (p[j] - '0');
            }
            exponent = minus ? -exponent : exponent;
            break;
        }
        if (c < '0' || c > '9') {
            return 0;
        }
        seen_digit = 1;
        frac += seen_dot;
        if (v == 0 && c == '0') {
            continue; /* leading zeros */
        }
        if (++significant > 38) {
            return 0; /* before the digit goes in: a 39th can overflow __int128, which C leaves undefined */
        }
        v = v * 10 + (c - '0');
    }
    if (!seen_digit || (seen_dot && frac == 0)) {
        return 0;
    }
    if (v == 0) {
        *out = 0;
        return exponent == 0; /* Arrow counts an exponent's digits even for zero (0E+99 is refused) */
    }
    long places = frac - exponent; /* digits after the point */
    if (places > scale || significant + (scale - places) > 38) {
        return 0;
    }
    v *= POW10[scale - places];
    if (v >= POW10[precision]) {
        return 0;
    }
    *out = negative ? -v : v;
    return 1;
}

static int int64_text(const char *p, Py_ssize_t n, long long *out) {
    Py_ssize_t i = 0;
    if (p == NULL || n == 0) {
        return 0;
    }
    int negative = p[0] == '-';
    i += negative;
    if (i >= n || n - i > 19) {
        return 0;
    }
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
        v = v * 10 + (unsigned long long)(p[i] - '0');
    }
    if (v > (negative ? 9223372036854775808ULL : 9223372036854775807ULL)) {
        return 0;
    }
    *out = negative ? (long long)(0 - v) : (long long)v;
    return 1;
}

/* The column's buffers from a ColumnBuffer alone (n rows; rows past the buffer's are null) into arrow_column's
 * validity bits, fixed-width part (offsets, values or value bits) and text data: 0, or -1 when the Python
 * path builds it (NUL in text, a number Arrow's cast must decide, memory). */
static int buffered_column(ColumnBuffer *cb, Py_ssize_t n, long kind, long precision, long scale, unsigned char *bits,
                           char *out, Buf *data, Py_ssize_t *nulls, Py_ssize_t *longest) {
    Py_ssize_t rows = cb->rows, bytes = (rows + 7) / 8, valid = 0;
    int text = kind == A_STRING || kind == A_VARCHAR || kind == A_SUPER || kind == A_BINARY;
    memcpy(bits, cb->validity.data, (size_t)bytes); /* bits past `rows` are zero in a ColumnBuffer */
    for (Py_ssize_t k = 0; k < bytes; k++) {
        valid += __builtin_popcount(bits[k]);
    }
    *nulls = n - valid;
    if (kind == A_BOOL) {
        memcpy(out, cb->data.data, (size_t)bytes);
        return 0;
    }
    if (kind == A_INT64) {
        memcpy(out, cb->data.data, (size_t)rows * 8);
        return 0;
    }
    int32_t *from = (int32_t *)cb->offsets.data;
    if (text) {
        Py_ssize_t size = from[rows];
        if ((kind == A_VARCHAR && memchr(cb->data.data, 0, (size_t)size) != NULL) ||
            (kind == A_SUPER && has_json_nul(cb->data.data, size))) {
            return -1; /* the Python path finds and moves these values */
        }
        memcpy(out, from, (size_t)(rows + 1) * 4);
        int32_t most = 0;
        for (Py_ssize_t i = 0; i < rows; i++) {
            most = from[i + 1] - from[i] > most ? from[i + 1] - from[i] : most;
        }
        *longest = most;
        int32_t *off = (int32_t *)out;
        for (Py_ssize_t i = rows + 1; i <= n; i++) {
            off[i] = (int32_t)size;
        }
        return buf_put(data, cb->data.data, size) < 0 ? -1 : 0;
    }
    for (Py_ssize_t i = 0; i < rows; i++) {
        if (bits[i >> 3] == 0) {
            i |= 7; /* eight nulls */
            continue;
        }
        if (!((bits[i >> 3] >> (i & 7)) & 1)) {
            continue;
        }
        const char *p = cb->data.data + from[i];
        Py_ssize_t size = from[i + 1] - from[i];
        if (kind == A_INT64_TEXT) {
            long long x;
            if (!int64_text(p, size, &x)) {
                return -1;
            }
            memcpy(out + i * 8, &x, 8);
        } else {
            __int128 x;
            if (!decimal_value(p, size, precision, scale, &x)) {
                return -1;
            }
            memcpy(out + i * 16, &x, 16);
        }
    }
    return 0;
}

/* One column's Arrow buffers, in Python's raw memory domain: the Arrow C data interface may release them on
 * any thread, without the GIL, and tracemalloc still counts them. */
typedef struct {
    unsigned char *validity;
    char *fixed; /* offsets (text), values, or value bits */
    char *data;  /* text and binary */
    Py_ssize_t fixed_size, data_size, nulls;
    Py_ssize_t longest; /* the longest value's bytes (text and binary; 0 when every value is null) */
    int text;
} Column;

static void column_free(Column *c) {
    PyMem_RawFree(c->validity);
    PyMem_RawFree(c->fixed);
    PyMem_RawFree(c->data);
    c->validity = NULL;
    c->fixed = c->data = NULL;
}

/* Build a column whose first len(values) rows are `values` (or, where it holds one, the buffer's value)
 * and the rest null: 0 built into `c`; 1 when the Python path must build it (a value of another type, text
 * that is not valid Unicode or holds NUL, numbers to parse another way, 2 GiB of text); -1 error (set).
 * One pass: each value is read once (on a large batch, reading the values is what costs). */
static int build_column(PyObject *values, Py_ssize_t n, long kind, long precision, long scale, ColumnBuffer *cb,
                        Column *c) {
    memset(c, 0, sizeof(*c));
    Py_ssize_t len = PyList_GET_SIZE(values);
    if (n < 0 || n > INT32_MAX || len > n || precision > 38 || scale < 0 || scale > precision || kind < A_STRING ||
        kind > A_BINARY) {
        return 1;
    }
    int text = kind == A_STRING || kind == A_VARCHAR || kind == A_SUPER || kind == A_BINARY;
    if (cb != NULL && cb->rows > 0) {
        int storage = kind == A_BINARY ? CB_BYTES : kind == A_BOOL ? CB_BOOL : kind == A_INT64 ? CB_INT64 : CB_TEXT;
        if (cb->storage != storage || cb->rows > n) {
            return 1; /* the Python path moves the buffer's values into the list and builds from there */
        }
    } else {
        cb = NULL;
    }
    Py_ssize_t width = kind == A_DECIMAL_TEXT ? 16 : (kind == A_INT64 || kind == A_INT64_TEXT) ? 8 : 0;
    c->text = text;
    c->fixed_size = text ? (n + 1) * 4 : kind == A_BOOL ? (n + 7) / 8 : n * width;
    c->validity = PyMem_RawCalloc((size_t)((n + 7) / 8) + 1, 1);
    c->fixed = PyMem_RawCalloc((size_t)c->fixed_size + 1, 1);
    Buf data = {NULL, 0, 0, 0};
    if (c->validity == NULL || c->fixed == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    unsigned char *bits = c->validity;
    char *out = c->fixed;
    int32_t *off = (int32_t *)out;
    Py_ssize_t nulls = 0;
    if (cb != NULL && len == 0) {
        /* Every value is the buffer's (the common case): its buffers are the column's, read in one pass. */
        if (buffered_column(cb, n, kind, precision, scale, bits, out, &data, &nulls, &c->longest) < 0) {
            if (PyErr_Occurred()) {
                goto error;
            }
            goto fallback;
        }
        goto built;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = i < len ? PyList_GET_ITEM(values, i) : Py_None;
        /* A row's value is the buffer's (as staged in C) or the list's (as staged in Python), never both. */
        const char *staged = NULL;
        Py_ssize_t staged_size = 0;
        if (cb != NULL && cb_valid(cb, i)) {
            if (v != Py_None) {
                goto fallback;
            }
            if (cb->storage == CB_BOOL) {
                v = ((((unsigned char *)cb->data.data)[i >> 3] >> (i & 7)) & 1) ? Py_True : Py_False;
            } else if (cb->storage == CB_INT64) {
                staged = cb->data.data + i * 8;
                v = NULL;
            } else {
                int32_t *boff = (int32_t *)cb->offsets.data;
                staged = cb->data.data + boff[i];
                staged_size = boff[i + 1] - boff[i];
                v = NULL;
            }
        } else if (v == Py_None) {
            nulls++;
            if (text) {
                off[i + 1] = (int32_t)data.len;
            }
            continue;
        }
        bits[i >> 3] |= (unsigned char)(1u << (i & 7));
        if (text) {
            const char *p = staged;
            Py_ssize_t size = staged_size;
            if (v == NULL) {
                if (kind == A_VARCHAR && memchr(p, 0, (size_t)size) != NULL) {
                    goto fallback;
                }
                if (kind == A_SUPER && has_json_nul(p, size)) {
                    goto fallback;
                }
            } else if (kind == A_BINARY) {
                if (!PyBytes_CheckExact(v)) {
                    goto fallback;
                }
                p = PyBytes_AS_STRING(v);
                size = PyBytes_GET_SIZE(v);
            } else {
                if (!PyUnicode_CheckExact(v) || (p = utf8_of(v, &size)) == NULL) {
                    goto fallback;
                }
                if ((kind == A_VARCHAR && memchr(p, 0, (size_t)size) != NULL) ||
                    (kind == A_SUPER && has_json_nul(p, size))) {
                    goto fallback; /* the Python path finds and moves these values */
                }
            }
            if (size > INT32_MAX - data.len) {
                goto fallback;
            }
            if (buf_put(&data, p, size) < 0) {
                goto error;
            }
            c->longest = size > c->longest ? size : c->longest;
            off[i + 1] = (int32_t)data.len;
        } else if (kind == A_BOOL) {
            if (v != Py_True && v != Py_False) {
                goto fallback;
            }
            if (v == Py_True) {
                out[i >> 3] |= (char)(1u << (i & 7));
            }
        } else if (kind == A_INT64) {
            if (v == NULL) {
                memcpy(out + i * 8, staged, 8);
                continue;
            }
            int overflow = 0;
            long long x = PyLong_CheckExact(v) ? PyLong_AsLongLongAndOverflow(v, &overflow) : -1;
            if (!PyLong_CheckExact(v) || overflow || (x == -1 && PyErr_Occurred())) {
                PyErr_Clear();
                goto fallback;
            }
            memcpy(out + i * 8, &x, 8);
        } else if (kind == A_INT64_TEXT) {
            long long x;
            Py_ssize_t size = staged_size;
            const char *p = v == NULL ? staged : ascii_text(v, &size);
            if (!int64_text(p, size, &x)) {
                goto fallback;
            }
            memcpy(out + i * 8, &x, 8);
        } else {
            __int128 x;
            Py_ssize_t size = staged_size;
            const char *p = v == NULL ? staged : ascii_text(v, &size);
            if (!decimal_value(p, size, precision, scale, &x)) {
                goto fallback;
            }
            memcpy(out + i * 16, &x, 16); /* little-endian two's complement, as Arrow lays it out */
        }
    }
built:
    c->nulls = nulls;
    if (text) {
        c->data_size = data.len;
        c->data = PyMem_RawMalloc((size_t)data.len + 1);
        if (c->data == NULL) {
            PyErr_NoMemory();
            goto error;
        }
        if (data.len) {
            memcpy(c->data, data.data, (size_t)data.len);
        }
    }
    PyMem_Free(data.data);
    return 0;
fallback:
    PyMem_Free(data.data);
    column_free(c);
    return 1;
error:
    PyMem_Free(data.data);
    column_free(c);
    return -1;
}

static int column_args(PyObject *const *args, PyObject **values, Py_ssize_t *n, long *kind, long *precision,
                       long *scale, ColumnBuffer **cb, PyObject *staged) {
    if (!PyList_CheckExact(args[0]) || (staged != Py_None && !Py_IS_TYPE(staged, &ColumnBufferType))) {
        PyErr_SetString(PyExc_TypeError, "(values: list, n, kind, precision, scale, buffer=None)");
        return -1;
    }
    *values = args[0];
    *cb = staged == Py_None ? NULL : (ColumnBuffer *)staged;
    *n = PyLong_AsSsize_t(args[1]);
    *kind = PyLong_AsLong(args[2]);
    *precision = PyLong_AsLong(args[3]);
    *scale = PyLong_AsLong(args[4]);
    return PyErr_Occurred() ? -1 : 0;
}

/* arrow_column(values, n, kind, precision, scale, buffer=None) -> (null_count, buffers) | None: the Arrow
 * buffers (validity or None, then offsets and data, or data) of one column, or None when the Python path
 * must build it. */
static PyObject *arrow_column(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "arrow_column(values: list, n, kind, precision, scale, buffer=None)");
        return NULL;
    }
    PyObject *values;
    Py_ssize_t n;
    long kind, precision, scale;
    ColumnBuffer *cb;
    if (column_args(args, &values, &n, &kind, &precision, &scale, &cb, nargs == 6 ? args[5] : Py_None) < 0) {
        return NULL;
    }
    Column c;
    int rc = build_column(values, n, kind, precision, scale, cb, &c);
    if (rc != 0) {
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *validity = c.nulls ? PyBytes_FromStringAndSize((char *)c.validity, (n + 7) / 8) : Py_NewRef(Py_None);
    PyObject *fixed = PyBytes_FromStringAndSize(c.fixed, c.fixed_size);
    PyObject *data = c.text ? PyBytes_FromStringAndSize(c.data, c.data_size) : NULL;
    PyObject *result = NULL;
    if (validity != NULL && fixed != NULL && (data != NULL || !c.text)) {
        PyObject *buffers = c.text ? PyTuple_Pack(3, validity, fixed, data) : PyTuple_Pack(2, validity, fixed);
        if (buffers != NULL) {
            result = Py_BuildValue("(nN)", c.nulls, buffers);
        }
    }
    Py_XDECREF(validity);
    Py_XDECREF(fixed);
    Py_XDECREF(data);
    column_free(&c);
    return result;
}

/* The Arrow C data interface's array (https://arrow.apache.org/docs/format/CDataInterface.html). */
struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

/* A child owns its Column (private_data) and its buffers array; the parent owns its children. Neither
 * touches a Python object, so pyarrow may release them on any thread. */
static void release_child(struct ArrowArray *a) {
    Column *c = a->private_data;
    column_free(c);
    PyMem_RawFree(c);
    PyMem_RawFree((void *)a->buffers);
    a->release = NULL;
}

static void release_parent(struct ArrowArray *a) {
    for (int64_t i = 0; i < a->n_children; i++) {
        struct ArrowArray *child = a->children[i];
        if (child != NULL) {
            if (child->release != NULL) {
                child->release(child);
            }
            PyMem_RawFree(child);
        }
    }
    PyMem_RawFree(a->children);
    PyMem_RawFree((void *)a->buffers);
    a->release = NULL;
}

static void release_capsule(PyObject *capsule) {
    struct ArrowArray *a = PyCapsule_GetPointer(capsule, "arrow_array");
    if (a != NULL) {
        if (a->release != NULL) {
            a->release(a); /* never imported */
        }
        PyMem_RawFree(a);
    } else {
        PyErr_Clear();
    }
}

/* arrow_table(columns, n) -> (capsule, longest, address) | None: a whole table's columns, each (values, kind,
 * precision, scale, buffer) as arrow_column takes them, built as one struct array of n rows and handed over
 * as the Arrow PyCapsule interface's "arrow_array" (pyarrow imports it with the table's schema, without a
 * Python call per column), with each column's longest value in bytes (0 for a column that is not text or
 * binary, or all null) and the address of the capsule's ArrowArray; None when a column must be built the
 * Python path's way. An import moves the array out (its release set to NULL); the capsule, freed after,
 * then frees only the struct. */
static PyObject *arrow_table(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "arrow_table(columns: list, n)");
        return NULL;
    }
    PyObject *columns = args[0];
    Py_ssize_t n = PyLong_AsSsize_t(args[1]), count = PyList_GET_SIZE(columns);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    struct ArrowArray *parent = PyMem_RawCalloc(1, sizeof(*parent));
    if (parent == NULL) {
        return PyErr_NoMemory();
    }
    parent->length = n;
    parent->n_buffers = 1;
    parent->n_children = count;
    parent->buffers = PyMem_RawCalloc(1, sizeof(void *));
    parent->children = PyMem_RawCalloc((size_t)count + 1, sizeof(struct ArrowArray *));
    parent->release = release_parent;
    int rc = parent->buffers == NULL || parent->children == NULL ? -1 : 0;
    if (rc < 0) {
        PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count && rc == 0; i++) {
        PyObject *spec = PyList_GET_ITEM(columns, i);
        PyObject *values;
        Py_ssize_t rows;
        long kind, precision, scale;
        ColumnBuffer *cb;
        if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) != 5) {
            PyErr_SetString(PyExc_TypeError, "arrow_table: a column is (values, kind, precision, scale, buffer)");
            rc = -1;
            break;
        }
        PyObject *column_argv[5] = {PyTuple_GET_ITEM(spec, 0), args[1], PyTuple_GET_ITEM(spec, 1),
                                    PyTuple_GET_ITEM(spec, 2), PyTuple_GET_ITEM(spec, 3)};
        if (column_args(column_argv, &values, &rows, &kind, &precision, &scale, &cb, PyTuple_GET_ITEM(spec, 4)) < 0) {
            rc = -1;
            break;
        }
        struct ArrowArray *child = PyMem_RawCalloc(1, sizeof(*child));
        Column *c = PyMem_RawCalloc(1, sizeof(*c));
        const void **buffers = PyMem_RawCalloc(3, sizeof(void *));
        if (child == NULL || c == NULL || buffers == NULL) {
            PyMem_RawFree(child);
            PyMem_RawFree(c);
            PyMem_RawFree((void *)buffers);
            PyErr_NoMemory();
            rc = -1;
            break;
        }
        rc = build_column(values, n, kind, precision, scale, cb, c);
        if (rc != 0) {
            PyMem_RawFree(child);
            PyMem_RawFree(c);
            PyMem_RawFree((void *)buffers);
            break;
        }
        buffers[0] = c->validity;
        buffers[1] = c->fixed;
        buffers[2] = c->data;
        child->length = n;
        child->null_count = c->nulls;
        child->n_buffers = c->text ? 3 : 2;
        child->buffers = buffers;
        child->release = release_child;
        child->private_data = c;
        parent->children[i] = child;
    }
    if (rc != 0) {
        release_parent(parent);
        PyMem_RawFree(parent);
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    }
    /* Each column's longest value in bytes, read here so the metadata needs no pass over the built columns. */
    PyObject *longest = PyTuple_New(count);
    for (Py_ssize_t i = 0; longest != NULL && i < count; i++) {
        PyObject *size = PyLong_FromSsize_t(((Column *)parent->children[i]->private_data)->longest);
        if (size == NULL) {
            Py_CLEAR(longest);
            break;
        }
        PyTuple_SET_ITEM(longest, i, size);
    }
    PyObject *capsule = longest == NULL ? NULL : PyCapsule_New(parent, "arrow_array", release_capsule);
    if (capsule == NULL) {
        Py_XDECREF(longest);
        release_parent(parent);
        PyMem_RawFree(parent);
        return NULL;
    }
    /* The array's address too: pyarrow can import it from there with a schema it already holds
     * (RecordBatch._import_from_c), without reading the schema from C again. */
    PyObject *address = PyLong_FromVoidPtr(parent);
    PyObject *built = address == NULL ? NULL : PyTuple_Pack(3, capsule, longest, address);
    Py_XDECREF(address);
    Py_DECREF(capsule);
    Py_DECREF(longest);
    return built;
}
