/* Staging one item image into its table's columns (mirrors the fast paths of staging.stage_record), and the stage_row entry point. Included once by _speedups.c (one translation unit), after its includes and defines. */
#ifndef THERMOCLINE_STAGING_H
#define THERMOCLINE_STAGING_H

/* ------------------------------------------------------------------------------------------------------
 * Staging one item image (mirrors the fast paths of staging.stage_record)
 */

/* What a plan entry's C spec (values.PlanEntry, last field) says the column takes without converting. */
enum { C_OTHER, C_VARCHAR, C_FIXED, C_JSON_NUMBER, C_SUPER, C_BOOLEAN, C_VARBYTE };

/* Plain numbers that certainly fit: -?(0|[1-9][0-9]{0,int_digits-1})(\.[0-9]{1,scale})?, the whole part
 * "0" only when int_digits is 0 (values._decimal_pattern; BIGINT is 18 digits, scale 0). */
static int fits_fixed(const char *p, Py_ssize_t n, long int_digits, long scale) {
    NumberShape shape;
    return scan_number(p, n, &shape) && !shape.exponent && shape.whole <= int_digits && shape.fraction <= scale;
}

/* Length in UTF-8 bytes of an exact str, or -1 when it holds a lone surrogate (not valid Unicode). CPython
 * encodes and keeps the UTF-8 of a non-ASCII str, which the Arrow build then copies (arrow_column). */
static Py_ssize_t utf8_length(PyObject *s) {
    if (PyUnicode_IS_ASCII(s)) {
        return PyUnicode_GET_LENGTH(s);
    }
    Py_ssize_t size;
    if (PyUnicode_AsUTF8AndSize(s, &size) == NULL) {
        PyErr_Clear();
        return -1;
    }
    return size;
}

/* The UTF-8 bytes of an exact str (CPython's own encoder; the bytes are kept with the str, as pa.array
 * keeps them), or NULL with no error set when it is not valid Unicode (a lone surrogate). */
static const char *utf8_of(PyObject *s, Py_ssize_t *size) {
    if (PyUnicode_IS_ASCII(s)) {
        *size = PyUnicode_GET_LENGTH(s);
        return (const char *)PyUnicode_1BYTE_DATA(s);
    }
    const char *p = PyUnicode_AsUTF8AndSize(s, size);
    if (p == NULL) {
        PyErr_Clear();
    }
    return p;
}

/* Canonical base64 text → bytes (see base64_length), or NULL with no error set when not canonical. */
static PyObject *base64_bytes(PyObject *s) {
    Py_ssize_t n;
    const char *p = ascii_text(s, &n);
    Py_ssize_t size = p == NULL ? -1 : base64_length(p, n);
    if (size < 0) {
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i += 4) {
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
            int d = B64[(unsigned char)p[i + k]];
            v = (v << 6) | (unsigned)(d ? d - 1 : 0);
        }
        if (w < size) o[w++] = (unsigned char)(v >> 16);
        if (w < size) o[w++] = (unsigned char)(v >> 8);
        if (w < size) o[w++] = (unsigned char)v;
    }
    return out;
}

#include "_column_buffer.h"

/* The three small ints of a plan entry's C spec. */
static int read_spec(PyObject *entry, long *code, long *a, long *b) {
    PyObject *spec = PyTuple_GET_ITEM(entry, 5);
    if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) != 3) {
        return -1;
    }
    *code = PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    *a = PyLong_AsLong(PyTuple_GET_ITEM(spec, 1));
    *b = PyLong_AsLong(PyTuple_GET_ITEM(spec, 2));
    return PyErr_Occurred() ? -1 : 0;
}

/* Values a record keeps in _overflow instead of their column (staging.stage_record's _Overflow case), when
 * decode_records stages it: the _Overflow class and values._widen from its state, the primary key columns'
 * lists of the table, and the row's _overflow JSON object as it is built. */
typedef struct {
    PyObject *overflow_class;
    PyObject *widen;
    PyObject *keys;
    Buf text;
    Py_ssize_t entries;
    /* fast_loop's new_column(table, attribute, tag, value) and settle(table, staged), the record's table, and
     * how many columns the record recorded through new_column. */
    PyObject *new_column, *settle, *table;
    Py_ssize_t added;
} Overflow;

/* 1 when the number p[0..n) (JSON syntax) certainly does not fit a DECIMAL with `whole` digits before the
 * point and `scale` after it, written out exactly as lake.types.number_shape reads it (leading zeros and
 * trailing fractional zeros do not count, an exponent moves the point; zero fits every DECIMAL); 0 when it
 * fits or is not decided here. */
static int exceeds_decimal(const char *p, Py_ssize_t n, long whole, long scale) {
    NumberShape shape;
    if (!scan_number(p, n, &shape)) {
        return 0;
    }
    const char *q = p + (p[0] == '-');
    Py_ssize_t int_len = shape.whole ? shape.whole : 1, frac = shape.fraction;
    /* The mantissa's digits: q[0..int_len), then q[int_len + 1 ..) when there is a fraction. */
    Py_ssize_t total = int_len + frac, first = -1, last = -1;
    for (Py_ssize_t k = 0; k < total; k++) {
        char d = k < int_len ? q[k] : q[k + 1];
        if (d != '0') {
            last = k;
            first = first < 0 ? k : first;
        }
    }
    if (first < 0) {
        return 0; /* zero */
    }
    long long exponent = 0;
    if (shape.exponent) {
        const char *e = q + int_len + (frac ? frac + 1 : 0) + 1, *end = p + n;
        int negative = *e == '-';
        e += *e == '-' || *e == '+';
        if (end - e > 15) {
            return 0; /* an exponent past what Python's Decimal reads (the reference rejects the record) */
        }
        for (; e < end; e++) {
            exponent = exponent * 10 + (*e - '0');
        }
        exponent = negative ? -exponent : exponent;
    }
    /* value = digits[first..total) * 10^(exponent - frac); trailing zeros leave while the power is negative. */
    long long power = exponent - frac, digits = total - first, zeros = total - 1 - last;
    long long dropped = power < 0 ? (zeros < -power ? zeros : -power) : 0;
    digits -= dropped;
    power += dropped;
    long long int_digits = power >= 0 ? digits + power : (digits + power > 0 ? digits + power : 0);
    long long frac_digits = power >= 0 ? 0 : -power;
    return int_digits > whole || frac_digits > scale;
}

/* A number its DECIMAL column cannot hold goes to the row's _overflow as its text, as values._conv_decimal
 * raises _Overflow and staging.stage_record keeps it (a DECIMAL never widens: values._widen), without
 * calling the converter: 1 added; 0 not decided here, nothing changed (a key column, whose record is
 * quarantined; a BIGINT, which may widen). */
static int decimal_overflow(Overflow *ov, PyObject *entry, PyObject *attribute, PyObject *value) {
    PyObject *values = PyTuple_GET_ITEM(entry, 1);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ov->keys); k++) {
        if (PyTuple_GET_ITEM(ov->keys, k) == values) {
            return 0;
        }
    }
    PyObject *type = PyObject_GetAttrString(PyTuple_GET_ITEM(entry, 0), "type");
    PyObject *kind = type == NULL ? NULL : PyObject_GetAttrString(type, "kind");
    int decimal = kind != NULL && PyUnicode_CheckExact(kind) && PyUnicode_CompareWithASCIIString(kind, "DECIMAL") == 0;
    Py_XDECREF(kind);
    Py_XDECREF(type);
    PyErr_Clear();
    Py_ssize_t start = ov->text.len;
    if (!decimal || buf_char(&ov->text, ov->entries ? ',' : '{') < 0 || put_string(&ov->text, attribute) != OK ||
        buf_char(&ov->text, ':') < 0 || put_string(&ov->text, value) != OK) {
        ov->text.len = start;
        PyErr_Clear();
        return 0;
    }
    ov->entries++;
    return 1;
}

/* One attribute's converted value, as staging.stage_record computes it; NULL (with or without an error set)
 * means "fall back": the caller clears any error (an overflowing value, a widening column, a malformed one
 * all raise in the converter) and leaves the record to Python; NULL with *overflowed set: the value went to
 * the row's _overflow (decimal_overflow, only when decode_records stages: `ov` not NULL). */
static PyObject *stage_value(PyObject *entry, PyObject *tag, PyObject *value, Py_ssize_t spill, Overflow *ov,
                             PyObject *attribute, int *overflowed) {
    long code, a, b;
    if (read_spec(entry, &code, &a, &b) < 0) {
        return NULL;
    }
    int t = tag_code(tag);
    if (t == T_NULL) {
        return Py_NewRef(Py_None); /* every converter: NULL → no value */
    }
    Py_ssize_t n;
    const char *p;
    switch (code) {
    case C_VARCHAR:
        if (t == T_S && PyUnicode_CheckExact(value)) {
            Py_ssize_t length = utf8_length(value);
            if (length >= 0 && length <= a) {
                return Py_NewRef(value);
            }
        }
        break;
    case C_FIXED:
        if (t == T_N && (p = ascii_text(value, &n)) != NULL) {
            if (fits_fixed(p, n, a, b)) {
                return Py_NewRef(value);
            }
            if (ov != NULL && exceeds_decimal(p, n, a, b) && decimal_overflow(ov, entry, attribute, value)) {
                *overflowed = 1;
                return NULL;
            }
        }
        break;
    case C_JSON_NUMBER:
        if (t == T_N && (p = ascii_text(value, &n)) != NULL && is_json_number(p, n)) {
            return Py_NewRef(value);
        }
        break;
    case C_SUPER: {
        /* Never the converter: a SUPER value larger than spill goes to _overflow, which Python decides. */
        Buf buf = {NULL, 0, 0, 0};
        int rc = put_value(&buf, tag, value, 0);
        PyObject *text = NULL;
        if (rc == OK && (spill < 0 || buf.len <= spill)) {
            text = buf_text(&buf);
        }
        PyMem_Free(buf.data);
        return text;
    }
    case C_BOOLEAN:
        if (t == T_BOOL && (value == Py_True || value == Py_False)) {
            return Py_NewRef(value);
        }
        break;
    case C_VARBYTE:
        if (t == T_B) {
            PyObject *data = base64_bytes(value);
            if (data != NULL && PyBytes_GET_SIZE(data) <= a) {
                return data;
            }
            Py_XDECREF(data);
            return NULL;
        }
        break;
    default:
        break;
    }
    /* Anything else: the column's converter, which is pure (it raises for what does not simply fit). */
    PyObject *args[3] = {PyTuple_GET_ITEM(entry, 0), tag, value};
    return PyObject_Vectorcall(PyTuple_GET_ITEM(entry, 2), args, 3, NULL);
}

/* Tuples of 2**k Nones (k < NONE_RUNS), made at import: pad_nones grows a list by them. */
#define NONE_RUNS 13
static PyObject *NONES[NONE_RUNS];

/* Pad a column's list with None up to `row` entries (the rows before `row` that have no value for it), as
 * the Python path's extend([None] * gap) does. A sparse column of a wide table (default routing of a
 * single-table design) is padded for most rows: within the list's capacity the Nones are written directly
 * (as list.extend does), and a list that must grow takes a run of them in one resize. */
static int pad_nones(PyObject *values, Py_ssize_t row) {
    PyListObject *list = (PyListObject *)values;
    Py_ssize_t size = PyList_GET_SIZE(values);
    while (size < row) {
        if (list->allocated >= row) {
            for (Py_ssize_t i = size; i < row; i++) {
                list->ob_item[i] = Py_NewRef(Py_None);
            }
            Py_SET_SIZE(list, row);
            return 0;
        }
        int k = 0;
        while (k + 1 < NONE_RUNS && ((Py_ssize_t)1 << (k + 1)) <= row - size) {
            k++;
        }
        if (PyList_SetSlice(values, size, size, NONES[k]) < 0) {
            return -1;
        }
        size = PyList_GET_SIZE(values);
    }
    return 0;
}

/* A SUPER value's JSON written straight into its column's buffer as row `row` (no str made for it): 1, or
 * 0 with nothing changed, when stage_value decides instead (NULL, another spec, a value to spill, one the
 * encoder leaves to Python). */
static int super_into(ColumnBuffer *cb, PyObject *entry, PyObject *tag, PyObject *value, Py_ssize_t row,
                      Py_ssize_t spill) {
    long code, a, b;
    if (cb->storage != CB_TEXT || row < cb->rows || read_spec(entry, &code, &a, &b) < 0 || code != C_SUPER ||
        tag_code(tag) == T_NULL || cb_cover(cb, row) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t start = cb->data.len;
    int rc = put_value(&cb->data, tag, value, 0);
    if (rc != OK || (spill >= 0 && cb->data.len - start > spill) || cb->data.len > INT32_MAX || cb_cover(cb, row + 1) < 0) {
        cb->data.len = start;
        cb_truncate(cb, row);
        PyErr_Clear();
        return 0;
    }
    ((unsigned char *)cb->validity.data)[row >> 3] |= (unsigned char)(1u << (row & 7));
    return 1;
}

/* Lists a record appended to, so that a record that falls back can be cut back out of them. */
typedef struct {
    PyObject **lists;
    Py_ssize_t n;
    Py_ssize_t cap;
} Touched;

static int touched_reserve(Touched *t, Py_ssize_t n) {
    if (n <= t->cap) {
        return 0;
    }
    PyObject **lists = PyMem_Realloc(t->lists, sizeof(PyObject *) * (size_t)n);
    if (lists == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->lists = lists;
    t->cap = n;
    return 0;
}

/* Cut every list or column buffer touched by a record back to `row` rows, so the Python path starts clean. */
static void cut_back(PyObject **lists, Py_ssize_t n, Py_ssize_t row) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *values = lists[i];
        if (Py_IS_TYPE(values, &ColumnBufferType)) {
            cb_truncate((ColumnBuffer *)values, row);
        } else if (PyList_GET_SIZE(values) > row) {
            PyList_SetSlice(values, row, PyList_GET_SIZE(values), NULL);
        }
    }
}

static PyObject *take_exception(void) {
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* The converter raised _Overflow for `attribute`: add `"attribute":json_text` to the row's _overflow, as the
 * Python path does for a value that is not a key and whose column is declared, is not numeric or cannot
 * widen for it. 1 added; 0 not (the record goes to Python); the error is cleared either way. */
static int overflow_entry(Overflow *ov, PyObject *entry, PyObject *attribute, PyObject *tag, PyObject *value) {
    PyObject *exc = take_exception();
    if (exc == NULL) {
        return 0;
    }
    PyObject *column = PyTuple_GET_ITEM(entry, 0), *values = PyTuple_GET_ITEM(entry, 1);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ov->keys); k++) {
        if (PyTuple_GET_ITEM(ov->keys, k) == values) {
            Py_DECREF(exc);
            return 0; /* a key that does not fit: the record is quarantined */
        }
    }
    PyObject *json = PyObject_GetAttrString(exc, "json_text");
    Py_DECREF(exc);
    PyObject *declared = json == NULL ? NULL : PyObject_GetAttrString(column, "declared");
    int is_declared = declared == NULL ? -1 : PyObject_IsTrue(declared);
    Py_XDECREF(declared);
    Py_ssize_t size;
    const char *text = (json != NULL && PyUnicode_CheckExact(json)) ? utf8_of(json, &size) : NULL;
    int added = 0;
    if (is_declared >= 0 && text != NULL && PyUnicode_CheckExact(attribute)) {
        int widens = 0;
        if (!is_declared && tag_code(tag) == T_N) {
            PyObject *args[2] = {column, value};
            PyObject *widened = PyObject_Vectorcall(ov->widen, args, 2, NULL);
            widens = widened != Py_None; /* a wider type (Python widens the column), or an error */
            Py_XDECREF(widened);
        }
        if (!widens && buf_char(&ov->text, ov->entries ? ',' : '{') == 0 && put_string(&ov->text, attribute) == OK &&
            buf_char(&ov->text, ':') == 0 && buf_put(&ov->text, text, size) == 0) {
            ov->text.utf8 |= !PyUnicode_IS_ASCII(json);
            ov->entries++;
            added = 1;
        }
    }
    Py_XDECREF(json);
    PyErr_Clear();
    return added;
}

/* Append the values of `image` to its table's column lists as row `row`. 1: staged; 0: nothing changed,
 * Python must stage it (a new column, a value to widen for, a malformed value...; with `ov` NULL also a
 * value to overflow). A converter is Python code, but only ever the pure converters of values.py: no list
 * or dict read here changes. */
static int stage_image(PyObject *image, PyObject *plan, Py_ssize_t row, Py_ssize_t spill, Touched *touched,
                       Overflow *ov) {
    touched->n = 0;
    if (touched_reserve(touched, PyDict_GET_SIZE(image) + 1) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *attribute, *av;
    int ok = 1;
    while (PyDict_Next(image, &pos, &attribute, &av)) {
        if (!PyDict_CheckExact(av) || PyDict_GET_SIZE(av) != 1 || !PyUnicode_CheckExact(attribute)) {
            ok = 0;
            break;
        }
        Py_ssize_t apos = 0;
        PyObject *tag, *value;
        PyDict_Next(av, &apos, &tag, &value);
        PyObject *entry = PyDict_GetItemWithError(plan, attribute);
        if (entry == NULL && !PyErr_Occurred() && ov != NULL && ov->new_column != NULL) {
            /* A column the plan lacks: the Python path's own code records it (or says no), and C goes on. */
            PyObject *call_args[4] = {ov->table, attribute, tag, value};
            PyObject *fresh = PyObject_Vectorcall(ov->new_column, call_args, 4, NULL);
            if (fresh == Py_False) {
                Py_DECREF(fresh);
                continue; /* NULL: no column until the attribute has a value */
            }
            if (fresh != NULL && fresh != Py_None) {
                ov->added++;
            }
            entry = PyDict_GetItemWithError(plan, attribute);
            if (entry != fresh) {
                entry = NULL; /* None, an error, or not this plan's entry: the Python path decides */
            }
            Py_XDECREF(fresh); /* the plan holds the entry */
        }
        if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 7 ||
            !PyList_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
            ok = 0;
            break;
        }
        PyObject *values = PyTuple_GET_ITEM(entry, 1), *buffer = PyTuple_GET_ITEM(entry, 6);
        if (buffer != Py_None && (!Py_IS_TYPE(buffer, &ColumnBufferType) || ((ColumnBuffer *)buffer)->rows > row)) {
            ok = 0;
            break;
        }
        if (ov != NULL && buffer != Py_None) {
            /* A primary key column keeps its values in the list, where the key check reads them. */
            for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ov->keys); k++) {
                if (PyTuple_GET_ITEM(ov->keys, k) == values) {
                    buffer = Py_None;
                }
            }
        }
        if (PyList_GET_SIZE(values) > row || touched->n >= touched->cap) {
            ok = 0;
            break;
        }
        /* Hold what the converter sees: it is Python code. */
        if (buffer != Py_None && super_into((ColumnBuffer *)buffer, entry, tag, value, row, spill)) {
            touched->lists[touched->n++] = buffer;
            continue;
        }
        Py_INCREF(entry);
        int overflowed = 0;
        PyObject *converted = stage_value(entry, tag, value, spill, ov, attribute, &overflowed);
        if (overflowed) {
            Py_DECREF(entry);
            continue;
        }
        if (converted == NULL && ov != NULL && PyErr_Occurred() && PyErr_ExceptionMatches(ov->overflow_class) &&
            overflow_entry(ov, entry, attribute, tag, value)) {
            Py_DECREF(entry);
            continue;
        }
        if (converted == NULL || PyList_GET_SIZE(values) > row) {
            Py_XDECREF(converted);
            Py_DECREF(entry);
            ok = 0;
            break;
        }
        if (buffer != Py_None && converted != Py_None) {
            /* Into the column's Arrow buffers while it is in cache; a value they do not hold goes to the list. */
            int put = cb_put((ColumnBuffer *)buffer, row, converted);
            if (put != 0) {
                Py_DECREF(converted);
                Py_DECREF(entry);
                if (put < 0) {
                    ok = 0;
                    break;
                }
                touched->lists[touched->n++] = buffer;
                continue;
            }
        }
        touched->lists[touched->n++] = values;
        int rc = pad_nones(values, row);
        if (rc == 0) {
            rc = PyList_Append(values, converted);
        }
        Py_DECREF(converted);
        Py_DECREF(entry); /* the plan entry holds `values` */
        if (rc != 0) {
            ok = 0;
            break;
        }
    }
    if (!ok) {
        /* Whatever went wrong, the Python path decides, and raises the precise error if there is one. */
        PyErr_Clear();
        cut_back(touched->lists, touched->n, row);
    }
    return ok;
}

/* stage_row(image, plan, row, spill) -> bool: staging.stage_record's fast path for one record. */
static PyObject *stage_row(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "stage_row(image: dict, plan: dict, row: int, spill: int | None)");
        return NULL;
    }
    Py_ssize_t row = PyLong_AsSsize_t(args[2]);
    if (row == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t spill = -1;
    if (args[3] != Py_None) {
        spill = PyLong_AsSsize_t(args[3]);
        if (spill == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    Touched touched = {NULL, 0, 0};
    int ok = stage_image(args[0], args[1], row, spill, &touched, NULL);
    PyMem_Free(touched.lists);
    return Py_NewRef(ok ? Py_True : Py_False);
}

#endif /* THERMOCLINE_STAGING_H */
