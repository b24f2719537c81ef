/* ColumnBuffer: the values the C fast path stages for one column of a batch, kept as Arrow lays them out
 * (validity bits, then int32 offsets and the bytes of text or binary, or the bits of booleans) instead of in
 * the column's Python list. Included once by _speedups.c, after Buf and utf8_of.
 *
 * A column's row r holds the buffer's value when the buffer has one there, else the list's (None or
 * missing: no value). A row is staged once, by C or by the Python path, so at most one of the two holds a
 * value for it. The values are written while the record is in cache, and the Arrow build (arrow_column)
 * copies them without reading a Python object again; the Python path never reads a buffer: anything that
 * needs the column as Python values (a fallback build, rows dropped, a value moved to _overflow) first
 * moves the buffer's values into the list (move_to), which empties the buffer.
 */

enum { CB_TEXT = 1, CB_BOOL, CB_BYTES, CB_INT64 };

typedef struct {
    PyObject_HEAD
    int storage;     /* CB_*: str as UTF-8, bool, bytes, or int64 */
    Py_ssize_t rows; /* rows 0..rows-1 are covered (a value or null); later rows are null */
    Buf validity;    /* one bit a row */
    Buf offsets;     /* int32, rows + 1 of them (text and bytes) */
    Buf data;        /* the bytes (text, bytes), one bit a row (bool), or 8 bytes a row (int64) */
} ColumnBuffer;

static PyTypeObject ColumnBufferType;

static int cb_valid(ColumnBuffer *cb, Py_ssize_t row) {
    return row < cb->rows && (((unsigned char *)cb->validity.data)[row >> 3] >> (row & 7)) & 1;
}

/* Cover rows up to `rows` (exclusive), nulls for the new ones: zero bits, repeated offsets. */
static int cb_cover(ColumnBuffer *cb, Py_ssize_t rows) {
    Py_ssize_t bytes = (rows + 7) / 8;
    if (bytes > cb->validity.len) {
        Py_ssize_t extra = bytes - cb->validity.len;
        if (buf_reserve(&cb->validity, extra) < 0 ||
            (cb->storage == CB_BOOL && buf_reserve(&cb->data, bytes - cb->data.len) < 0)) {
            return -1;
        }
        memset(cb->validity.data + cb->validity.len, 0, (size_t)extra);
        cb->validity.len = bytes;
        if (cb->storage == CB_BOOL) {
            memset(cb->data.data + cb->data.len, 0, (size_t)(bytes - cb->data.len));
            cb->data.len = bytes;
        }
    }
    if (cb->storage == CB_INT64) {
        if (buf_reserve(&cb->data, rows * 8 - cb->data.len) < 0) {
            return -1;
        }
        memset(cb->data.data + cb->data.len, 0, (size_t)(rows * 8 - cb->data.len));
        cb->data.len = rows * 8;
    } else if (cb->storage != CB_BOOL) {
        if (buf_reserve(&cb->offsets, (rows + 1) * 4 - cb->offsets.len) < 0) {
            return -1;
        }
        int32_t *off = (int32_t *)cb->offsets.data;
        for (Py_ssize_t r = cb->rows + 1; r <= rows; r++) {
            off[r] = (int32_t)cb->data.len;
        }
        cb->offsets.len = (rows + 1) * 4;
    }
    cb->rows = rows;
    return 0;
}

static void cb_set_valid(ColumnBuffer *cb, Py_ssize_t row) {
    ((unsigned char *)cb->validity.data)[row >> 3] |= (unsigned char)(1u << (row & 7));
}

/* Put a value C made as row `row` (no row at or after it yet): int64, or text/bytes. 1, or -1 (error set). */
static int cb_put_int64(ColumnBuffer *cb, Py_ssize_t row, long long x) {
    if (cb->storage != CB_INT64 || row < cb->rows) {
        PyErr_SetString(PyExc_RuntimeError, "ColumnBuffer: not an int64 buffer, or the row is taken");
        return -1;
    }
    if (cb_cover(cb, row + 1) < 0) {
        return -1;
    }
    memcpy(cb->data.data + row * 8, &x, 8);
    cb_set_valid(cb, row);
    return 1;
}

static int cb_put_bytes(ColumnBuffer *cb, Py_ssize_t row, const char *p, Py_ssize_t n) {
    if (cb->storage != CB_TEXT || row < cb->rows || n > INT32_MAX - cb->data.len) {
        PyErr_SetString(PyExc_RuntimeError, "ColumnBuffer: not a text buffer, the row is taken, or it is full");
        return -1;
    }
    if (cb_cover(cb, row + 1) < 0 || buf_put(&cb->data, p, n) < 0) {
        return -1;
    }
    ((int32_t *)cb->offsets.data)[row + 1] = (int32_t)cb->data.len;
    cb_set_valid(cb, row);
    return 1;
}

/* Put `value` as row `row` (no row at or after it yet). 1 put; 0 not a value this buffer holds (the caller
 * appends it to the list instead); -1 error (set). */
static int cb_put(ColumnBuffer *cb, Py_ssize_t row, PyObject *value) {
    const char *p = NULL;
    Py_ssize_t n = 0;
    if (row < cb->rows) {
        return 0;
    }
    if (cb->storage == CB_TEXT) {
        if (!PyUnicode_CheckExact(value) || (p = utf8_of(value, &n)) == NULL) {
            return 0; /* a lone surrogate: the list keeps it, and the build refuses it as the Python path does */
        }
    } else if (cb->storage == CB_BYTES) {
        if (!PyBytes_CheckExact(value)) {
            return 0;
        }
        p = PyBytes_AS_STRING(value);
        n = PyBytes_GET_SIZE(value);
    } else if (cb->storage == CB_INT64) {
        int overflow = 0;
        long long x = PyLong_CheckExact(value) ? PyLong_AsLongLongAndOverflow(value, &overflow) : -1;
        if (!PyLong_CheckExact(value) || overflow || (x == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        return cb_put_int64(cb, row, x);
    } else if (value != Py_True && value != Py_False) {
        return 0;
    }
    if (p != NULL && n > INT32_MAX - cb->data.len) {
        return 0; /* past Arrow's 2 GiB of one string array: the Python path's build decides */
    }
    if (cb_cover(cb, row + 1) < 0) {
        return -1;
    }
    ((unsigned char *)cb->validity.data)[row >> 3] |= (unsigned char)(1u << (row & 7));
    if (cb->storage == CB_BOOL) {
        if (value == Py_True) {
            ((unsigned char *)cb->data.data)[row >> 3] |= (unsigned char)(1u << (row & 7));
        }
        return 1;
    }
    if (buf_put(&cb->data, p, n) < 0) {
        return -1;
    }
    ((int32_t *)cb->offsets.data)[row + 1] = (int32_t)cb->data.len;
    return 1;
}

/* Forget rows from `row` on (a record that falls back is cut back out). */
static void cb_truncate(ColumnBuffer *cb, Py_ssize_t row) {
    if (row < 0 || row >= cb->rows) {
        return;
    }
    unsigned char *bits = (unsigned char *)cb->validity.data;
    for (Py_ssize_t r = row; r < cb->rows && (r & 7); r++) {
        bits[r >> 3] &= (unsigned char)~(1u << (r & 7));
        if (cb->storage == CB_BOOL) {
            ((unsigned char *)cb->data.data)[r >> 3] &= (unsigned char)~(1u << (r & 7));
        }
    }
    cb->validity.len = (row + 7) / 8;
    if (cb->storage == CB_BOOL) {
        cb->data.len = cb->validity.len;
    } else if (cb->storage == CB_INT64) {
        cb->data.len = row * 8;
    } else {
        cb->data.len = ((int32_t *)cb->offsets.data)[row];
        cb->offsets.len = (row + 1) * 4;
    }
    cb->rows = row;
}

/* The Python value of a row the buffer holds, as it was staged. */
static PyObject *cb_value(ColumnBuffer *cb, Py_ssize_t row) {
    if (cb->storage == CB_BOOL) {
        return Py_NewRef(((((unsigned char *)cb->data.data)[row >> 3] >> (row & 7)) & 1) ? Py_True : Py_False);
    }
    if (cb->storage == CB_INT64) {
        long long x;
        memcpy(&x, cb->data.data + row * 8, 8);
        return PyLong_FromLongLong(x);
    }
    int32_t *off = (int32_t *)cb->offsets.data;
    const char *p = cb->data.data + off[row];
    Py_ssize_t n = off[row + 1] - off[row];
    return cb->storage == CB_TEXT ? PyUnicode_DecodeUTF8(p, n, "strict") : PyBytes_FromStringAndSize(p, n);
}

static int pad_nones(PyObject *values, Py_ssize_t row);

static PyObject *cb_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    int storage;
    if (!PyArg_ParseTuple(args, "i:ColumnBuffer", &storage)) {
        return NULL;
    }
    if (storage < CB_TEXT || storage > CB_INT64) {
        PyErr_SetString(PyExc_ValueError, "ColumnBuffer(storage): 1 text, 2 bool, 3 bytes, 4 int64");
        return NULL;
    }
    ColumnBuffer *cb = (ColumnBuffer *)type->tp_alloc(type, 0);
    if (cb != NULL) {
        cb->storage = storage;
        /* Text and bytes start with offset 0 and a data buffer, so that no pointer into them is NULL. */
        int text = storage == CB_TEXT || storage == CB_BYTES;
        if (text && buf_reserve(&cb->offsets, 4) == 0 && buf_reserve(&cb->data, 64) == 0) {
            memset(cb->offsets.data, 0, 4);
            cb->offsets.len = 4;
        } else if (text) {
            Py_DECREF(cb);
            return NULL;
        }
    }
    return (PyObject *)cb;
}

static void cb_dealloc(ColumnBuffer *cb) {
    PyMem_Free(cb->validity.data);
    PyMem_Free(cb->offsets.data);
    PyMem_Free(cb->data.data);
    Py_TYPE(cb)->tp_free((PyObject *)cb);
}

/* move_to(values): set each row the buffer holds into the list (padded with None; a row the list already
 * holds a value for is an error), and empty the buffer. */
static PyObject *cb_move_to(ColumnBuffer *cb, PyObject *values) {
    if (!PyList_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "move_to(values: list)");
        return NULL;
    }
    for (Py_ssize_t r = 0; r < cb->rows; r++) {
        if (!cb_valid(cb, r)) {
            continue;
        }
        if (PyList_GET_SIZE(values) > r && PyList_GET_ITEM(values, r) != Py_None) {
            PyErr_Format(PyExc_RuntimeError, "row %zd has a value in both the list and the buffer", r);
            return NULL;
        }
        PyObject *value = cb_value(cb, r);
        if (value == NULL || pad_nones(values, r + 1) < 0) {
            Py_XDECREF(value);
            return NULL;
        }
        PyList_SetItem(values, r, value); /* steals value; drops the None */
    }
    cb_truncate(cb, 0);
    Py_RETURN_NONE;
}

static PyObject *cb_truncate_method(ColumnBuffer *cb, PyObject *arg) {
    Py_ssize_t row = PyLong_AsSsize_t(arg);
    if (row == -1 && PyErr_Occurred()) {
        return NULL;
    }
    cb_truncate(cb, row);
    Py_RETURN_NONE;
}

static PyObject *cb_rows(ColumnBuffer *cb, void *closure) {
    return PyLong_FromSsize_t(cb->rows);
}

static PyMethodDef cb_methods[] = {
    {"move_to", (PyCFunction)cb_move_to, METH_O, "move_to(values): move the buffered rows into the list"},
    {"truncate", (PyCFunction)cb_truncate_method, METH_O, "truncate(row): forget rows from row on"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef cb_getset[] = {
    {"rows", (getter)cb_rows, NULL, "rows covered (a value or null)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ColumnBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "thermocline.sources.dynamodb_streams._speedups.ColumnBuffer",
    .tp_basicsize = sizeof(ColumnBuffer),
    .tp_dealloc = (destructor)cb_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ColumnBuffer(storage): one column's values staged in C, as Arrow buffers",
    .tp_methods = cb_methods,
    .tp_getset = cb_getset,
    .tp_new = cb_new,
};
